"""Trainer: exact resume, phases, schedule, logs, fallbacks, bad runs (tiny CPU config, synthetic maps); crash
safety in real processes: SIGTERM stops cleanly, SIGKILL at random moments (and in the middle of a checkpoint
write) followed by ``--resume latest`` ends in the straight run's state."""
from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.config import save_config
from radiodiff_lib.errors import CheckpointError, TrainingError
from radiodiff_lib.training import train
from radiodiff_lib.training.state import lr_at
from tests.helpers.configs import make_tiny_config
from tests.helpers.training import assert_checkpoints_equal, current_steps, metric_values


@pytest.fixture(scope="module")
def dataset():
    from radiodiff_lib.data import build_dataset

    return build_dataset(make_tiny_config(), "train")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, dataset):
    """8 steps straight through (disc_start 4, checkpoints every 3, log every step)."""
    folder = tmp_path_factory.mktemp("straight")
    result = train(make_tiny_config(), results_folder=folder, dataset=dataset, progress=False)
    return folder, result


def test_straight_run_layout_and_logs(straight):
    folder, result = straight
    assert result.step == 8
    assert not result.interrupted
    assert result.last_checkpoint.name == "model-2-step8.pt"
    names = {p.name for p in folder.iterdir()}
    assert {"metrics.jsonl", "train.log", "config.yaml", "model-1.pt", "model-2.pt", "model-2-step8.pt"} <= names
    assert any(n.startswith("events.out.tfevents.") for n in names)
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    launch = records[0]
    assert launch["kind"] == "launch"
    assert launch["launch"] == 0
    assert launch["start_step"] == 0
    assert launch["resumed_from"] is None
    assert launch["config"]["model"]["ddconfig"]["ch"] == 32
    assert any("gradient_accumulate_every" in n for n in launch["notes"])
    assert any("min_lr" in n for n in launch["notes"])
    steps = [r for r in records if r["kind"] == "step"]
    assert [r["step"] for r in steps] == list(range(8))
    assert [r["phase"] for r in steps] == ["vae"] * 4 + ["gan"] * 4
    cfg = make_tiny_config()
    for r in steps:  # the LR is the pure function of the step, with min_lr as a true floor
        assert r["lr"] == pytest.approx(lr_at(r["step"], cfg.trainer.lr, cfg.trainer.min_lr, 8), rel=1e-12)
        assert math.isfinite(r["train/total_loss"])
    assert "train/g_loss" not in steps[3]
    assert "train/disc_loss" not in steps[3]
    assert {"train/g_loss", "train/d_weight", "train/disc_loss", "train/logits_real", "train/logits_fake"} <= set(steps[4])
    # total = nll + kl_weight * kl + d_weight * disc_factor * g_loss, as logged
    r = steps[5]
    assert r["train/total_loss"] == pytest.approx(r["train/nll_loss"] + 1e-6 * r["train/kl_loss"]
                                                  + r["train/d_weight"] * r["train/g_loss"], rel=1e-5)
    lines = (folder / "train.log").read_text().splitlines()
    assert lines[0].split(" ", 2)[2].startswith("{'model': {")
    step_lines = [ln for ln in lines if "[Train Step]" in ln]
    assert len(step_lines) == 4 + 2 * 4  # one line per step, two in the GAN phase
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[Train Step\] 0/8: train/total_loss: [-0-9.e+]+, .*lr: 0.0002, $",
                    step_lines[0])
    assert step_lines[-1].split("[Train Step] ")[1].startswith("7/8: train/disc_loss: ")
    lr7 = lr_at(7, cfg.trainer.lr, cfg.trainer.min_lr, 8)
    assert step_lines[-1].endswith(f"lr: {lr7:.8g}, ")


def test_lr_schedule_hand_values():
    assert lr_at(0, 5e-6, 5e-7, 100) == 5e-6
    assert lr_at(50, 5e-6, 5e-7, 100) == pytest.approx(5e-6 * 0.5 ** 0.95)
    assert lr_at(99, 5e-6, 5e-7, 100) == pytest.approx(5e-7)  # 5e-6 * 0.01**0.95 = 6.3e-8 < floor
    assert lr_at(150, 5e-6, 5e-7, 100) == pytest.approx(5e-7)  # past the end: the floor, no complex power


