"""Run the ``radiodiff`` command with one folder made read-only (any test may import this).

A folder's mode does not stop root, so as root the folder is made read-only for real: the command
runs in a user and mount namespace (``unshare -rm``) where the folder is bind-mounted onto itself
read-only (writes fail with EROFS, as on a read-only disk). As another user the folder is chmod 555.
Where neither is possible (root without user namespaces) the test is skipped, never faked.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True)
    return probe.returncode == 0


def run_cli_with_read_only(folder: Path, args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m radiodiff_lib.cli ARGS`` in ``cwd`` while ``folder`` cannot be written."""
    command = [sys.executable, "-m", "radiodiff_lib.cli", *args]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        finally:
            folder.chmod(0o755)
    if not _namespaces_work():
        pytest.skip("running as root without user namespaces: no way to make a folder read-only for root")
    script = (f"mount --bind {shlex.quote(str(folder))} {shlex.quote(str(folder))} && "
              f"mount -o remount,bind,ro {shlex.quote(str(folder))} && exec {shlex.join(command)}")
    return subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
