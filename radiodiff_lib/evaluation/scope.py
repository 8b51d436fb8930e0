"""Which items of an evaluation split are scored for a checkpoint: its protocol, and its training maps left out.

The maps a checkpoint trained on come from ``data.training_maps`` (its split record, RadioDiff's
split assumed for a RadioDiff file, or unknown); the evaluated maps among them are left out, or kept
when asked (and the result labelled), and a split with nothing left is an error that says what to do.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..config import SPLIT_PROTOCOLS, Config
from ..data import TrainingMaps, train_overlap
from ..data.splits import check_protocol
from ..errors import DataError
from .items import item_identity


def eval_protocol(protocol: str | None, trained: TrainingMaps, cfg: Config) -> str:
    """The protocol to evaluate on: the one asked for, else the one the checkpoint trained on, else its config's."""
    if protocol is not None:
        return check_protocol(protocol)
    if trained.source == "radiomapseer" and trained.protocol in SPLIT_PROTOCOLS:
        return trained.protocol
    return cfg.data.split_protocol


@dataclass(frozen=True)
class EvalScope:
    """Which items of an evaluation split are scored, and the training maps among its maps."""

    candidates: list[int]  # data-set indices that may be scored (training maps left out unless included)
    overlap: tuple[int, ...] | None  # maps of the split the checkpoint trained on; None: unknown
    excluded: tuple[int, ...]
    included: tuple[int, ...]


def eval_scope(dataset, trained: TrainingMaps, include_train_maps: bool = False) -> EvalScope:
    """Leave out the items of maps the checkpoint trained on (or keep them, when asked, and say which)."""
    overlap = train_overlap(trained, dataset)
    excluded = () if include_train_maps or not overlap else overlap
    included = overlap if include_train_maps and overlap else ()
    dropped = set(excluded)
    candidates = [i for i in range(len(dataset)) if item_identity(dataset, i)[0] not in dropped]
    if not candidates:
        raise DataError(
            f"every map of the {dataset.split} split ({len(excluded)}: {map_list(list(excluded))}) is a map the "
            "checkpoint trained on, so nothing is left to score; evaluate another split or --protocol, or pass "
            "--include-train-maps to score them anyway (the result is labelled)."
        )
    return EvalScope(candidates, overlap, tuple(excluded), tuple(included))


def maps_word(maps: list[int] | tuple[int, ...]) -> str:
    """The word for these maps: map or maps."""
    return "map" if len(maps) == 1 else "maps"


def map_list(maps: list[int] | tuple[int, ...], limit: int = 20) -> str:
    """Map numbers for a sentence: the first ``limit``, then how many more."""
    maps = list(maps)
    shown = ", ".join(str(m) for m in maps[:limit])
    return shown + (f", ... ({len(maps) - limit} more)" if len(maps) > limit else "")
