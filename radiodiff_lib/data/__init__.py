"""Data sources: the built-in synthetic radio maps and the RadioMapSeer folder loader, and their splits.

``build_dataset(config, split)`` picks the source by ``config.data.name`` as RadioDiff's
``data.name`` does: ``synthetic`` (the generator, the default, with its own split) or ``radio``
(RadioMapSeer, split by ``config.data.split_protocol``: ``radiodiff`` or ``radiounet``).
Items are dicts: ``image`` float32 [1, H, W] in [-1, 1], ``buildings`` float32 [1, H, W]
(1 inside buildings), ``tx`` float32 [2] (x, y in pixels), ``name`` str, ``map`` and
``transmitter`` int (the item's identity; ``records`` says what a map number means).
"""
from __future__ import annotations

from ..errors import DataError
from .radiomapseer import RadioMapSeer, plan_folder
from .records import TrainingMaps, maps_hash, split_change, split_record, train_overlap, training_maps
from .splits import PROTOCOL_USES, SplitPlan, check_split, plan_split, reference_split
from .synthetic import SyntheticRadioMaps
from .writer import write_radiomapseer_folder

DATA_NAMES = ("synthetic", "radio")


def build_dataset(config, split: str = "train"):
    """The torch Dataset of ``split`` (train/val/test) for ``config.data``."""
    data = config.data
    split = check_split(split)
    if data.name == "synthetic":
        return SyntheticRadioMaps(num_maps=data.num_maps, image_size=data.image_size, seed=data.seed, split=split,
                                  val_fraction=data.val_fraction, test_fraction=data.test_fraction)
    if data.name == "radio":
        if not data.root:
            raise DataError(
                "data.name is 'radio' but data.root is not set: set data.root to the RadioMapSeer folder "
                "(the one holding png/, gain/ and antenna/), or use data.name: synthetic."
            )
        return RadioMapSeer(data.root, split, simulation=data.simulation, cars=data.cars, image_size=data.image_size,
                            protocol=data.split_protocol)
    raise DataError(f"Unknown data.name {data.name!r} in {getattr(config, 'source', 'the config')}: "
                    f"use one of {', '.join(DATA_NAMES)}.")


__all__ = ["DATA_NAMES", "PROTOCOL_USES", "RadioMapSeer", "SplitPlan", "SyntheticRadioMaps",
           "TrainingMaps", "build_dataset", "maps_hash", "plan_folder", "plan_split", "reference_split",
           "split_change", "split_record", "train_overlap", "training_maps", "write_radiomapseer_folder"]
