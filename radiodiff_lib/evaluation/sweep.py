"""``radiodiff sweep``: every checkpoint of a run scored on the same held-out items, one chosen, handed off.

The path, top to bottom (:func:`sweep_checkpoints`):

1. the items of the split under the split protocol (a seeded subset of maps x transmitters when
   asked), the maps the run trained on left out, are read and decoded once, into memory (``items``);
2. each candidate (a checkpoint file with its EMA or raw weights) that the cache does not hold yet
   is scored on them and cached (``scoring``); a file that cannot be loaded or fails its checksum is
   listed with the reason and skipped; several processes divide the candidates by rank;
3. everything is assembled from the cache alone, so the final ``sweep.csv`` is byte-identical
   whether the cache was filled by one straight run or by several interrupted ones;
4. the verdict (``bootstrap.compare``): best, indistinguishable set, earliest of it, each with its
   cluster-bootstrap interval over maps;
5. the chosen candidate on the test maps, its latent statistics over the training split
   (``latents.latent_statistics``), cached as the candidates are (``cache/handoff/``: a sweep that changed
   nothing measures them once), and the hand-off (``handoff``).

Nothing is written outside the out folder (default ``<run>/sweep/``); the run's files are only read.
"""
from __future__ import annotations

import functools
import json
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..checkpoints import save_radiodiff_layout
from ..config import Config, config_from_dict, config_to_dict, load_config, resolve_config
from ..data import TrainingMaps, build_dataset, train_overlap, training_maps
from ..errors import CheckpointError, ConfigError
from ..hardware import autocast
from ..outputs import check_output_folder
from ..vocabulary import (
    CONFIG_FILE, EVAL_LOWER_IS_BETTER, RADIODIFF_CHECKPOINT, SPLIT_RECORD, SWEEP_METRICS, WORKBENCH_CHECKPOINT,
)
from .bootstrap import compare, mean_interval
from .evaluate import eval_config, example_rows, reconstruct_examples
from .handoff import HANDOFF_FILE, check_stage2_config, handoff_config, provenance_lines, write_handoff, write_merged
from .items import Items, choose_items, item_identity, read_items
from .latents import LatentSummary, latent_statistics
from .result import Example
from .scope import eval_protocol, eval_scope, map_list
from .scoring import (
    Candidate, CheckpointReader, cache_key, candidate_training_maps, checkpoint_files, choose_precision,
    entry_key, file_digest, load_candidate, one_line, prepare, process_layout, read_cached, read_entry, score,
    score_all, write_entry,
)
from .sweep_result import (
    CACHE_FOLDER, FILES_CACHE, FIRST_STAGE_FOLDER, HANDOFF_CACHE, LATENTS_FILE, SWEEP_JSON, SweepResult,
    SweepSettings, write_tables,
)


def compare_all(candidates: list[Candidate], items: Items, settings: SweepSettings) -> tuple[list[int], dict]:
    """(indices of the scored candidates, the comparison on each reported metric)."""
    scored = [k for k, c in enumerate(candidates) if c.ok]
    if not scored:
        return scored, {}
    steps = [candidates[k].step for k in scored]
    return scored, {name: compare(np.stack([candidates[k].metrics[name] for k in scored]), items.maps, steps,
                                  metric=name, n_boot=settings.n_boot, seed=settings.seed, level=settings.level)
                    for name in SWEEP_METRICS}


# --- after the verdict: test, latents, hand-off ------------------------------------------------------

CONFIRM_CHUNK = 512  # items of a confirmation set in memory at once


