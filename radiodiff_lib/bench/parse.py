"""Benchmark of the log reader: lines per second on a generated RadioDiff log, and the cost of
``RunReader.update()`` after appending 100 lines to a big file vs. a small one.

``radiodiff bench parse [--json FILE]``. One process, one core (the parser is pure Python + numpy).
Machines differ a lot in Python speed, so the result also carries two yardsticks measured in the
same run: a naive per-line regex parser (what users run; it also drops rows) and the CPU seconds
of a fixed pure-Python loop.
"""
from __future__ import annotations

import math
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from ..hardware import NO_TENSORS, describe
from ..logs.reader import RunReader, read_run

N_LINES = 200_000  # step lines (generator + discriminator), plus the config line
REPEATS = 5
_CONFIG = {"model": {"embed_dim": 3, "lossconfig": {"disc_start": 50001, "kl_weight": 1e-06, "disc_weight": 0.5,
                                                    "disc_in_channels": 1}},
           "trainer": {"gradient_accumulate_every": 2, "lr": 5e-06, "train_num_steps": 10_000_000,
                       "log_freq": 100}}


def _lines(first_step: int, n_steps: int, t0: datetime) -> list[str]:
    """RadioDiff log lines: a generator and a discriminator line per step, {:.5f}, trailing ", "."""
    out = []
    for k in range(n_steps):
        step = first_step + 100 * k
        when = t0 + timedelta(seconds=0.3 * step)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S") + f",{when.microsecond // 1000:03d}"
        rec = 0.02 + 0.06 * math.exp(-step / 4e6)
        factor = 1.0 if step >= 50001 else 0.0
        g = -0.4 + 0.001 * (k % 13)
        nll = rec * 65536
        total = nll + 1e-6 * 61234.125 + 5000.0 * factor * g
        out.append(f"{stamp} [Train Step] {step}/10000000: train/total_loss: {total:.5f}, train/logvar: 0.00000, "
                   f"train/kl_loss: {61234.125 + k:.5f}, train/nll_loss: {nll:.5f}, train/rec_loss: {rec:.5f}, "
                   f"train/d_weight: 5000.00000, train/disc_factor: {factor:.5f}, train/g_loss: {g:.5f}, "
                   f"lr: 0.00000, ")
        out.append(f"{stamp} [Train Step] {step}/10000000: train/disc_loss: {factor * 0.99:.5f}, "
                   f"train/logits_real: {-0.01211 - 1e-5 * (k % 7):.5f}, train/logits_fake: -0.01304, lr: 0.00000, ")
    return out


def write_log(path: Path, n_lines: int = N_LINES) -> int:
    """Write a RadioDiff log of about n_lines lines; returns its line count."""
    t0 = datetime(2025, 3, 2, 9, 14, 5)
    lines = [t0.strftime("%Y-%m-%d %H:%M:%S") + f",311 {_CONFIG!r}"] + _lines(0, n_lines // 2, t0)
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _update_cost(path: Path, first_step: int, n_lines: int = 100, repeats: int = 9) -> float:
    """Median seconds of RunReader.update() after appending n_lines lines to path."""
    reader = RunReader(path)
    reader.update()
    times = []
    t0 = datetime(2025, 3, 3)
    span = 100 * n_lines
    for r in range(repeats):
        text = "\n".join(_lines(first_step + r * span, n_lines // 2, t0)) + "\n"
        with open(path, "a") as fh:
            fh.write(text)
        start = time.perf_counter()
        run = reader.update()
        times.append(time.perf_counter() - start)
        assert run.df["step"].iloc[-1] == first_step + r * span + 100 * (n_lines // 2 - 1)
    return statistics.median(times)


_NAIVE_STEP = re.compile(r"\[Train Step\] (\d+)/(\d+): (.*)")
_NAIVE_PAIR = re.compile(r"([\w/]+): ([-+\w.]+)")


def naive_regex_parse(path: Path) -> int:
    """The per-line regex parser users run (the baseline the issue quotes), for comparison only."""
    rows = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = _NAIVE_STEP.search(line)
            if m:
                rows.append({"step": int(m.group(1)), **{k: float(v) for k, v in _NAIVE_PAIR.findall(m.group(3))}})
    return len(rows)


def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of fn()."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def _rates(lines: int, ours, naive, repeats: int) -> dict:
    """Medians over repeats, ours and the naive parser timed back to back in each round so that
    both see the same load on a shared machine."""
    walls, cpus, base_walls, base_cpus, ratios = [], [], [], [], []
    for _ in range(repeats):
        w, c = _timed(ours)
        bw, bc = _timed(naive)
        walls.append(lines / w)
        cpus.append(lines / c)
        base_walls.append(lines / bw)
        base_cpus.append(lines / bc)
        ratios.append(bc / c)
    med = statistics.median
    return {"lines_per_second": round(med(walls)), "lines_per_cpu_second": round(med(cpus)),
            "naive_regex_lines_per_second": round(med(base_walls)),
            "naive_regex_lines_per_cpu_second": round(med(base_cpus)),
            "speedup_over_naive_regex_cpu": round(med(ratios), 2)}


def _python_loop_seconds() -> float:
    """CPU seconds of 10 million ``s += i`` in a Python loop: how fast this machine runs Python."""
    start, total = time.process_time(), 0
    for i in range(10_000_000):
        total += i
    return time.process_time() - start


def run() -> dict:
    """Median lines/s of read_run over REPEATS runs (with a naive regex baseline measured alongside
    on the same machine) and the cost of update() after appending lines to a big and a small file."""
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "2025-03-02-09-14_.log"
        lines = write_log(big)
        result = read_run(big)
        rows_lost = (lines - 1) // 2 - len(result.df)  # one row per generator + discriminator pair
        rates = _rates(lines, lambda: read_run(big), lambda: naive_regex_parse(big), REPEATS)
        small = Path(tmp) / "small.log"
        small_lines = write_log(small, 200)
        end = 100 * lines
        big_100 = _update_cost(big, end)
        small_100 = _update_cost(small, end)
        big_1000 = _update_cost(big, 10 * end, n_lines=1000, repeats=5)
    return {
        "hardware": describe("cpu", NO_TENSORS, threads=1),  # the reader is pure Python: one thread, no tensors
        **rates,
        "rows_lost": rows_lost,
        "lines_skipped": result.n_skipped,
        "lines": lines,
        "runs": REPEATS,
        "update_seconds_per_100_lines": big_100,
        "file_lines": lines,
        "update_seconds_per_100_lines_small_file": small_100,
        "small_file_lines": small_lines,
        "update_seconds_per_1000_lines": big_1000,
        "python_loop_10M_cpu_seconds": round(_python_loop_seconds(), 3),
        "note": "update() cost is a fixed part (building the Run's frames from buffer views) plus a part "
                "proportional to the appended lines; it does not grow with the file",
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
