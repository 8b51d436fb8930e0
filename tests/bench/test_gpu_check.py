"""gpu_check.sh as a bare CUDA image runs it: from the working tree, with a Python that has PyTorch and only the
packages the script names (numpy, pyyaml, scipy, pillow, pandas). The Python here gets only those (and what
they require), so a new dependency of the benchmark path fails these tests until the script and
docs/benchmarks.md name it."""
from __future__ import annotations

import base64
import hashlib
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from radiodiff_lib.bench import wheels
from radiodiff_lib.config import save_config
from tests.helpers.configs import make_tiny_config

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "radiodiff_lib" / "bench" / "gpu_check.sh"

def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def needed_distributions() -> list[str]:
    """The distributions gpu_check.sh says it needs (its NEEDED line: module:distribution pairs)."""
    line = next(x for x in SCRIPT.read_text().splitlines() if x.startswith("NEEDED="))
    return [pair.split(":")[1] for pair in line.split('"')[1].split()]


def allowed_distributions() -> set[str]:
    """torch and the needed distributions, with everything they require in turn (what pip brings with them)."""
    seen, todo = set(), [_normalized(d) for d in ["torch", *needed_distributions()]]
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [_normalized(re.match(r"[A-Za-z0-9_.\-]+", r).group(0)) for r in requires if "extra ==" not in r]
    return seen


@pytest.fixture
def bare_python(tmp_path: Path) -> tuple[str, dict]:
    """(a python command, its environment): this interpreter without its site-packages (-S), given only the
    allowed distributions (linked into a folder on PYTHONPATH) and our working tree, as a bare CUDA image
    with the named wheels added would be."""
    site = tmp_path / "site"
    site.mkdir()
    allowed = allowed_distributions()
    for dist in metadata.distributions():
        if _normalized(dist.metadata["Name"]) not in allowed:
            continue
        for top in {f.parts[0] for f in dist.files or [] if f.parts[0] != ".." and not f.name.endswith(".pth")}:
            link = site / top
            if not link.exists() and Path(dist.locate_file(top)).exists():
                link.symlink_to(Path(dist.locate_file(top)).resolve())
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    python.chmod(0o755)
    return str(python), {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{ROOT}", "OMP_NUM_THREADS": "1"}


def test_the_bare_python_lacks_what_the_script_does_not_name(bare_python):
    """accelerate, tensorboard and tqdm are installed here but not named: they must not import."""
    python, env = bare_python
    for module in ("accelerate", "tensorboard", "tqdm"):
        proc = subprocess.run([python, "-c", f"import {module}"], env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode != 0, module


def test_training_and_its_checks_run_with_only_the_named_packages(bare_python, tmp_path: Path):
    """The exact-resume check trains three tiny launches (one process, no Accelerate, no TensorBoard), and the
    benchmark modules the script runs import."""
    python, env = bare_python
    cfg = save_config(make_tiny_config(), tmp_path / "tiny.yaml")
    proc = subprocess.run([python, "-m", "radiodiff_lib.bench.resume_check", "--config", str(cfg), "--device", "cpu",
                           "--steps", "2"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert '"bitwise_equal": true' in proc.stdout
    imports = ("import radiodiff_lib.cli, radiodiff_lib.bench.train, radiodiff_lib.bench.attention, "
               "radiodiff_lib.bench.gpu_report")
    proc = subprocess.run([python, "-c", imports], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_script_names_what_it_lacks_in_one_line(tmp_path: Path):
    """A Python without pandas (blocked): the script stops before any work and says what to bring."""
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(
        "import sys\nsys.modules['pandas'] = None  # as if pandas were not installed\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocker"), "PYTHON": sys.executable, "DEVICE": "cpu"}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    said = proc.stderr.strip().splitlines()
    assert len(said) == 1
    assert "lacks: pandas" in said[0]
    assert "WHEELS=DIR" in said[0]


def write_wheel(folder: Path, name: str, version: str = "1.0") -> Path:
    """A pure-Python wheel holding module ``name`` (VALUE = 42), as pip download leaves one."""
    dist_info = f"{name}-{version}.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    def digest(text: str) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
    record = "".join(f"{path},sha256={digest(text)},{len(text.encode())}\n" for path, text in files.items())
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for member, text in {**files, f"{dist_info}/RECORD": record + f"{dist_info}/RECORD,,\n"}.items():
            zf.writestr(member, text)
    return path


def test_wheels_installs_only_what_this_python_lacks(tmp_path: Path):
    """A wheel of a distribution this Python has (numpy) is left out: it would shadow the Python's own."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    write_wheel(folder, "gpucheck_fake_module")
    write_wheel(folder, "numpy", "0.0.1")
    assert wheels.lacking(folder) == ["gpucheck_fake_module"]
    assert wheels.main([str(folder), str(tmp_path / "site")]) == 0
    assert (tmp_path / "site" / "gpucheck_fake_module.py").read_text() == "VALUE = 42\n"
    assert not (tmp_path / "site" / "numpy").exists()


def test_wheels_refuses_a_missing_folder_in_one_line(tmp_path: Path, capsys):
    assert wheels.main([str(tmp_path / "nowhere"), str(tmp_path / "site")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.slow
def test_gpu_check_script_dry_run_on_cpu(bare_python, tmp_path: Path):
    """gpu_check.sh end to end with DEVICE=cpu, a tiny config and only the named packages: every part runs and
    the table, printed and kept, says so and names the machine."""
    python, env = bare_python
    cfg_path = save_config(make_tiny_config(), tmp_path / "tiny.yaml")
    env = {**env, "DEVICE": "cpu", "CONFIG": str(cfg_path), "STEPS": "1", "SKIP_COMPILE": "1", "PYTHON": python}
    proc = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = (tmp_path / "out" / "table.md").read_text()
    assert table.strip() == proc.stdout.strip()  # printed and kept
    assert table.startswith("Measured on: ")
    assert "| fp32 | before disc_start |" in table
    assert "| bf16" in table
    assert "| GAN phase |" in table
    assert "| math (the old transposed q/k/v) |" in table
    assert "1 process, stop at step 3 of 6, fp32, deterministic True: bitwise equal" in table