def confirmation_sets(config: Config, settings: SweepSettings, protocol: str,
                      trained: TrainingMaps) -> tuple[list[tuple[str, Any, list[int]]], list[str]]:
    """((label, data set, item indices) on which the chosen checkpoint is confirmed, notes).

    The test maps, less the maps it trained on. When the protocol's validation maps lie inside its
    test maps (``radiodiff``: all 51 of them), the choice was made on part of the test set, so the
    figures are given on the test maps outside validation and training (49 on the reference folder)
    beside the protocol's own test set less its training maps (99), each labelled.
    """
    cfg = eval_config(config, settings.data, protocol)
    test = build_dataset(cfg, "test")
    val_maps = set(build_dataset(cfg, "val").split_maps) & set(test.split_maps)
    trained_maps = set(train_overlap(trained, test) or ())
    maps_of = [item_identity(test, i)[0] for i in range(len(test))]
    unseen = [i for i, m in enumerate(maps_of) if m not in trained_maps]
    outside = [i for i, m in enumerate(maps_of) if m not in trained_maps | val_maps]
    pick = lambda among: choose_items(test, None, settings.tx, settings.seed, among)  # noqa: E731
    minus = f" less the {len(trained_maps)} it trained on" if trained_maps else ""
    if not val_maps:
        return [(f"test maps{minus}", test, pick(unseen))], []
    chosen_on = len(val_maps - trained_maps)
    notes = [f"the {protocol} protocol's validation maps lie inside its test maps ({len(val_maps)} of them): the "
             "choice was made on them, so the test figures without them come first."]
    sets = [(f"test maps outside val and train ({len(set(maps_of) - trained_maps - val_maps)})", test, pick(outside)),
            (f"{protocol}'s own test set{minus} (holds the {chosen_on} val maps the choice was made on)", test,
             pick(unseen))]
    if not outside:
        notes.append("no test map lies outside validation and training here: only the protocol's own test set is "
                     "given.")
        sets = sets[1:]
    return sets, notes


def confirm(model: torch.nn.Module, sets: list[tuple[str, Any, list[int]]], settings: SweepSettings,
            device: torch.device, precision: str) -> list[dict]:
    """The chosen model's metrics with cluster-bootstrap intervals on each confirmation set (read in chunks)."""
    out = []
    for label, dataset, indices in sets:
        values: dict[str, list] = {name: [] for name in SWEEP_METRICS}
        maps: list[np.ndarray] = []
        for start in range(0, len(indices), CONFIRM_CHUNK):
            items = read_items(dataset, indices[start:start + CONFIRM_CHUNK], "test", settings.data)
            scored, _latent = score(model, items, settings.batch_size, device, autocast(precision, device))
            for name in SWEEP_METRICS:
                values[name].append(scored[name])
            maps.append(items.maps)
        every = np.concatenate(maps)
        entry = {"label": label, "maps": int(len(np.unique(every))), "transmitters": int(every.size)}
        for name in SWEEP_METRICS:
            entry[name] = mean_interval(np.concatenate(values[name]), every, settings.n_boot, settings.seed,
                                        settings.level).to_json()
        out.append(entry)
    return out


def measure_latents(model: torch.nn.Module, config: Config, settings: SweepSettings, protocol: str,
                    device: torch.device, precision: str) -> LatentSummary:
    """Latent statistics of ``model`` over the protocol's training split, streamed."""
    dataset = build_dataset(eval_config(config, settings.data, protocol), "train")
    indices = choose_items(dataset, settings.latent_maps, None, settings.seed)
    return latent_statistics(model, dataset, indices, split="train", batch_size=settings.batch_size, device=device,
                             autocast=autocast(precision, device), seed=settings.seed)


def first_stage_file(cand: Candidate, out: Path, recorded: str | None,
                     chosen: Callable[[], tuple]) -> tuple[Path, Path | None, str | None]:
    """(the file the second stage should load, the RadioDiff-layout copy written for it or None, the copy's sha256).

    The second stage loads a checkpoint's ``ema`` weights when there are any: a RadioDiff file
    whose EMA weights were chosen is named as it is; otherwise a copy holding the chosen weights
    (as both ``model`` and ``ema``) is written into the out folder from ``chosen()`` (the loaded
    candidate), unless the copy whose sha256 the cache ``recorded`` is there unchanged.
    """
    if cand.format == RADIODIFF_CHECKPOINT and cand.weights == "ema":
        return cand.path, None, None
    copy = out / FIRST_STAGE_FOLDER / f"{cand.path.stem}-{cand.weights}.pt"
    digest = file_digest(copy) if recorded and copy.is_file() else None
    if digest is None or digest != recorded:
        model, loss, _cfg, _info = chosen()
        save_radiodiff_layout(copy, model.cpu(), loss, int(cand.step or 0), with_lpips_copies=False)
        digest = file_digest(copy)
    return copy, copy, digest


