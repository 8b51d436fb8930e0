"""Write RadioDiff second-stage logs and TensorBoard event files for tests (any test may import this).

``write_ldm_log`` writes a ``train_cond_ldm.py`` text log as RadioDiff's second stage writes it: the
config dumped as YAML over many lines (only the first with the asctime prefix), then one step line
every ``log_freq`` steps (``loss_simple``, ``loss_vlb``, ``total_loss``, ``lr``, ``{:.5f}``, trailing
``", "``). ``write_events`` writes an ``events.out.tfevents.*`` file record by record (TFRecord framing
with real CRCs, a header record first) with wall times the test chooses, so that a test can place
an event file in the same launch as a text log.
"""
from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import yaml
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tests.helpers.logfactory import asctime, fmt_value, step_line

LDM_START = datetime(2025, 10, 15, 13, 7, 1, 537000)


def ldm_config(train_num_steps: int = 80000, lr: float = 2e-5, min_lr: float = 0.1, log_freq: int = 100,
               gradient_accumulate_every: int = 1, ema_update_after_step: int = 10000,
               scale_factor: float = 0.3, ckpt_path: str = "./radiodiff_Vae/model-30.pt") -> dict:
    """A second-stage config in RadioDiff's layout, with keys our schema does not know."""
    return {
        "data": {"name": "radio", "batch_size": 32, "simulation": "DPM", "numWorkers": 8},
        "model": {
            "model_type": "const_sde",
            "first_stage": {"embed_dim": 3, "ckpt_path": ckpt_path,
                            "lossconfig": {"disc_start": 50001, "kl_weight": 1e-6, "disc_weight": 0.5},
                            "ddconfig": {"double_z": True, "z_channels": 3, "resolution": [320, 320],
                                         "in_channels": 1, "out_ch": 1, "ch": 128, "ch_mult": [1, 2, 4],
                                         "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0}},
            "unet": {"dim": 128, "dim_mults": [1, 2, 4, 4], "cond_net": "swin", "window_sizes1": [[8, 8], [4, 4]],
                     "fix_bb": False, "cond_feature_size": [32, 128]},
            "timesteps": 1000, "sampling_timesteps": 50, "loss_type": "l2", "objective": "pred_KC",
            "scale_factor": scale_factor, "scale_by_std": True, "default_scale": True,
        },
        "trainer": {"gradient_accumulate_every": gradient_accumulate_every, "lr": lr, "min_lr": min_lr,
                    "train_num_steps": train_num_steps, "save_and_sample_every": 5000, "log_freq": log_freq,
                    "results_folder": "./radiodiff_LDM", "amp": False, "fp16": False, "resume_milestone": 0,
                    "enable_resume": False, "ema_update_after_step": ema_update_after_step,
                    "ema_update_every": 10, "test_before": True},
    }


def ldm_values(step: int, *, lr: float = 2e-5, total: int = 80000, min_lr: float = 0.1, seed: int = 0,
               level: float = 1.0, noise: float = 0.05) -> dict:
    """Plausible second-stage values: a falling noisy loss_simple, loss_vlb weighted off (0), the LR
    decaying to its floor."""
    simple = level * (0.05 + 0.5 * math.exp(-step / 8000.0)) * (1 + noise * random.Random(seed * 1_000_003 + step).gauss(0, 1))
    return {"loss_simple": simple, "loss_vlb": 0.0, "total_loss": simple,
            "lr": lr * max((1 - step / total) ** 0.96, min_lr)}


def write_ldm_log(path, steps: Iterable[int], *, config: dict | None = None, start_time: datetime = LDM_START,
                  seconds_per_step: float = 0.2, total: int | None = None,
                  values: Callable[[int], dict] | None = None, tail: list[str] | None = None,
                  yaml_config: bool = True) -> list[dict]:
    """Write a second-stage text log (YAML config dump, then step lines); return the rows as printed."""
    config = ldm_config() if config is None else config
    total = total if total is not None else config["trainer"]["train_num_steps"]
    lines = []
    if yaml_config:
        dump = yaml.safe_dump(config, sort_keys=False).rstrip("\n").split("\n")
        lines = [f"{asctime(start_time)} {dump[0]}"] + dump[1:]
    rows = []
    for step in steps:
        when = start_time + timedelta(seconds=8 + seconds_per_step * step)
        vals = values(step) if values else ldm_values(step, total=total)
        lines.append(step_line(step, total, vals, when))
        rows.append({"step": step, **{k: float(fmt_value(v)) for k, v in vals.items()}})
    lines += tail or []
    Path(path).write_text("\n".join(lines) + "\n")
    return rows


def _scalar_event(step: int, wall: float, values: dict[str, float]) -> bytes:
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=k, simple_value=v) for k, v in values.items()])
    return event_pb2.Event(wall_time=wall, step=step, summary=summary).SerializeToString()