def test_stop_and_resume_is_exact(straight, dataset, tmp_path: Path):
    folder, _ = straight
    first = train(make_tiny_config(), max_steps=2, results_folder=tmp_path, dataset=dataset, progress=False)
    assert first.last_checkpoint.name == "model-0-step2.pt"
    assert first.step == 2
    second = train(make_tiny_config(), resume="latest", results_folder=tmp_path, dataset=dataset, progress=False)
    assert second.step == 8
    assert second.resumed_from.endswith("model-0-step2.pt")
    assert second.launch == 1
    assert assert_checkpoints_equal(folder / "model-2-step8.pt", tmp_path / "model-2-step8.pt") > 100
    assert metric_values(current_steps(tmp_path)) == metric_values(current_steps(folder))
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records if r["kind"] != "step"] == ["launch", "launch"]  # nothing to rewind
    assert records[3]["kind"] == "launch"
    assert records[3]["start_step"] == 2


def test_crash_after_checkpoint_rewinds_and_corrupt_newest_falls_back(straight, dataset, tmp_path: Path):
    folder, _ = straight
    train(make_tiny_config(), max_steps=7, results_folder=tmp_path, dataset=dataset, progress=False)
    newest = tmp_path / "model-2-step7.pt"
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) - 4096])  # truncated newest: resume must use model-2.pt (step 6)
    with pytest.warns(UserWarning, match="model-2-step7.pt"):
        result = train(make_tiny_config(), resume="latest", results_folder=tmp_path, dataset=dataset, progress=False)
    assert result.resumed_from.endswith("model-2.pt")
    assert any("model-2-step7.pt" in n for n in result.notes)
    assert_checkpoints_equal(folder / "model-2-step8.pt", tmp_path / "model-2-step8.pt")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    rewinds = [r for r in records if r["kind"] == "rewind"]
    assert rewinds == [{"kind": "rewind", "launch": 1, "time": rewinds[0]["time"], "to_step": 6}]
    assert [r["step"] for r in records if r["kind"] == "step"] == [0, 1, 2, 3, 4, 5, 6, 6, 7]  # 6 superseded, kept
    assert metric_values(current_steps(tmp_path)) == metric_values(current_steps(folder))
    assert "[Rewind] resuming at step 6" in (tmp_path / "train.log").read_text()


def test_discriminator_trains_from_disc_start_only(dataset, tmp_path: Path):
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss

    cfg = make_tiny_config()
    model, loss = build_model(cfg), build_loss(cfg)
    d0 = {k: v.clone() for k, v in loss.discriminator.state_dict().items()}
    enc0 = model.encoder.conv_in.weight.detach().clone()
    train(cfg, max_steps=4, results_folder=tmp_path, dataset=dataset, model=model, loss=loss, progress=False)
    assert all(torch.equal(v, d0[k]) for k, v in loss.discriminator.state_dict().items())  # steps 0..3: untouched
    assert not torch.equal(model.encoder.conv_in.weight, enc0)
    train(cfg, max_steps=5, resume="latest", results_folder=tmp_path, dataset=dataset, model=model, loss=loss, progress=False)
    changed = [k for k, v in loss.discriminator.state_dict().items() if not torch.equal(v, d0[k])]
    assert "main.0.weight" in changed
    assert len(changed) >= len(d0) - 1
    assert loss.logvar.item() == 0.0  # not optimised, as in latent diffusion


def test_accumulation_and_two_workers_match_zero_workers(dataset, tmp_path: Path):
    over = {"trainer.gradient_accumulate_every": 2, "trainer.train_num_steps": 5, "model.lossconfig.disc_start": 2}
    a = train(make_tiny_config(**over), max_steps=3, results_folder=tmp_path / "w0", dataset=dataset, progress=False)
    b = train(make_tiny_config(**over, **{"data.num_workers": 2}), max_steps=3, results_folder=tmp_path / "w2",
              dataset=dataset, progress=False)
    assert_checkpoints_equal(a.last_checkpoint, b.last_checkpoint, ignore=("/config/data/num_workers",))
    obj = ckpt.load_checkpoint(a.last_checkpoint)
    assert obj["data_state"]["position"] == 3 * 2 * 2  # steps * micro-batches * batch size


