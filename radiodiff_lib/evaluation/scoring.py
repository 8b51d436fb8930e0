"""Scoring a sweep's candidates: where and in what precision, one candidate's forward and metrics, the cache.

A candidate is a checkpoint file with one kind of its weights (EMA or raw). Scoring it is a batched
forward over the sweep's items (posterior mode, as ``radiodiff evaluate``) and per-item NMSE, RMSE,
SSIM, PSNR and street NMSE. The result goes to ``<out>/cache/<key>.json``, keyed by the file's sha256
and every setting that changes a number, written atomically (a temporary file renamed over it): a
sweep stopped even by SIGKILL and started again scores only what is missing. A file that cannot be
loaded or fails its checksum is recorded with the reason. Several processes started by ``torchrun``
or ``accelerate launch`` divide the candidates by rank (:func:`shard`); the cache is where their
results meet.
"""
from __future__ import annotations

import hashlib
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..checkpoints import list_checkpoints, load_any, model_from_checkpoint
from ..config import Config, resolve_config
from ..data import TrainingMaps, train_overlap, training_maps
from ..errors import CheckpointError, ConfigError, DataError
from ..hardware import BF16_EMULATED, autocast, resolve_precision
from ..vocabulary import EVAL_METRICS, SPLIT_RECORD, WORKBENCH_CHECKPOINT
from . import metrics as M
from .evaluate import LatentStats, reconstruct, to_unit
from .items import Items

ITEM_METRICS = (*EVAL_METRICS, "nmse_street")  # the columns of sweep.csv
CACHE_VERSION = 1  # raise when what a cache entry holds or how it is computed changes
LATENT_SAMPLES = 2048  # latent values kept per channel and candidate, for the histograms


# --- precision and processes --------------------------------------------------------------------------

def choose_precision(requested: str, device: torch.device) -> tuple[str, str]:
    """(precision used, a note when it differs from the one asked for): the sweep's precision, decided as
    training decides it (``hardware.resolve_precision``: bf16 without bf16 units runs fp32 and says so; an
    unknown name or fp16 off CUDA is a ConfigError)."""
    used, note = resolve_precision(requested, device, option="--precision",
                                   insist_with=f"--precision {BF16_EMULATED}", what="the sweep")
    return used, note or ""


@dataclass
class Layout:
    """This process's place among the sweep's processes."""

    rank: int
    world: int
    device: torch.device
    barrier: Callable[[], None]


def process_layout(device: str | None) -> Layout:
    """One process, or the processes ``torchrun`` / ``accelerate launch`` started (rank, world, device)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from accelerate import PartialState  # lazy: only several processes need a process group

        state = PartialState(cpu=device == "cpu" or not torch.cuda.is_available())
        return Layout(state.process_index, state.num_processes, state.device, state.wait_for_everyone)
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: this PyTorch sees no CUDA GPU; use --device cpu or leave it out.")
    return Layout(0, 1, dev, lambda: None)


def shard(candidates: list, rank: int, world: int) -> list:
    """The candidates process ``rank`` of ``world`` scores: every world-th one from its rank on."""
    return candidates[rank::world]


# --- candidates and their cache -------------------------------------------------------------------

@dataclass
class Candidate:
    """A checkpoint file with one kind of its weights, and what scoring it gave."""

    path: Path
    weights: str
    status: str = "pending"  # "ok", or why it was skipped
    step: int | None = None
    format: str | None = None
    content: str = ""  # sha256 of the file
    key: str = ""
    metrics: dict[str, np.ndarray] = field(default_factory=dict)  # per item, in the items' order
    latent: dict = field(default_factory=dict)  # posterior-mode statistics over the scored items
    trained_on: list[int] | None = None  # scored maps this checkpoint trained on (None: not known)
    cached: bool = False  # read from the cache, not scored by this process

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        """``model-7.pt (ema)``."""
        return f"{self.path.name} ({self.weights})"


def checkpoint_files(run: str | Path) -> list[Path]:
    """The run's checkpoints ``model-*.pt`` (ours or RadioDiff's), oldest first; DataError when there are none."""
    run = Path(run)
    if not run.is_dir():
        raise DataError(f"{run}: no such results folder. Pass the folder holding the run's model-*.pt files.")
    files = list_checkpoints(run)
    if not files:
        raise DataError(f"{run} holds no checkpoints (model-*.pt); pass a results folder of a first-stage run.")
    return files


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def entry_key(**fields: Any) -> str:
    """A cache entry's name: a hash of everything its numbers depend on, and of the cache's version."""
    return hashlib.sha256(json.dumps({"v": CACHE_VERSION, **fields}, sort_keys=True).encode()).hexdigest()[:32]


def cache_key(content: str, weights: str, settings: dict[str, Any]) -> str:
    """A candidate's entry: the file's content, its weights and every setting that changes its numbers."""
    return entry_key(content=content, weights=weights, **settings)


def read_entry(folder: Path, key: str) -> dict | None:
    """Cache entry ``key`` of ``folder`` as it was written; None when there is none (or it cannot be read)."""
    try:
        return json.loads((folder / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_entry(folder: Path, key: str, rec: dict) -> None:
    """Write cache entry ``key`` atomically (a temporary file renamed over): a killed sweep leaves none half-written."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(rec), encoding="utf-8")  # floats as repr: they read back bit for bit
    os.replace(tmp, path)


