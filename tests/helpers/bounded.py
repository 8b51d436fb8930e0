"""Run a ``radiodiff`` command in a child process and measure it: wall seconds and peak memory
(any test may import this).

The command runs under an address-space limit (``LIMIT_BYTES``) and a timeout, so code that would
exhaust the shared machine fails the measurement instead of the machine; its peak resident memory
is ``resource.getrusage(RUSAGE_CHILDREN)`` of a middle process that runs nothing else. Bounds
asserted on these numbers are generous ("a few hundred MB", "a minute"): they fail on a bug, not
on a loaded machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIMIT_BYTES = 3 << 30  # address space of the command (virtual memory: imports map more than they use)
MAX_MB = 400  # "a few hundred MB": a plain analyze takes about 100
MAX_SECONDS = 60

_MIDDLE = r"""
import json, resource, subprocess, sys, time
limit, timeout, argv = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3:]
def cap():
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
start = time.perf_counter()
try:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, preexec_fn=cap)
    rc, out, err = done.returncode, done.stdout, done.stderr
except subprocess.TimeoutExpired:
    rc, out, err = None, "", "timed out"
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"rc": rc, "stdout": out, "stderr": err, "seconds": seconds, "peak_mb": peak_mb}))
"""


@dataclass
class Measured:
    """What a measured command did: exit code (None: timed out), output, wall seconds, peak MB."""

    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float


def measure_cli(*args: str, timeout: float = 2 * MAX_SECONDS) -> Measured:
    """``radiodiff ARGS`` in a child process of this repository's code, measured."""
    argv = [sys.executable, "-m", "radiodiff_lib.cli", *map(str, args)]
    done = subprocess.run([sys.executable, "-c", _MIDDLE, str(LIMIT_BYTES), str(timeout), *argv],
                          capture_output=True, text=True, cwd=REPO, check=True)
    return Measured(**json.loads(done.stdout))
