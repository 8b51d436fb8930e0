"""Benchmark of checkpoint evaluation: maps per second at 256 x 256 with the benchmark model.

The model is the trainer benchmark's (``resolve_config("bench")``: ch 64, ch_mult [1, 2, 4],
2 res blocks) with ``data.image_size`` set to 256, randomly initialised: the speed of a
convolutional forward pass does not depend on the weight values, so no checkpoint is needed.
It times the same pieces :func:`radiodiff_lib.evaluate.evaluate_checkpoint` runs: the
posterior-mode forward (encode, mode, decode) and the metrics (all pixels and street pixels).
Each number is the median over ``repeats`` runs after one untimed warm-up.
"""
from __future__ import annotations

import statistics
import time

import torch

from ..config import replace, resolve_config
from ..evaluation import metrics as M
from ..evaluation.evaluate import reconstruct, to_unit
from ..hardware import describe
from ..model.autoencoder import build_model, count_parameters


def _inputs(batch: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed pseudo-random maps in [-1, 1] and a buildings mask (content does not change speed)."""
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 1, size, size, generator=g) * 2 - 1
    buildings = (torch.rand(batch, 1, size // 8, size // 8, generator=g) < 0.25).float()
    buildings = torch.nn.functional.interpolate(buildings, size=(size, size), mode="nearest")
    return images, buildings


def run(repeats: int = 3, batch: int = 2, image_size: int = 256, threads: int | None = 1) -> dict:
    """``{"maps_per_second", "seconds_per_map", "metrics_maps_per_second", ...}`` on the CPU."""
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # one thread: comparable numbers on a shared machine
    try:
        cfg = replace(resolve_config("bench"), **{"data.image_size": image_size,
                                                  "model.ddconfig.resolution": [image_size, image_size]})
        torch.manual_seed(0)
        model = build_model(cfg).eval()
        images, buildings = _inputs(batch, image_size)
        street = M.street_mask(buildings)
        hardware = describe("cpu", "no")

        reconstruct(model, images)  # warm-up
        forward, forward_cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            rec, _ = reconstruct(model, images)
            forward.append((time.perf_counter() - t0) / batch)
            forward_cpu.append((time.process_time() - c0) / batch)
        target, pred = to_unit(images), to_unit(rec)

        M.map_metrics(pred, target, street)  # warm-up
        metric_times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            M.map_metrics(pred, target)
            M.map_metrics(pred, target, street)
            metric_times.append((time.perf_counter() - t0) / batch)
    finally:
        torch.set_num_threads(old_threads)

    sec_forward, sec_metrics = statistics.median(forward), statistics.median(metric_times)
    return {
        "hardware": hardware,
        "maps_per_second": 1.0 / sec_forward,
        "seconds_per_map": sec_forward,
        # CPU time of this process per map: on a shared machine wall time also counts waiting.
        "cpu_seconds_per_map": statistics.median(forward_cpu),
        "metrics_maps_per_second": 1.0 / sec_metrics,  # NMSE/RMSE/SSIM/PSNR, all + street pixels
        "end_to_end_maps_per_second": 1.0 / (sec_forward + sec_metrics),
        "image_size": image_size,
        "batch": batch,
        "repeats": repeats,
        "threads": torch.get_num_threads() if not threads else threads,
        "device": "cpu",
        "parameters": count_parameters(model),
        "weights": "random init (speed does not depend on the weight values)",
    }
