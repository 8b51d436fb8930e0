"""Every benchmark figure names the hardware it was measured on: CPU model and capability (or GPU), threads,
PyTorch version and the precision that ran, in the text output and in the JSON."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from radiodiff_lib import cli, hardware
from radiodiff_lib.config import save_config
from radiodiff_lib.errors import ConfigWarning
from radiodiff_lib.hardware import Bf16Support
from tests.helpers.configs import make_tiny_config

HARDWARE_KEYS = ("device", "cpu", "cpu_capability", "bf16_units", "threads", "torch", "precision", "measured_on")


@pytest.fixture
def tiny_path(tmp_path: Path) -> Path:
    return save_config(make_tiny_config(**{"model.lossconfig.disc_start": 1000}), tmp_path / "tiny.yaml")


def test_bench_train_text_and_json_name_the_hardware(tiny_path: Path, tmp_path: Path, capsys):
    out_json = tmp_path / "train.json"
    cli.main(["bench", "train", "--config", str(tiny_path), "--device", "cpu", "--steps", "1", "--json", str(out_json)])
    first = capsys.readouterr().out.splitlines()[0]
    data = json.loads(out_json.read_text())
    info = data["hardware"]
    assert set(HARDWARE_KEYS) <= set(info)
    assert (info["cpu"], info["threads"], info["torch"]) == (hardware.cpu_model(), 1, str(torch.__version__))
    assert info["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["precision"] == "fp32"
    assert first == f"radiodiff bench train, measured on: {info['measured_on']}"
    for part in (hardware.cpu_model(), info["cpu_capability"], "1 CPU thread", f"PyTorch {torch.__version__}", "fp32"):
        assert part in first


def test_bench_train_in_bf16_without_bf16_units_reports_the_fp32_it_ran(tiny_path: Path, monkeypatch):
    from radiodiff_lib.bench.train import run

    monkeypatch.setattr(hardware, "cpu_bf16_support", lambda: Bf16Support(False, "AVX2", "faked for the test"))
    with pytest.warns(ConfigWarning, match="no bf16 units"):
        out = run(config=tiny_path, device="cpu", precision="bf16", steps=1, threads=1)
    assert out["precision_asked"] == "bf16"
    assert out["runtime"]["precision"] == "no"
    assert out["hardware"]["precision"] == "fp32"
    assert out["hardware"]["measured_on"].endswith("; fp32")
    assert any("no bf16 units" in note for note in out["notes"])


def _small_runs(monkeypatch) -> dict:
    """Each benchmark but train, shrunk to a second or two."""
    from radiodiff_lib.bench import attention, data, evaluate, parse

    write_log = parse.write_log
    monkeypatch.setattr(parse, "write_log", lambda path, n_lines=2001: write_log(path, n_lines))
    monkeypatch.setattr(parse, "REPEATS", 1)
    return {"data": lambda: data.run(size=32, maps_per_run=2, runs=1),
            "parse": parse.run,
            "attention": lambda: attention.run(config="demo", device="cpu", repeats=1),
            "evaluate": lambda: evaluate.run(repeats=1, image_size=32)}


@pytest.mark.parametrize("name, precision", [("data", "no tensor arithmetic timed"),
                                             ("parse", "no tensor arithmetic timed"),
                                             ("attention", "fp32"), ("evaluate", "fp32")])
def test_every_benchmark_names_its_hardware(monkeypatch, name, precision):
    out = _small_runs(monkeypatch)[name]()
    info = out["hardware"]
    assert set(HARDWARE_KEYS) <= set(info)
    assert info["precision"] == precision
    assert info["threads"] == 1
    assert info["measured_on"].startswith(hardware.cpu_model())