def test_resume_errors_name_what_is_wrong(straight, dataset, tmp_path: Path):
    folder, _ = straight
    with pytest.raises(CheckpointError, match=r"model-7.pt does not exist.*model-1.pt, model-2.pt, model-2-step8.pt"):
        train(make_tiny_config(), resume=7, results_folder=folder, dataset=dataset, progress=False)
    with pytest.raises(CheckpointError, match=r"another architecture.*encoder.conv_in.weight"):
        train(make_tiny_config(**{"model.ddconfig.ch": 64}), resume="latest", results_folder=folder, dataset=dataset,
              progress=False)
    with pytest.raises(TrainingError, match="already holds checkpoints"):
        train(make_tiny_config(), results_folder=folder, dataset=dataset, progress=False)


class NaNData(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.full((1, 32, 32), float("nan"))}


def test_nonfinite_loss_stops_and_leaves_checkpoint_untouched(dataset, tmp_path: Path):
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    before = (tmp_path / "model-1.pt").read_bytes()
    with pytest.raises(TrainingError, match=r"non-finite train/\w+ at step 3"):
        train(make_tiny_config(), resume="latest", results_folder=tmp_path, dataset=NaNData(), progress=False)
    assert (tmp_path / "model-1.pt").read_bytes() == before
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["model-1.pt"]
    assert "[Error] non-finite" in (tmp_path / "train.log").read_text()


def test_nonfinite_loss_can_skip_steps(tmp_path: Path):
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss

    cfg = make_tiny_config(**{"trainer.on_nonfinite": "skip", "trainer.train_num_steps": 2})
    model, loss = build_model(cfg), build_loss(cfg)
    w0 = model.decoder.conv_out.weight.detach().clone()
    result = train(cfg, results_folder=tmp_path, dataset=NaNData(), model=model, loss=loss, progress=False)
    assert result.step == 2
    assert torch.equal(model.decoder.conv_out.weight, w0)
    assert (tmp_path / "train.log").read_text().count("[Skip] non-finite") == 2
    rows = current_steps(tmp_path)  # the bad values are logged (JSON NaN), so the log reader sees them
    assert sorted(rows) == [0, 1]
    assert math.isnan(rows[0]["train/rec_loss"])


def test_longer_schedule_on_resume_is_noted(dataset, tmp_path: Path):
    train(make_tiny_config(), max_steps=1, results_folder=tmp_path, dataset=dataset, progress=False)
    result = train(make_tiny_config(**{"trainer.train_num_steps": 20}), max_steps=2, resume="latest",
                   results_folder=tmp_path, dataset=dataset, progress=True)
    assert any("LR schedule changed" in n for n in result.notes)
    rows = current_steps(tmp_path)
    cfg = make_tiny_config()
    assert rows[1]["lr"] == pytest.approx(lr_at(1, cfg.trainer.lr, cfg.trainer.min_lr, 8))  # set by step 0's scheduler


def test_resume_from_radiodiff_checkpoint_warns(dataset, tmp_path: Path):
    from radiodiff_lib.checkpoints.radiodiff import save_radiodiff_layout
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss

    cfg = make_tiny_config()
    save_radiodiff_layout(tmp_path / "model-1.pt", build_model(cfg), build_loss(cfg), step=3)
    seen = []
    result = train(cfg, resume=1, max_steps=4, results_folder=tmp_path, dataset=dataset, progress=False,
                   callbacks=[seen.append])
    assert result.step == 4
    assert any("not exact" in n for n in result.notes)
    assert [r["step"] for r in seen] == [3]
    assert seen[0]["kind"] == "step"
    launch = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert launch["start_step"] == 3
    assert any("RadioDiff checkpoint" in n for n in launch["notes"])


