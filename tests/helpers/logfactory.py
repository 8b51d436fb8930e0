"""Write RadioDiff-style and workbench-style training logs for tests (any test may import this).

``write_radiodiff_log`` writes a ``train_vae.py`` text log exactly as RadioDiff's logger does
describes (asctime prefix, config dict repr first, generator + discriminator lines, values with
``{:.5f}`` and a trailing ``", "``) and returns the rows a correct reader must recover, with every
value as the float of the printed text. ``write_workbench_folder`` writes a trainer results folder
(``metrics.jsonl`` + ``train.log``, as ``training.run_log`` writes them).
"""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

GEN_KEYS = ["train/total_loss", "train/logvar", "train/kl_loss", "train/nll_loss", "train/rec_loss",
            "train/d_weight", "train/disc_factor", "train/g_loss"]
DISC_KEYS = ["train/disc_loss", "train/logits_real", "train/logits_fake"]
START = datetime(2025, 3, 2, 9, 14, 5, 311000)


ABOVE_INT64 = "99999999999999999999"  # a number above int64's 9223372036854775807: not a step


def radiodiff_config(disc_start: int = 50001, train_num_steps: int = 150000, lr: float = 5e-6,
                     gradient_accumulate_every: int = 2, save_every: int = 5000, log_freq: int = 100,
                     disc_weight: float = 0.5, kl_weight: float = 1e-6) -> dict:
    """A config dict in RadioDiff's layout (what its first log line prints)."""
    return {
        "model": {"embed_dim": 3, "lossconfig": {"disc_start": disc_start, "kl_weight": kl_weight,
                                                  "disc_weight": disc_weight, "disc_in_channels": 1},
                  "ddconfig": {"double_z": True, "z_channels": 3, "resolution": [320, 320], "in_channels": 1,
                               "out_ch": 1, "ch": 128, "ch_mult": [1, 2, 4], "num_res_blocks": 2,
                               "attn_resolutions": [], "dropout": 0.0}, "ckpt_path": None},
        "data": {"name": "radio", "batch_size": 2},
        "trainer": {"gradient_accumulate_every": gradient_accumulate_every, "lr": lr, "min_lr": lr / 10,
                    "train_num_steps": train_num_steps, "save_and_sample_every": save_every,
                    "log_freq": log_freq, "results_folder": "./radiodiff_Vae", "amp": False, "fp16": False},
    }