def handoff_key(cand: Candidate, result: SweepResult) -> str:
    """The hand-off's cache entry: the chosen candidate's own key (its file's content, weights, items, precision,
    device, batch, config) and every setting that changes its test confirmation or its latent statistics."""
    s = result.settings
    data = config_to_dict(eval_config(result.config, s.data, result.protocol))["data"]
    root = "synthetic" if str(s.data) == "synthetic" else str(Path(s.data).expanduser().resolve())
    return entry_key(entry="handoff", candidate=cand.key, data=data, data_root=root, protocol=result.protocol,
                     latent_maps=s.latent_maps, seed=s.seed, tx=s.tx, n_boot=s.n_boot, level=s.level)


def measure_handoff(cand: Candidate, result: SweepResult, model: torch.nn.Module, info: dict, cfg: Config,
                    device: torch.device) -> dict:
    """The chosen model's test confirmation (with its notes) and latent statistics, and its config, as a cache entry."""
    with clock(result.timings, "confirm"):
        trained = candidate_training_maps(info, cfg)
        sets, notes = confirmation_sets(result.config, result.settings, result.protocol, trained)
        confirmation = confirm(model, sets, result.settings, device, result.precision)
    with clock(result.timings, "latent"):
        latent = measure_latents(model, result.config, result.settings, result.protocol, device, result.precision)
    return {"file": cand.path.name, "weights": cand.weights, "confirmation": confirmation, "notes": notes,
            "latent": latent.to_record(), "config": config_to_dict(cfg), "first_stage_sha256": None}


def cached_handoff(cache: Path, key: str) -> tuple[dict, Config] | None:
    """(the hand-off's cache entry, the chosen checkpoint's config read back from it); None when there is none."""
    entry = read_entry(cache, key)
    try:
        return (entry, config_from_dict(entry["config"], source=f"{entry['file']} (cached)")) if entry else None
    except (ConfigError, KeyError):  # written by an older sweep, or the config no longer reads: measure again
        return None


def hand_off(result: SweepResult, stage2_config: str | Path | None, device: torch.device,
             reader: CheckpointReader) -> None:
    """Latents, test confirmation and ``handoff.yaml`` for the chosen candidate (sets them on ``result``).

    What a sweep with the same settings measured comes from the cache; the chosen checkpoint is loaded
    only when something must be measured or its first-stage copy written, and then once (not at all
    when ``reader`` still holds it from scoring).
    """
    cand = result.candidates[result.chosen]
    chosen = functools.cache(lambda: load_candidate(cand, result.settings.config, reader.load(cand.path)))
    cache, key = result.out / CACHE_FOLDER / HANDOFF_CACHE, handoff_key(cand, result)
    cached = cached_handoff(cache, key)
    result.handoff_cached = cached is not None
    if cached is None:
        model, _loss, cfg, info = chosen()
        entry = measure_handoff(cand, result, prepare(model, device), info, cfg, device)
    else:
        entry, cfg = cached
    result.confirmation, result.latent = entry["confirmation"], LatentSummary.from_record(entry["latent"])
    result.notes += entry["notes"]
    np.savez_compressed(result.out / LATENTS_FILE, samples=result.latent.samples)
    target, result.first_stage, copied = first_stage_file(cand, result.out, entry["first_stage_sha256"], chosen)
    if cached is None or copied != entry["first_stage_sha256"]:
        write_entry(cache, key, entry | {"first_stage_sha256": copied})
    cmp_ = result.comparison()
    metric = result.settings.metric
    why = (f"the best of {len(result.scored)} by mean {metric}" if result.settings.choose == "best"
           else f"the earliest of the {len(cmp_.indistinguishable)} indistinguishable from the best by {metric}")
    handoff = handoff_config(target, cfg, result.latent.scale_factor.mean)
    lines = provenance_lines(str(cand.path), cand.weights, cand.step, result.latent.scale_factor, "train",
                             result.latent.n_maps, why)
    result.handoff = write_handoff(result.out / HANDOFF_FILE, handoff, lines)
    if stage2_config is not None:
        result.stage2 = check_stage2_config(stage2_config, handoff, result.latent.scale_factor, cfg)
        write_merged(result.stage2, result.out)


# --- the sweep ---------------------------------------------------------------------------------------