def test_cli_train_overrides_results_folder(tmp_path: Path, capsys):
    from radiodiff_lib.cli import main
    from radiodiff_lib.config import save_config

    cfg = save_config(make_tiny_config(**{"trainer.results_folder": str(tmp_path / "ignored")}), tmp_path / "c.yaml")
    assert main(["train", "--config", str(cfg), "--max-steps", "1", "--results-folder", str(tmp_path / "run"),
                 "--no-progress"]) == 0
    assert "training finished at step 1/1" in capsys.readouterr().out
    assert (tmp_path / "run" / "model-0-step1.pt").is_file()
    assert not (tmp_path / "ignored").exists()
    assert main(["train", "--config", str(cfg), "--resume", "9", "--results-folder", str(tmp_path / "run")]) == 2
    assert "model-0-step1.pt" in capsys.readouterr().err


def test_radiodiff_differences_are_said_once_per_run(dataset, tmp_path: Path):
    # a fresh launch says where our keys mean something else than RadioDiff's; an exact resume does not repeat it
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    train(make_tiny_config(), resume="latest", results_folder=tmp_path, dataset=dataset, progress=False)
    log = (tmp_path / "train.log").read_text()
    for phrase in ("real gradient accumulation", "floor on the learning rate itself", "clipped to max_grad_norm"):
        assert log.count(phrase) == 1, phrase
    launches = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()
                if '"kind": "launch"' in line]
    assert len(launches) == 2
    assert any("real gradient accumulation" in n for n in launches[0]["notes"])
    assert not any("real gradient accumulation" in n for n in launches[1]["notes"])