def write_events(folder, steps: Iterable[int], values: Callable[[int], dict[str, float]], *,
                 start_time: datetime, seconds_per_step: float = 0.2, name: str = "host") -> Path:
    """An ``events.out.tfevents.*`` file: a header record at ``start_time``, then one event per step
    holding the scalars ``values(step)`` (TensorBoard tag -> value) at start + 10 s + step * seconds."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    t0 = start_time.timestamp()
    path = folder / f"events.out.tfevents.{int(t0)}.{name}"
    with open(path, "wb") as fh:
        writer = RecordWriter(fh)
        writer.write(event_pb2.Event(wall_time=t0, file_version="brain.Event:2").SerializeToString())
        for step in steps:
            writer.write(_scalar_event(step, t0 + 10.0 + seconds_per_step * step, values(step)))
    return path


def ldm_tags(values: dict) -> dict[str, float]:
    """A second-stage row's values under their TensorBoard tags (the LR as Learning_Rate)."""
    return {("Learning_Rate" if k == "lr" else k): v for k, v in values.items()}


TRACEBACK = ["Traceback (most recent call last):", '  File "train_cond_ldm.py", line 812, in <module>',
             "    main(args)", "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"]


def troubled_ldm_run(folder, total: int = 20000) -> dict:
    """A second-stage results folder: launch 1 logs steps 0..6000 (text every 100, events every step);
    launch 2 crashes at start-up (its config dump, then a traceback; its event file holds only its
    header); launch 3 resumes at step 5000 and its losses turn NaN at step 5300 (text and events).
    Returns what a reader must find."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = ldm_config(train_num_steps=total)

    def values(step):
        return ldm_values(step, total=total)

    def after_resume(step):
        v = values(step)
        return {k: (x if k == "lr" or step < 5300 else float("nan")) for k, x in v.items()}
    write_ldm_log(folder / "2025-10-15-13-07_.log", range(0, 6001, 100), config=cfg, values=values)
    write_events(folder / "tb", range(0, 6001), lambda s: ldm_tags(values(s)), start_time=LDM_START + timedelta(seconds=5),
                 name="one")
    crash_at = LDM_START + timedelta(hours=5)
    write_ldm_log(folder / "2025-10-15-18-07_.log", [], config=cfg, start_time=crash_at, tail=TRACEBACK)
    write_events(folder / "tb", [], lambda s: {}, start_time=crash_at + timedelta(seconds=5), name="two")
    resumed = LDM_START + timedelta(hours=6)
    write_ldm_log(folder / "2025-10-15-19-07_.log", range(5000, 6501, 100), config=cfg, values=after_resume,
                  start_time=resumed)
    write_events(folder / "tb", range(5000, 6501), lambda s: ldm_tags(after_resume(s)),
                 start_time=resumed + timedelta(seconds=5), name="three")
    return {"total": total, "first_nan": 5300, "resume": 5000, "crashed": folder / "2025-10-15-18-07_.log",
            "latest": 6500, "config": cfg}
