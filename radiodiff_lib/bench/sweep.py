"""Benchmark of ``radiodiff sweep``: what scoring K checkpoints costs beside K bare batched forward passes.

The model is the trainer benchmark's (``resolve_config("bench")``: ch 64, ch_mult [1, 2, 4], 2 res
blocks) at ``image_size``; K checkpoints of it (random weights, seeded apart: speed does not depend
on the values) are written in RadioDiff's ``model-N.pt`` layout into a temporary run folder. Timed,
interleaved in one process so that load changes on a shared machine hit all alike, ``repeats``
times each:

- the bare forward: the K models already in memory, one batched posterior-mode forward each over
  the same items (already in memory), nothing else;
- the sweep: ``sweep_checkpoints`` into a fresh out folder (nothing cached), timed as its own
  read and score phases report them: reading the items once, hashing the files, loading each
  checkpoint, the forward passes, the metrics and the cache writes (the test confirmation, the
  latent statistics and the hand-off come after the verdict and are left out of the ratio);

each in fp32 and in bf16. Medians of process CPU seconds (robust on a shared machine; wall seconds
beside them). On a CPU without bf16 units the sweep runs fp32 and says so (``choose_precision``),
which the result reports.
"""
from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..checkpoints import save_radiodiff_layout
from ..config import replace, resolve_config, save_config
from ..evaluation import reconstruct, sweep_checkpoints
from ..evaluation.sweep import run_training_maps, sweep_items
from ..evaluation.sweep_result import SweepSettings
from ..evaluation.scoring import CheckpointReader, choose_precision, file_digest, prepare, to_batch
from ..hardware import autocast, describe
from ..model import build_loss, build_model
from ..vocabulary import CONFIG_FILE

PRECISIONS = ("no", "bf16")


def write_run(folder: Path, k: int, image_size: int, maps: int) -> tuple[Any, list[torch.nn.Module]]:
    """A run folder with K RadioDiff-layout checkpoints of the bench model and its config; (config, models)."""
    cfg = replace(resolve_config("bench"), **{"data.image_size": image_size, "data.num_maps": maps * 10,
                                              "model.ddconfig.resolution": [image_size, image_size]})
    save_config(cfg, folder / CONFIG_FILE)
    models = []
    for i in range(k):
        torch.manual_seed(i)
        model, loss = build_model(cfg).eval(), build_loss(cfg)
        save_radiodiff_layout(folder / f"model-{i + 1}.pt", model, loss, step=1000 * (i + 1), with_lpips_copies=False)
        models.append(model)
    return cfg, models


def _timed(fn: Any) -> tuple[float, float]:
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - t0


def bare_forward(models: list[torch.nn.Module], images: torch.Tensor, batch: int, precision: str) -> None:
    """Each model's batched posterior-mode forward over ``images`` (the sweep's layout), nothing else."""
    dev = torch.device("cpu")
    with torch.no_grad():
        for model in models:
            for start in range(0, len(images), batch):
                x = to_batch(images[start:start + batch], dev)
                with autocast(precision, dev):
                    reconstruct(model, x)


def run(k: int = 4, maps: int = 8, image_size: int = 128, batch: int = 4, repeats: int = 3,
        threads: int | None = 1) -> dict:
    """Sweep cost over K bare forwards, bf16 against fp32, maps per second, and the CPU's bf16 capability."""
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    root = Path(tempfile.mkdtemp(prefix="radiodiff-bench-sweep-"))
    try:
        cfg, models = write_run(root / "run", k, image_size, maps)
        models = [prepare(m, torch.device("cpu")) for m in models]
        files = sorted((root / "run").glob("model-*.pt"))
        trained = run_training_maps({f: file_digest(f) for f in files}, cfg, root / "cache", CheckpointReader())
        images = sweep_items(cfg, SweepSettings(), trained)[0].images  # what the sweep scores
        n_items = len(images)
        times: dict[str, list[tuple[float, float]]] = {f"{w}_{p}": [] for w in ("bare", "sweep") for p in PRECISIONS}
        used = {p: choose_precision(p, torch.device("cpu")) for p in PRECISIONS}
        bare_forward(models, images[:batch], batch, "no")  # warm-up: first-call allocations and kernel choice
        for rep in range(repeats):
            for p in PRECISIONS:
                times[f"bare_{p}"].append(_timed(lambda: bare_forward(models, images, batch, used[p][0])))
                out = root / f"sweep-{p}-{rep}"
                result = sweep_checkpoints(root / "run", out=out, weights="model", batch_size=batch, precision=p,
                                           device="cpu", n_boot=200, latent_maps=1)
                t = result.timings
                times[f"sweep_{p}"].append((t["read_cpu_seconds"] + t["score_cpu_seconds"],
                                            t["read_seconds"] + t["score_seconds"]))
                shutil.rmtree(out)
    finally:
        torch.set_num_threads(old_threads)
        shutil.rmtree(root, ignore_errors=True)
    med = {key: (statistics.median(c for c, _ in v), statistics.median(w for _, w in v)) for key, v in times.items()}
    return {
        "hardware": describe("cpu", None, threads=threads or old_threads),  # both precisions ran: see precision_used
        "checkpoints": k, "items": n_items, "image_size": image_size, "batch": batch, "repeats": repeats,
        "precision_used": {p: used[p][0] for p in PRECISIONS},
        "precision_note": used["bf16"][1] or None,
        "cpu_seconds": {key: c for key, (c, _) in med.items()},
        "wall_seconds": {key: w for key, (_, w) in med.items()},
        # the bound: a sweep of K checkpoints at most 1.15 x K bare batched forward passes
        "sweep_over_bare": {p: med[f"sweep_{p}"][0] / med[f"bare_{p}"][0] for p in PRECISIONS},
        "bf16_speedup": {"sweep": med["sweep_no"][0] / med["sweep_bf16"][0],
                         "bare": med["bare_no"][0] / med["bare_bf16"][0]},
        "maps_per_second": {p: k * n_items / med[f"sweep_{p}"][1] for p in PRECISIONS},  # wall: load-dependent
        "maps_per_cpu_second": {p: k * n_items / med[f"sweep_{p}"][0] for p in PRECISIONS},
        "timing": "medians of process CPU seconds (wall seconds beside them), interleaved; sweep = reading the "
                  "items once + hashing, loading and scoring every checkpoint (no cache)",
    }
