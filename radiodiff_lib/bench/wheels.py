"""gpu_check.sh's WHEELS: install, offline, the wheels of a folder whose distributions this Python lacks,
into a folder of their own (never into the Python).

    python -m radiodiff_lib.bench.wheels WHEELS_DIR TARGET_DIR

A distribution this Python already has is left out, even when the folder holds a wheel of it (``pip
download`` fetches every dependency): the target folder goes on PYTHONPATH, before the Python's own
packages, and must not shadow them (a second numpy under the image's torch). Standard library only: it
runs before anything else is importable.
"""
from __future__ import annotations

import importlib.metadata as metadata
import subprocess
import sys
from pathlib import Path


def lacking(wheels: Path) -> list[str]:
    """The distributions with a wheel in ``wheels`` that this Python does not have (names as the wheels spell them)."""
    names = sorted({wheel.name.split("-")[0] for wheel in wheels.glob("*.whl")})
    missing = []
    for name in names:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    """Install what is lacking into TARGET_DIR with pip (no index, no dependency resolution); pip's exit status."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m radiodiff_lib.bench.wheels WHEELS_DIR TARGET_DIR", file=sys.stderr)
        return 2
    wheels, target = Path(args[0]), Path(args[1])
    if not wheels.is_dir():
        print(f"wheels: {wheels} is not a folder; give the folder pip download wrote.", file=sys.stderr)
        return 2
    names = lacking(wheels)
    if not names:
        return 0
    print(f"wheels: installing {' '.join(names)} into {target}", file=sys.stderr)
    return subprocess.call([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--no-index", "--no-deps", "--find-links", str(wheels), "--target", str(target), *names])


if __name__ == "__main__":
    sys.exit(main())
