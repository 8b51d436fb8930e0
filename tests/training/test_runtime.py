"""The precision a launch runs: bf16 on a CPU without bf16 units trains in fp32 and says so (warning, train.log,
the checkpoint's runtime record); bf16-emulated insists. Both kinds of CPU are covered on any machine by
faking the probe; the command-line test takes the units away for real (oneDNN's ISA limit, on x86)."""
from __future__ import annotations

import os
import resource
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib import hardware
from radiodiff_lib.config import save_config
from radiodiff_lib.errors import ConfigWarning
from radiodiff_lib.hardware import Bf16Support
from radiodiff_lib.training import train
from radiodiff_lib.training.runtime import Runtime
from tests.helpers.configs import make_tiny_config

# A CPU without bf16 units, on this machine: PyTorch's kernels and oneDNN's limited to AVX2.
EMULATED_AVX2 = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


@pytest.fixture(scope="module")
def dataset():
    from radiodiff_lib.data import build_dataset

    return build_dataset(make_tiny_config(), "train")


def fake_cpu(monkeypatch, units: bool) -> None:
    """The probe answers for the CPU kind the test asks for, whatever this machine is."""
    support = Bf16Support(units, "AVX512" if units else "AVX2", "faked for the test")
    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: support)


def train_recording_warnings(config, folder: Path, dataset, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = train(config, results_folder=folder, dataset=dataset, progress=False, **kwargs)
    said = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning) and "bf16 units" in str(w.message)]
    return result, said


@pytest.mark.parametrize("units, runs", [(True, "bf16"), (False, "no")])
def test_bf16_runs_with_bf16_units_and_fp32_without(dataset, tmp_path: Path, monkeypatch, units, runs):
    fake_cpu(monkeypatch, units)
    result, said = train_recording_warnings(make_tiny_config(**{"trainer.mixed_precision": "bf16"}), tmp_path,
                                            dataset, max_steps=1)
    runtime = ckpt.load_checkpoint(result.last_checkpoint)["runtime"]
    assert runtime["precision"] == runs
    assert runtime["bf16_units"] is units
    assert len(said) == (0 if units else 1)


def test_the_fallback_is_said_once_at_start_and_in_train_log(dataset, tmp_path: Path, monkeypatch):
    fake_cpu(monkeypatch, units=False)
    result, said = train_recording_warnings(make_tiny_config(**{"trainer.mixed_precision": "bf16"}), tmp_path,
                                            dataset, max_steps=1)
    assert "computes in fp32" in said[0]
    assert "mixed_precision: bf16-emulated" in said[0]
    assert said[0] in result.notes
    assert said[0] in (tmp_path / "train.log").read_text()


def test_bf16_emulated_insists_without_units(dataset, tmp_path: Path, monkeypatch):
    fake_cpu(monkeypatch, units=False)
    result, said = train_recording_warnings(make_tiny_config(**{"trainer.mixed_precision": "bf16-emulated"}),
                                            tmp_path, dataset, max_steps=1)
    assert ckpt.load_checkpoint(result.last_checkpoint)["runtime"]["precision"] == "bf16"
    assert said == []


def test_radiodiff_amp_flags_meet_the_same_check(dataset, tmp_path: Path, monkeypatch):
    """RadioDiff's amp: true, fp16: false asks for bf16 too."""
    fake_cpu(monkeypatch, units=False)
    cfg = make_tiny_config(**{"trainer.amp": True, "trainer.fp16": False})
    result, said = train_recording_warnings(cfg, tmp_path, dataset, max_steps=1)
    assert ckpt.load_checkpoint(result.last_checkpoint)["runtime"]["precision"] == "no"
    assert len(said) == 1


def test_a_bf16_run_resumed_on_a_cpu_without_units_notes_the_change(dataset, tmp_path: Path, monkeypatch):
    cfg = make_tiny_config(**{"trainer.mixed_precision": "bf16"})
    fake_cpu(monkeypatch, units=True)
    train(cfg, max_steps=2, results_folder=tmp_path, dataset=dataset, progress=False)
    fake_cpu(monkeypatch, units=False)
    resumed, _ = train_recording_warnings(cfg, tmp_path, dataset, max_steps=3, resume="latest")
    note = next(n for n in resumed.notes if "computational settings" in n)
    assert "precision 'bf16' -> 'no'" in note
    assert "bf16_units True -> False" in note


def test_the_record_names_the_cpu_and_older_records_without_it_note_nothing():
    cfg = make_tiny_config()
    runtime = Runtime.resolve(cfg, hardware.torch.device("cpu"), world=1)
    record = runtime.record()
    assert record["cpu"] == hardware.cpu_model()
    assert record["cpu_capability"] == hardware.cpu_capability()
    older = {k: v for k, v in record.items() if k not in ("cpu", "cpu_capability", "bf16_units")}
    assert runtime.changes(older) == []
    assert "cpu 'another CPU'" in runtime.changes({**record, "cpu": "another CPU"})[0]


def test_a_checkpoints_record_reuses_the_probe_made_at_resolve(monkeypatch):
    fake_cpu(monkeypatch, units=True)
    runtime = Runtime.resolve(make_tiny_config(), hardware.torch.device("cpu"), world=1)

    def probe_must_not_run():
        raise AssertionError("probed again")
    monkeypatch.setattr(hardware, "cpu_bf16_support", probe_must_not_run)
    assert runtime.record()["bf16_units"] is True


def test_cli_bf16_without_bf16_units_trains_at_fp32_speed_and_says_so(tmp_path: Path):
    """On this machine with oneDNN limited to AVX2 (no bf16 kernels): `radiodiff train` with bf16 says so in one
    line and trains 10 steps in fp32 (about 6 CPU seconds with start-up; emulated bf16 takes about 50)."""
    env = {**os.environ, **EMULATED_AVX2, "OMP_NUM_THREADS": "1"}
    probe = subprocess.run([sys.executable, "-c", "from radiodiff_lib.hardware import cpu_bf16_support as p; "
                            "print(p().units)"], env=env, capture_output=True, text=True, timeout=120)
    if probe.stdout.strip() != "False":
        pytest.skip(f"the ISA limit leaves bf16 units here (not an x86 CPU?): {probe.stdout.strip()}")
    cfg = save_config(make_tiny_config(**{
        "trainer.mixed_precision": "bf16", "model.ddconfig.resolution": [64, 64], "data.image_size": 64,
        "trainer.train_num_steps": 10, "trainer.save_and_sample_every": 10, "model.lossconfig.disc_start": 100}),
        tmp_path / "bf16.yaml")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [sys.executable, "-m", "radiodiff_lib.cli", "train", "--config", str(cfg), "--results-folder",
               str(tmp_path / "run"), "--no-progress"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert proc.returncode == 0, proc.stderr[-3000:]
    said = [line for line in proc.stderr.splitlines() if "bf16 units" in line]
    assert len(said) == 1
    assert said[0].startswith("radiodiff: warning: mixed_precision bf16 asked for")
    assert "AVX2, no bf16 units" in said[0]
    assert ckpt.load_checkpoint(tmp_path / "run" / "model-1.pt")["runtime"]["precision"] == "no"
    assert cpu_seconds < 30