def test_cli_resume_and_inspect(tmp_path: Path, capsys):
    from radiodiff_lib.cli import main
    from radiodiff_lib.config import save_config

    cfg = save_config(make_tiny_config(**{"trainer.train_num_steps": 4}), tmp_path / "c.yaml")
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--max-steps", "2", "--results-folder", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["resume", str(run), "--no-progress"]) == 0
    assert "training finished at step 4/4" in capsys.readouterr().out
    assert main(["inspect", str(run), "--json", str(tmp_path / "ck.json")]) == 0
    table = json.loads((tmp_path / "ck.json").read_text())
    assert [r["step"] for r in table][-1] == 4
    assert {(r["format"], r["integrity"], r["resume"]) for r in table} == {("workbench", "ok", "exact")}
    assert main(["resume", str(tmp_path / "nowhere"), "--no-progress"]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_resume_with_data_workers_is_exact_and_said_so(straight, dataset, tmp_path: Path):
    folder, _ = straight
    train(make_tiny_config(), max_steps=3, results_folder=tmp_path, dataset=dataset, progress=False)
    result = train(make_tiny_config(**{"data.num_workers": 2}), resume="latest", results_folder=tmp_path,
                   dataset=dataset, progress=False)
    assert any("data.num_workers: None -> 2" in n for n in result.notes)
    assert not any("not exact" in n for n in result.notes)  # workers deliver the sampler's batches in its order
    assert_checkpoints_equal(folder / "model-2-step8.pt", tmp_path / "model-2-step8.pt",
                             ignore=("/config/data/num_workers",))


def test_a_resume_on_other_training_maps_says_so(tmp_path: Path):
    from radiodiff_lib.config import replace
    from tests.helpers.radiomapseer import write_numbered_folder

    root = write_numbered_folder(tmp_path / "RadioMapSeer", range(701), transmitters=1, size=32)
    base = replace(make_tiny_config(), **{"data.name": "radio", "data.root": str(root), "data.image_size": 32,
                                          "model.ddconfig.resolution": [32, 32]})
    folder = tmp_path / "run"
    train(replace(base, **{"data.split_protocol": "radiounet"}), max_steps=1, results_folder=folder, progress=False)
    again = train(replace(base, **{"data.split_protocol": "radiodiff"}), max_steps=2, resume="latest",
                  results_folder=folder, progress=False)
    changed = [note for note in again.notes if note.startswith("training maps changed on resume")]
    assert len(changed) == 1
    assert "radiounet protocol's 501 train maps" in changed[0]
    assert "radiodiff protocol's 601 train maps" in changed[0]


ROOT = Path(__file__).resolve().parents[2]


STEPS = 16


# Kills itself with SIGKILL halfway through writing its N-th checkpoint file.
KILL_IN_WRITE = """
import os, signal, sys, torch
n_calls = int(os.environ["KILL_AT_SAVE"])
real_save = torch.save
def save(obj, f, *a, **k):
    global n_calls
    n_calls -= 1
    if n_calls == 0:
        import io
        buf = io.BytesIO(); real_save(obj, buf, *a, **k)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2]); f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return real_save(obj, f, *a, **k)
torch.save = save
from radiodiff_lib.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _config(tmp_path: Path) -> Path:
    cfg = make_tiny_config(**{"trainer.train_num_steps": STEPS, "trainer.save_and_sample_every": 1,
                               "model.lossconfig.disc_start": 5, "trainer.keep_last": 3})
    return save_config(cfg, tmp_path / "tiny.yaml")


def _launch(args: list[str], folder: Path, env_extra: dict | None = None, script: str | None = None) -> subprocess.Popen:
    resume = ["--resume", "latest"] if ckpt.list_checkpoints(folder) else []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(env_extra or {})}
    head = [sys.executable, "-c", script] if script else [sys.executable, "-m", "radiodiff_lib.cli"]
    return subprocess.Popen(head + args + resume, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_step(folder: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        rows = current_steps(folder) if (folder / "metrics.jsonl").exists() else {}
        if rows and max(rows) >= step:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.stdout.read()}")
        time.sleep(0.05)
    raise AssertionError("training did not reach the step in time")


@pytest.mark.slow
def test_sigterm_then_sigkill_anywhere_then_resume_is_exact(tmp_path: Path):
    from radiodiff_lib.data import build_dataset
    from radiodiff_lib.training import train

    cfg_path = _config(tmp_path)
    args = ["train", "--config", str(cfg_path), "--no-progress"]
    straight = tmp_path / "straight"
    from radiodiff_lib.config import load_config

    cfg = load_config(cfg_path)
    train(cfg, results_folder=straight, dataset=build_dataset(cfg, "train"), progress=False)

    run = tmp_path / "run"
    run_args = args + ["--results-folder", str(run)]
    # 1. SIGTERM: finish the step, checkpoint, exit 0
    proc = _launch(run_args, run)
    _wait_for_step(run, 1, proc)
    proc.send_signal(signal.SIGTERM)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, out
    assert "training interrupted at step" in out
    stopped = ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["step"]
    assert "[Interrupted] SIGTERM" in (run / "train.log").read_text()

    # 2. SIGKILL in the middle of the second checkpoint write of the next launch
    proc = _launch(run_args, run, {"KILL_AT_SAVE": "2"}, script=KILL_IN_WRITE)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == -signal.SIGKILL, out
    assert list(run.glob(".model-*.tmp-*")), "the kill should leave a half-written temporary file"
    assert ckpt.load_checkpoint(ckpt.list_checkpoints(run)[-1])["step"] == stopped + 1  # the first save survived

    # 3. SIGKILL at random moments after training started (a launch may get far: steps take ~50 ms)
    rng = random.Random(1234)
    for _ in range(2):
        start = max(current_steps(run)) + 1
        if start >= STEPS - 1:
            break  # too little left to kill a launch in the middle of it
        proc = _launch(run_args, run)
        _wait_for_step(run, start, proc)
        time.sleep(rng.uniform(0.0, 0.6))
        proc.kill()
        proc.wait(timeout=60)
    # 4. resume to the end
    proc = _launch(run_args, run)
    out = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, out
    assert not list(run.glob(".model-*.tmp-*"))  # stale temporaries cleaned up
    final = ckpt.list_checkpoints(run)[-1]
    assert final.name == f"model-{STEPS}.pt"
    assert_checkpoints_equal(straight / final.name, final)
    assert metric_values(current_steps(run)) == metric_values(current_steps(straight))