def run_config(run: Path, config: str | None) -> Config:
    """The config that says what the run's data are: ``config`` when given, else the run's own, else RadioDiff's."""
    if config:
        return resolve_config(config)
    if (run / CONFIG_FILE).is_file():
        return load_config(run / CONFIG_FILE)
    return resolve_config("radiodiff")


def file_record(path: Path, digest: str, cache: Path, reader: CheckpointReader) -> dict:
    """What checkpoint ``path`` says about its training maps: ``{"format", "split_record"}``, or ``{"error"}`` when
    it cannot be loaded; cached by the file's content, so a sweep with no new file loads none for it."""
    key = entry_key(entry="split record", content=digest)
    rec = read_entry(cache, key)
    if rec is None:
        try:
            obj, fmt = reader.load(path)
            rec = {"format": fmt, "split_record": obj.get(SPLIT_RECORD) if fmt == WORKBENCH_CHECKPOINT else None}
        except CheckpointError as exc:
            rec = {"error": one_line(exc)}
        write_entry(cache, key, rec)
    return rec


def run_training_maps(digests: dict[Path, str], config: Config, cache: Path, reader: CheckpointReader) -> TrainingMaps:
    """The maps the run trained on, as its newest readable checkpoint records them (RadioDiff's: assumed);
    ``digests``: the run's files, oldest first, with their sha256."""
    for path, digest in reversed(digests.items()):
        rec = file_record(path, digest, cache, reader)
        if "error" not in rec:  # an unreadable file is listed with its reason when it is scored
            return training_maps(rec["format"], rec["split_record"], config)
    return TrainingMaps("unknown")


def sweep_items(config: Config, settings: SweepSettings, trained: TrainingMaps) -> tuple[Items, str, tuple[int, ...]]:
    """(the items scored, the protocol, the training maps left out): the split under the protocol asked for
    (default the run's), without the maps the run trained on, a seeded subset when asked, read once."""
    protocol = eval_protocol(settings.protocol, trained, config)
    dataset = build_dataset(eval_config(config, settings.data, protocol), settings.split)
    scope = eval_scope(dataset, trained)
    indices = choose_items(dataset, settings.maps, settings.tx, settings.seed, among=scope.candidates)
    return read_items(dataset, indices, settings.split, settings.data), dataset.protocol, scope.excluded


