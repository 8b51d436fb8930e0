"""The hardware probe: bf16 units from what PyTorch reports (faked here for both kinds of CPU), the precision
that runs, and the hardware a benchmark figure names."""
from __future__ import annotations

import pytest
import torch

from radiodiff_lib import hardware
from radiodiff_lib.errors import ConfigError
from radiodiff_lib.hardware import Bf16Support, bf16_support, cpu_bf16_support, describe, resolve_precision
from radiodiff_lib.vocabulary import BF16, FP32

CPU = torch.device("cpu")


def fake_cpu(monkeypatch, *, onednn_bf16: bool, avx512_bf16: bool = False, amx: bool = False,
             capability: str = "AVX2", isa_limit: str | None = None) -> None:
    """What PyTorch reports about an x86 CPU, whatever this machine is."""
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    monkeypatch.setattr(hardware.platform, "machine", lambda: "x86_64")
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if isa_limit is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", isa_limit)


def test_an_avx2_cpu_has_no_bf16_units(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=False, capability="AVX2")
    support = cpu_bf16_support()
    assert support.units is False
    assert support.summary.startswith("AVX2, no bf16 units")


def test_avx512_without_bf16_instructions_has_no_bf16_units(monkeypatch):
    """oneDNN has bf16 kernels there (emulated, slower than fp32): the instructions decide."""
    fake_cpu(monkeypatch, onednn_bf16=True, avx512_bf16=False, capability="AVX512")
    assert cpu_bf16_support().units is False


@pytest.mark.parametrize("avx512_bf16, amx, name", [(True, False, "AVX512-BF16"), (False, True, "AMX")])
def test_a_cpu_with_bf16_instructions_has_bf16_units(monkeypatch, avx512_bf16, amx, name):
    fake_cpu(monkeypatch, onednn_bf16=True, avx512_bf16=avx512_bf16, amx=amx, capability="AVX512")
    support = cpu_bf16_support()
    assert support.units is True
    assert support.summary == f"AVX512, bf16 units ({name})"


def test_a_onednn_isa_limit_below_bf16_means_no_units(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=True, avx512_bf16=True, capability="AVX512", isa_limit="avx512_core")
    support = cpu_bf16_support()
    assert support.units is False
    assert "ONEDNN_MAX_CPU_ISA=AVX512_CORE" in support.reason


def test_bf16_without_units_runs_fp32_and_says_how_to_insist(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=False)
    precision, note = resolve_precision("bf16", CPU)
    assert precision == "no"
    assert "no bf16 units" in note
    assert "computes in fp32" in note
    assert "mixed_precision: bf16-emulated" in note
    assert "\n" not in note


def test_bf16_emulated_runs_bf16_without_units(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=False)
    assert resolve_precision("bf16-emulated", CPU) == ("bf16", None)


def test_bf16_with_units_runs_bf16(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=True, avx512_bf16=True, capability="AVX512")
    assert resolve_precision("bf16", CPU) == ("bf16", None)


@pytest.mark.parametrize("precision, device", [("no", CPU), ("fp16", torch.device("cuda"))])
def test_other_precisions_are_not_probed(monkeypatch, precision, device):
    def probe_must_not_run(device):
        raise AssertionError("probed")
    monkeypatch.setattr(hardware, "bf16_support", probe_must_not_run)
    assert resolve_precision(precision, device) == (precision, None)


def test_fp16_off_cuda_and_unknown_names_are_refused_in_the_callers_words():
    with pytest.raises(ConfigError, match=r"^--precision fp16 needs a CUDA GPU; the sweep is on cpu"):
        resolve_precision("fp16", CPU, option="--precision", what="the sweep")
    with pytest.raises(ConfigError, match=r"^mixed_precision fp32: use no, bf16, bf16-emulated or fp16\.$"):
        resolve_precision("fp32", CPU)


def test_autocast_runs_the_resolved_precision():
    with hardware.autocast(BF16, CPU):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.is_autocast_enabled("cpu")
    with hardware.autocast(FP32, CPU):
        assert not torch.is_autocast_enabled("cpu")


def test_a_gpu_without_bf16_units_runs_fp32(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert bf16_support(torch.device("cuda")).units is False
    precision, note = resolve_precision("bf16", torch.device("cuda"))
    assert precision == "no"
    assert "Tesla T4" in note


def test_describe_names_cpu_capability_threads_torch_and_precision(monkeypatch):
    fake_cpu(monkeypatch, onednn_bf16=False, capability="AVX2")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    info = describe("cpu", "no", threads=1)
    assert info["cpu"] == hardware.cpu_model()
    assert (info["cpu_capability"], info["bf16_units"], info["threads"]) == ("AVX2", False, 1)
    assert info["precision"] == "fp32"
    assert info["torch"] == str(torch.__version__)
    assert info["cpu_overrides"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    line = info["measured_on"]
    for part in (hardware.cpu_model(), "AVX2, no bf16 units", "[emulated: ONEDNN_MAX_CPU_ISA=AVX2]", "1 CPU thread;",
                 f"PyTorch {torch.__version__}", "; fp32"):
        assert part in line


def test_describe_without_tensor_arithmetic_says_so():
    assert describe("cpu", hardware.NO_TENSORS)["measured_on"].endswith("; no tensor arithmetic timed")


def test_describe_of_the_machine_alone_names_no_precision():
    info = describe("cpu")
    assert info["precision"] is None
    assert info["measured_on"].endswith(f"PyTorch {torch.__version__}")


def test_cpu_model_is_named():
    assert hardware.cpu_model().strip() not in ("", "unknown CPU")


def test_the_probe_answers_on_this_machine():
    """Not faked: whatever this CPU is, the probe gives an answer with its evidence."""
    support = cpu_bf16_support()
    assert isinstance(support, Bf16Support)
    assert support.kind == torch.backends.cpu.get_cpu_capability()
