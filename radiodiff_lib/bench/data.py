"""`radiodiff bench data`: synthetic radio maps per second at 256 x 256 on one CPU thread."""
from __future__ import annotations

import os
import statistics
import time


def run(size: int = 256, maps_per_run: int = 20, runs: int = 5) -> dict:
    """Time whole data-set items (city, transmitter, gain map, tensors); median of ``runs`` runs.

    ``maps_per_second`` is wall-clock; ``maps_per_cpu_second`` is per second of this process's
    CPU time (equal on an idle core). The machine's load average is reported beside them.
    """
    # One thread everywhere: the figure is per core, what each data-loader worker delivers.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import torch

    from ..data import SyntheticRadioMaps  # lazy: after the thread variables above, which torch reads at import
    from ..hardware import NO_TENSORS, describe  # lazy: it imports torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        hardware = describe("cpu", NO_TENSORS)  # the maps are numpy arrays: no torch precision
        ds = SyntheticRadioMaps(num_maps=maps_per_run * (runs + 1), image_size=size, seed=0, split="train",
                                val_fraction=0.0, test_fraction=0.0)
        ds[0]  # warm-up: builds the cached ray tables for this size
        rates, cpu_rates = [], []
        for r in range(runs):
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(maps_per_run):
                ds[(r + 1) * maps_per_run + i - 1]
            rates.append(maps_per_run / (time.perf_counter() - start))
            cpu_rates.append(maps_per_run / max(time.process_time() - cpu, 1e-9))
    finally:
        torch.set_num_threads(threads)
    return {
        "hardware": hardware,
        "maps_per_second": round(statistics.median(rates), 2),
        "size": size,
        "maps_per_run": maps_per_run,
        "runs": [round(x, 2) for x in rates],
        # Per CPU-second of this process: what one idle core would give; on a shared machine
        # the wall-clock figure above also counts time spent waiting for a core.
        "maps_per_cpu_second": round(statistics.median(cpu_rates), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "threads": 1,
        "goal_maps_per_second": 50,
    }