def default_values(step: int, disc_start: int, lr: float = 5e-6, kl_weight: float = 1e-6,
                   disc_weight: float = 0.5, train_num_steps: int = 150000) -> tuple[dict, dict]:
    """Plausible (generator, discriminator) values of a RadioDiff step: saturated d_weight, g_loss < 0.

    The LR follows RadioDiff's schedule after the step, so 5e-6 prints as 0.00000 with {:.5f}.
    """
    lr = lr * max((1 - (step + 1) / train_num_steps) ** 0.95, 0.1)
    rec = 0.02 + 0.06 * math.exp(-step / 40000.0)
    nll = rec * 20000.0
    kl = 60000.0 + 0.5 * step
    factor = 1.0 if step >= disc_start else 0.0
    g = -0.4 + 0.001 * ((step // 100) % 7)
    d_weight = 1e4 * disc_weight
    total = nll + kl_weight * kl + d_weight * factor * g
    gen = {"train/total_loss": total, "train/logvar": 0.0, "train/kl_loss": kl, "train/nll_loss": nll,
           "train/rec_loss": rec, "train/d_weight": d_weight, "train/disc_factor": factor,
           "train/g_loss": g, "lr": lr}
    disc = {"train/disc_loss": factor * (1.0 - 0.0001 * ((step // 100) % 5)),
            "train/logits_real": -0.01211 + 0.00001 * (step % 1000), "train/logits_fake": -0.01304, "lr": lr}
    return gen, disc


def fmt_value(value: float, fmt: str = "{:.5f}") -> str:
    """A value as the log prints it (Python formats nan/inf as 'nan', 'inf', '-inf')."""
    return fmt.format(value)


def step_line(step: int, total: int, values: dict, when: datetime | None, fmt: str = "{:.5f}") -> str:
    """One ``[Train Step]`` line (no newline), with the trailing ``", "``."""
    body = "".join(f"{k}: {fmt_value(v, fmt)}, " for k, v in values.items())
    prefix = "" if when is None else asctime(when) + " "
    return f"{prefix}[Train Step] {step}/{total}: {body}"


def asctime(when: datetime) -> str:
    """Python logging's default asctime: ``2025-03-02 09:14:05,311``."""
    return when.strftime("%Y-%m-%d %H:%M:%S") + f",{when.microsecond // 1000:03d}"


@dataclass
class LogSpec:
    """What was written and what a correct reader must recover from it."""

    path: Path
    config: dict | None
    rows: list[dict] = field(default_factory=list)  # {"step", "line", "time", <metric>: float}
    lines: list[str] = field(default_factory=list)
    foreign: list[int] = field(default_factory=list)  # 1-based numbers of lines a reader must skip
    cut_line: int | None = None  # 1-based number of a cut-off last line

    @property
    def steps(self) -> list[int]:
        return [r["step"] for r in self.rows]


def write_radiodiff_log(path, steps: Iterable[int], *, config: dict | None = "default",
                        disc_start: int = 50001, gen_only: bool = False, start_time: datetime = START,
                        seconds_per_step: float = 0.5, total_steps: int = 150000,
                        extra_lines: dict[int, list[str]] | None = None,
                        values: Callable[[int], tuple[dict, dict | None]] | None = None,
                        fmt: str = "{:.5f}", cut_last: int | None = None, append: bool = False,
                        raw_tail: bytes = b"") -> LogSpec:
    """Write a RadioDiff ``train_vae.py`` log; returns the expected rows.

    ``steps``: the logged steps; ``gen_only``: no discriminator line (gradient_accumulate_every 1);
    ``extra_lines``: {k: lines} inserted before the k-th step row (k == len(steps): at the end);
    ``values(step) -> (gen, disc|None)`` overrides the default numbers; ``cut_last``: cut the last
    written line to that many characters and leave it without newline (it is not expected back);
    ``raw_tail``: bytes appended as they are (e.g. not UTF-8).
    """
    path = Path(path)
    if config == "default":
        config = radiodiff_config(disc_start=disc_start, train_num_steps=total_steps,
                                  gradient_accumulate_every=1 if gen_only else 2)
    spec = LogSpec(path=path, config=config)
    lines: list[str] = []
    if config is not None:
        lines.append(f"{asctime(start_time)} {config!r}")
    extra_lines = extra_lines or {}
    steps = list(steps)
    for k, step in enumerate(steps + [None]):
        for extra in extra_lines.get(k, []):
            lines.append(extra)
            spec.foreign.append(len(lines))
        if step is None:
            break
        when = start_time + timedelta(seconds=1 + seconds_per_step * step)
        gen, disc = values(step) if values else default_values(step, disc_start)
        row = {"step": step, "line": len(lines) + 1, "time": when.replace(microsecond=when.microsecond // 1000 * 1000)}
        lines.append(step_line(step, total_steps, gen, when, fmt))
        row.update({k2: float(fmt_value(v, fmt)) for k2, v in gen.items()})
        if disc is not None and not gen_only:
            lines.append(step_line(step, total_steps, disc, when + timedelta(milliseconds=268), fmt))
            for k2, v in disc.items():
                row["lr_disc" if k2 in gen else k2] = float(fmt_value(v, fmt))
        spec.rows.append(row)
    text = "\n".join(lines) + "\n"
    if cut_last is not None:
        last = lines[-1]
        text = "\n".join(lines[:-1]) + "\n" + last[:cut_last]
        spec.cut_line = len(lines)
        if spec.rows and spec.rows[-1]["line"] == len(lines):
            spec.rows.pop()
        elif spec.rows and "train/disc_loss" in spec.rows[-1] and spec.rows[-1]["line"] == len(lines) - 1:
            for k2 in DISC_KEYS + ["lr_disc"]:
                spec.rows[-1].pop(k2, None)
    spec.lines = lines
    with open(path, "ab" if append else "wb") as fh:
        fh.write(text.encode("utf-8") + raw_tail)
    return spec


def write_workbench_folder(folder, launches: list[dict], *, with_train_log: bool = True,
                           t0: float = 1_750_000_000.0) -> Path:
    """A trainer results folder: ``metrics.jsonl`` (+ ``train.log``) as ``training.run_log`` writes them.

    Each launch dict: ``steps`` (list), ``config`` (dict), optional ``rewind_to`` (writes a rewind
    record), ``values(step) -> dict`` (default: ``default_values`` generator + discriminator keys),
    ``phase(step) -> str``, ``t`` (start time offset in seconds).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    log_lines: list[str] = []
    for n, launch in enumerate(launches):
        t = t0 + launch.get("t", 10_000.0 * n)
        steps = list(launch["steps"])
        config = launch.get("config") or radiodiff_config()
        start = launch.get("start_step", steps[0] if steps else 0)
        records.append({"kind": "launch", "launch": n, "time": t, "start_step": start,
                        "resumed_from": launch.get("resumed_from"), "config": config, "notes": []})
        log_lines.append(f"{asctime(datetime.fromtimestamp(t))} {config!r}")
        if launch.get("rewind_to") is not None:
            records.append({"kind": "rewind", "launch": n, "time": t, "to_step": launch["rewind_to"]})
        disc_start = config["model"]["lossconfig"]["disc_start"]
        for step in steps:
            ts = t + 1.0 + step * 0.01
            if launch.get("values"):
                vals = dict(launch["values"](step))
            else:
                gen, disc = default_values(step, disc_start)
                vals = {**gen, **{k: v for k, v in disc.items() if k != "lr"}}
            phase = launch["phase"](step) if launch.get("phase") else ("gan" if step >= disc_start else "vae")
            records.append({"kind": "step", "launch": n, "time": ts, "step": step, "phase": phase, **vals})
            when = datetime.fromtimestamp(ts)
            log_lines.append(step_line(step, config["trainer"]["train_num_steps"], vals, when, "{:.8g}"))
    with open(folder / "metrics.jsonl", "w") as fh:
        for rec in records:
            fh.write(json.dumps(rec) + "\n")
    if with_train_log:
        (folder / "train.log").write_text("\n".join(log_lines) + "\n")
    return folder


def noisy_values(step: int) -> tuple[dict, dict]:
    """logfactory's values with reproducible noise on the reconstruction (so smoothing visibly matters)."""
    gen, disc = default_values(step, 2501, train_num_steps=10000)
    gen["train/rec_loss"] *= 1 + 0.2 * random.Random(step).gauss(0, 1)
    gen["train/nll_loss"] = gen["train/rec_loss"] * 20000.0
    gen["train/total_loss"] = (gen["train/nll_loss"] + 1e-6 * gen["train/kl_loss"]
                               + gen["train/d_weight"] * gen["train/disc_factor"] * gen["train/g_loss"])
    return gen, disc


def two_launch_log(folder: Path) -> tuple[list[Path], int]:
    """A RadioDiff run in two files: steps 0..3000 every 100, then a resume at 2000 up to 4900."""
    folder.mkdir(parents=True, exist_ok=True)
    a = folder / "2025-03-02-09-14_train_vae.log"
    b = folder / "2025-03-03-20-00_train_vae.log"
    write_radiodiff_log(a, range(0, 3100, 100), disc_start=2501, total_steps=10000, values=noisy_values)
    write_radiodiff_log(b, range(2000, 5000, 100), disc_start=2501, total_steps=10000, values=noisy_values,
                        start_time=START + timedelta(hours=40))
    return [a, b], 50  # unique logged steps 0..4900