def out_folder(run: Path, out: str | Path | None) -> Path:
    """The sweep's folder (default ``<run>/sweep``), created; an OutputError in one line when it cannot be written."""
    folder = check_output_folder(Path(out) if out else run / "sweep", "--out")
    (folder / CACHE_FOLDER).mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def clock(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall and CPU seconds of the block to ``timings`` as ``<name>_seconds`` and ``<name>_cpu_seconds``."""
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings[f"{name}_seconds"] = time.perf_counter() - t0
        timings[f"{name}_cpu_seconds"] = time.process_time() - c0


def candidates_of(digests: dict[Path, str], settings: SweepSettings, items: Items, precision: str,
                  device: torch.device) -> list[Candidate]:
    """Every file with each kind of weights asked for, named by its content and what changes its numbers."""
    changes_numbers = {"items": items.fingerprint(), "precision": precision, "device": device.type,
                       "batch": settings.batch_size, "config": settings.config}
    return [Candidate(path=f, weights=w, content=digest, key=cache_key(digest, w, changes_numbers))
            for f, digest in digests.items() for w in settings.weight_kinds()]


def read_back(candidates: list[Candidate], cache: Path) -> None:
    """Every candidate from the cache, so the tables are the same however the cache was filled."""
    for c in candidates:
        scored_here = c.status != "pending" and not c.cached
        if not read_cached(cache, c):
            raise CheckpointError(f"{c.label}: no result in {cache} after scoring; run the sweep again.")
        c.cached = not scored_here


def sweep_checkpoints(run: str | Path, data: str = "synthetic", split: str = "val", protocol: str | None = None,
                      maps: int | None = None, tx: int | None = None, weights: str = "ema", metric: str = "nmse",
                      out: str | Path | None = None, stage2_config: str | Path | None = None, choose: str = "best",
                      seed: int = 0, n_boot: int = 2000, batch_size: int = 8, precision: str = "no",
                      device: str | None = None, config: str | None = None, latent_maps: int | None = None,
                      progress: Callable[[str], None] | None = None) -> SweepResult | None:
    """Score every checkpoint of ``run`` on the same items of ``split``, pick one, measure it and hand it off.

    ``protocol``: RadioMapSeer's split protocol (default: the one the run trained on; RadioDiff's files:
    ``radiodiff``, assumed and said). The maps the run trained on are never scored. Returns the result
    in the process of rank 0 (None in the others of a multi-process sweep).
    """
    settings = SweepSettings(data=str(data), split=split, protocol=protocol, maps=maps, tx=tx, weights=weights,
                             metric=metric, choose=choose, seed=seed, n_boot=n_boot, batch_size=batch_size,
                             precision=precision, config=config, latent_maps=latent_maps)
    settings.check()
    run = Path(run)
    files = checkpoint_files(run)
    folder = out_folder(run, out)
    layout = process_layout(device)
    used, note = choose_precision(precision, layout.device)
    cfg = run_config(run, config)
    timings: dict[str, float] = {}
    with clock(timings, "read"):  # hashing the files, the run's training maps, reading the items
        digests = {f: file_digest(f) for f in files}
        reader = CheckpointReader()  # the newest file, read for its training maps, is the first scored
        trained = run_training_maps(digests, cfg, folder / CACHE_FOLDER / FILES_CACHE, reader)
        items, used_protocol, excluded = sweep_items(cfg, settings, trained)
    with clock(timings, "score"):  # loading, forward passes, metrics, cache writes
        candidates = candidates_of(digests, settings, items, used, layout.device)
        score_all(candidates, items, layout, folder / CACHE_FOLDER, used, settings.batch_size, settings.config,
                  reader, progress)
    layout.barrier()
    if layout.rank != 0:
        return None
    read_back(candidates, folder / CACHE_FOLDER)
    scored, comparisons = compare_all(candidates, items, settings)
    result = SweepResult(run=run, out=folder, settings=settings, config=cfg, items=items, candidates=candidates,
                         comparisons=comparisons, scored=scored, precision=used, precision_note=note,
                         device=str(layout.device), timings=timings, protocol=used_protocol,
                         training_maps=trained.describe(), excluded_train_maps=[int(m) for m in excluded])
    if excluded:
        result.notes.append(f"{len(excluded)} {split} map(s) the run trained on left out: {map_list(list(excluded))}.")
    result.notes += [f"{c.label} trained on {len(c.trained_on)} of the {items.n_maps} scored maps "
                     f"({map_list(c.trained_on)}): its figures are not held out." for c in candidates if c.trained_on]
    write_tables(result)
    if scored:
        cmp_ = result.comparison()
        result.notes += cmp_.notes
        result.chosen = scored[cmp_.best if choose == "best" else cmp_.earliest]
        hand_off(result, stage2_config, layout.device, reader)
    else:
        result.notes.append("no checkpoint could be scored: nothing to choose or hand off.")
    (folder / SWEEP_JSON).write_text(json.dumps(result.to_json(), indent=2, allow_nan=False) + "\n", encoding="utf-8")
    return result


# --- figures' inputs ----------------------------------------------------------------------------------

def candidate_model(result: SweepResult, k: int) -> torch.nn.Module:
    """Candidate ``k``'s model, loaded from its file, in eval mode on the CPU."""
    return load_candidate(result.candidates[k], result.settings.config)[0].eval()


def gallery(result: SweepResult, pick: int, other: int | None = None,
            model_of: Callable[[int], torch.nn.Module] | None = None) -> tuple[list[Example], list[Example] | None]:
    """Best, median and worst of the swept items by candidate ``pick``'s metric, re-run through it, and through
    candidate ``other`` on the same items (None when not given). Their NMSE is the sweep's own; ``model_of(k)``
    gives candidate k's model (default: loaded from its file)."""
    model_of = model_of or functools.partial(candidate_model, result)
    metric = result.settings.metric
    rows = example_rows(result.candidates[pick].metrics[metric], EVAL_LOWER_IS_BETTER[metric])
    if not rows:
        return [], None
    picked = result.items.select(rows)

    def examples_of(k: int) -> list[Example]:
        metrics = result.candidates[k].metrics
        return reconstruct_examples(model_of(k), picked.images, picked.buildings, picked.indices, picked.names,
                                    metrics["nmse"][rows], metrics["nmse_street"][rows])

    return examples_of(pick), examples_of(other) if other is not None else None
