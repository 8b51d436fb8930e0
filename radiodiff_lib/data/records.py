"""Which maps a model trained on: the record a checkpoint keeps of its training data, read back.

A data set of this package says what its maps are through six attributes: ``map_source`` (what a
map number identifies: ``"radiomapseer"``, a RadioMapSeer file number, or ``"synthetic seed S"``,
a generated scene), ``protocol`` (``radiodiff``, ``radiounet`` or ``synthetic``), ``split``,
``split_maps`` (its sorted map numbers), ``root_maps`` (maps in the whole folder or data set) and
``reference`` (whether its split is the reference one; None for generated data). Items carry
``map`` and ``transmitter``, and ``identity(i)`` gives both without reading the item.

``split_record(dataset)`` turns that into the JSON-able dict a checkpoint stores under
``vocabulary.SPLIT_RECORD``; ``training_maps`` reads it back (or, for a checkpoint without one, says
what can be known) and ``train_overlap`` names the maps of an evaluation split the model trained on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Iterable

from ..vocabulary import RADIODIFF_CHECKPOINT
from .splits import reference_split, split_indices

ASSUMED_PROTOCOL = "radiodiff"  # what a RadioDiff model-N.pt trained on: train_vae.py's RadioUNet_c split


def maps_hash(maps: Iterable[int]) -> str:
    """``"sha256:<hex>"`` of the sorted map numbers written in decimal and joined by commas."""
    text = ",".join(str(int(m)) for m in sorted(maps))
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def split_record(dataset: Any) -> dict:
    """What a checkpoint records about the data set it trained on (JSON-able; unknown fields None).

    ``{"source", "protocol", "split", "root_maps", "reference", "train_maps" (how many),
    "train_maps_hash", "train_map_list"}``. The list itself is kept (at most a few thousand numbers)
    so that evaluation knows the training maps on any copy of the folder; the hash is what
    ``radiodiff inspect`` shows and what two runs are compared by.
    """
    source = getattr(dataset, "map_source", None)
    maps = getattr(dataset, "split_maps", None)
    if source is None or maps is None:  # a data set of the caller's own: nothing known about its maps
        return {"source": None, "protocol": None, "split": None, "root_maps": None, "reference": None,
                "train_maps": len(dataset) if hasattr(dataset, "__len__") else None, "train_maps_hash": None,
                "train_map_list": None}
    maps = sorted(int(m) for m in maps)
    return {"source": source, "protocol": dataset.protocol, "split": dataset.split,
            "root_maps": int(dataset.root_maps), "reference": dataset.reference,
            "train_maps": len(maps), "train_maps_hash": maps_hash(maps), "train_map_list": maps}


@dataclass(frozen=True)
class TrainingMaps:
    """The maps a checkpoint trained on, and how that is known."""

    basis: str  # "recorded" (in the checkpoint), "assumed" (a RadioDiff file), "recomputed" (from its config), "unknown"
    source: str | None = None  # as a data set's map_source
    protocol: str | None = None
    maps: frozenset[int] | None = None  # None: not known

    def describe(self) -> str:
        """One clause: which maps, and how that is known."""
        if self.basis == "assumed":
            return (f"assumed: a RadioDiff checkpoint records no split, so it is taken to have trained on the "
                    f"{self.protocol} protocol's {len(self.maps)} train maps (RadioDiff's train_vae.py)")
        if self.basis == "unknown":
            return ("unknown: the checkpoint records no training maps (written before checkpoints kept them, or "
                    "trained on a data set of its caller's own), so none could be left out")
        what = (f"{len(self.maps)} maps of the {self.protocol} protocol's train split" if self.source == "radiomapseer"
                else f"{len(self.maps)} scenes of the {self.source} data")
        return f"{what}, {'recorded in the checkpoint' if self.basis == 'recorded' else 'recomputed from its config'}"


def training_maps(checkpoint_format: str, record: dict | None, config: Any) -> TrainingMaps:
    """What the checkpoint trained on: its record; RadioDiff's split for a RadioDiff file; else what its config tells."""
    if record and record.get("source") and record.get("train_map_list") is not None:
        return TrainingMaps("recorded", record["source"], record.get("protocol"), frozenset(record["train_map_list"]))
    if checkpoint_format == RADIODIFF_CHECKPOINT:
        return TrainingMaps("assumed", "radiomapseer", ASSUMED_PROTOCOL,
                            frozenset(reference_split(ASSUMED_PROTOCOL)["train"]))
    data = getattr(config, "data", None)
    if record is None and data is not None and data.name == "synthetic":
        # The synthetic split is a pure function of the config, unchanged since the first checkpoints.
        train = split_indices(data.num_maps, data.val_fraction, data.test_fraction, data.seed)["train"]
        return TrainingMaps("recomputed", f"synthetic seed {data.seed}", "synthetic", frozenset(int(m) for m in train))
    radio = record is None and data is not None and data.name == "radio"
    return TrainingMaps("unknown", source="radiomapseer" if radio else None)


def train_overlap(trained: TrainingMaps, dataset: Any) -> tuple[int, ...] | None:
    """The sorted maps of ``dataset``'s split that the checkpoint trained on; None when that is unknown."""
    if trained.source is not None and trained.source != getattr(dataset, "map_source", None):
        return ()  # other data: a RadioMapSeer file number and a synthetic scene are different maps
    if trained.maps is None:
        return None
    return tuple(sorted(set(dataset.split_maps) & trained.maps))


def split_change(saved: dict | None, current: dict) -> str | None:
    """On resume: a sentence when the training maps now differ from the checkpoint's record (None when they match).

    For the trainer's resume notes: ``split_change(obj.get(SPLIT_RECORD), split_record(dataset))``.
    """
    now = (f"the {current['protocol']} protocol's {current['train_maps']} train maps of {current['root_maps']}"
           if current.get("protocol") else "a data set of the caller's own")
    if not saved or not saved.get("train_maps_hash"):
        if current.get("source") != "radiomapseer":
            return None  # synthetic data: a pure function of the config, which the resume notes compare already
        return (f"the checkpoint records no training maps (written before checkpoints kept them); this launch trains "
                f"on {now}, which may not be the maps it trained on so far.")
    if saved.get("train_maps_hash") == current.get("train_maps_hash"):
        return None
    before = f"the {saved.get('protocol')} protocol's {saved.get('train_maps')} train maps of {saved.get('root_maps')}"
    return f"training maps changed on resume: the checkpoint trained on {before}, this launch trains on {now}."