def read_cached(folder: Path, cand: Candidate) -> bool:
    """Fill ``cand`` from its cache entry; False when there is none (or it cannot be read)."""
    rec = read_entry(folder, cand.key)
    if rec is None:
        return False
    cand.status, cand.step, cand.format, cand.trained_on = rec["status"], rec["step"], rec["format"], rec["trained_on"]
    cand.metrics = {k: np.asarray(v, dtype=np.float64) for k, v in rec["metrics"].items()}
    cand.latent, cand.cached = rec["latent"], True
    return True


def write_cached(folder: Path, cand: Candidate) -> None:
    """Write ``cand``'s entry (atomically)."""
    write_entry(folder, cand.key, {
        "key": cand.key, "file": cand.path.name, "content": cand.content, "weights": cand.weights,
        "status": cand.status, "step": cand.step, "format": cand.format, "trained_on": cand.trained_on,
        "metrics": {k: v.tolist() for k, v in cand.metrics.items()}, "latent": cand.latent})


# --- scoring ---------------------------------------------------------------------------------------

def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on a CPU (oneDNN's convolutions: measured 6 % faster in fp32, 12 % in bf16, on the bench
    model), the default layout elsewhere (unmeasured there)."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


def prepare(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` in eval mode on ``device``, in the layout the sweep's forward uses."""
    return model.to(device).to(memory_format=memory_format(device)).eval()


def to_batch(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Maps ``x`` [B, 1, H, W] on ``device``, in the layout the sweep's forward uses."""
    return x.to(device).contiguous(memory_format=memory_format(device))


@torch.no_grad()
def score(model: torch.nn.Module, items: Items, batch_size: int, device: torch.device,
          autocast: Any = None) -> tuple[dict[str, np.ndarray], dict]:
    """Per-item metrics and posterior-mode latent statistics of ``model`` on ``items``."""
    values: dict[str, list] = {k: [] for k in ITEM_METRICS}
    latent, samples = LatentStats(), []
    per_item = max(1, LATENT_SAMPLES // max(len(items), 1))  # histogram values spread over every item
    for start in range(0, len(items), batch_size):
        x = to_batch(items.images[start:start + batch_size], device)
        with autocast or nullcontext():
            rec, z = reconstruct(model, x)
        pred, target = to_unit(rec.float()), to_unit(x)
        for name, v in M.map_metrics(pred, target).items():
            values[name].extend(v.tolist())
        street = M.street_mask(items.buildings[start:start + batch_size].to(device).float())
        values["nmse_street"].extend(M.nmse(pred, target, street).cpu().tolist())
        latent.update(z.float())
        samples.append(z.float().flatten(2)[:, :, ::max(1, z.shape[2] * z.shape[3] // per_item)].cpu())
    stats = latent.result()
    kept = torch.cat(samples).transpose(0, 1).reshape(stats["channels"], -1)[:, :LATENT_SAMPLES]
    stats["samples"] = kept.tolist()
    return {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}, stats


def load_candidate(cand: Candidate, config: str | None, checkpoint: tuple[dict, str] | None = None,
                   ) -> tuple[Any, Any, Config, dict]:
    """(model, loss, config, info) of a candidate, built from ``checkpoint`` (``load_any``'s (obj, format) of its
    file) when given, else from its file; CheckpointError/ConfigError when it cannot be used."""
    obj, fmt = checkpoint if checkpoint is not None else load_any(cand.path)
    return model_from_checkpoint(obj, fmt, cand.path, use_ema=cand.weights == "ema",
                                 config=resolve_config(config) if config else None)


def candidate_training_maps(info: dict, config: Config) -> TrainingMaps:
    """The maps a loaded checkpoint trained on (``load_model_from_checkpoint``'s info and config)."""
    return training_maps(info.get("format", WORKBENCH_CHECKPOINT), info.get(SPLIT_RECORD), config)


def one_line(exc: Exception) -> str:
    """Why a candidate was skipped, on one line."""
    return " ".join(str(exc).split())


def score_candidate(cand: Candidate, checkpoint: tuple[dict, str], items: Items, batch_size: int,
                    config: str | None, device: torch.device, precision: str) -> None:
    """Score ``cand`` from its loaded file (status "ok"), or record why it cannot be (status = the reason)."""
    try:
        model, _loss, cfg, info = load_candidate(cand, config, checkpoint)
    except (CheckpointError, ConfigError) as exc:
        cand.status = one_line(exc)
        return
    cand.step, cand.format = info.get("step"), info.get("format")
    overlap = train_overlap(candidate_training_maps(info, cfg), items)
    cand.trained_on = None if overlap is None else [int(m) for m in overlap]
    model = prepare(model, device)
    cand.metrics, cand.latent = score(model, items, batch_size, device, autocast(precision, device))
    cand.status = "ok"


class CheckpointReader:
    """A run's checkpoint files loaded and verified (``load_any``) one at a time: the last one read is kept, so
    the steps of a sweep that need the same file in a row read it once, and it is dropped before the next is
    read (one checkpoint in memory). A file that cannot be loaded is remembered with its reason, not read again."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.checkpoint: tuple[dict, str] | None = None
        self.failed: dict[Path, str] = {}

    def load(self, path: Path) -> tuple[dict, str]:
        """(obj, format) of ``path``; CheckpointError when it cannot be loaded."""
        if path in self.failed:
            raise CheckpointError(self.failed[path])
        if path != self.path:
            self.path, self.checkpoint = None, None  # drop the last one before the next is read
            try:
                self.checkpoint = load_any(path)
            except CheckpointError as exc:
                self.failed[path] = str(exc)
                raise
            self.path = path
        return self.checkpoint


def score_all(candidates: list[Candidate], items: Items, layout: Layout, cache: Path, precision: str,
              batch_size: int, config: str | None, reader: CheckpointReader,
              progress: Callable[[str], None] | None = None) -> None:
    """Score this process's share of the candidates that the cache does not hold yet, each file read once for all
    its kinds of weights (the file ``reader`` holds already first)."""
    todo = [c for c in shard(candidates, layout.rank, layout.world) if not read_cached(cache, c)]
    todo.sort(key=lambda c: c.path != reader.path)  # stable: the files' order otherwise
    for path, same_file in groupby(todo, key=lambda c: c.path):
        try:
            checkpoint, reason = reader.load(path), ""
        except CheckpointError as exc:
            checkpoint, reason = None, one_line(exc)
        for cand in same_file:
            if checkpoint is None:
                cand.status = reason
            else:
                score_candidate(cand, checkpoint, items, batch_size, config, layout.device, precision)
            write_cached(cache, cand)
            if progress:
                progress(f"{cand.label}: {cand.status}")
