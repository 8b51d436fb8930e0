"""Data sources: the built-in synthetic radio maps and the RadioMapSeer folder loader.

``build_dataset(config, split)`` picks the source by ``config.data.name`` as RadioDiff's
``data.name`` does: ``synthetic`` (the generator, the default) or ``radio`` (RadioMapSeer).
Items are dicts: ``image`` float32 [1, H, W] in [-1, 1], ``buildings`` float32 [1, H, W]
(1 inside buildings), ``tx`` float32 [2] (x, y in pixels), ``name`` str.
"""
from __future__ import annotations

from ..errors import DataError
from .splits import check_split

DATA_NAMES = ("synthetic", "radio")


def build_dataset(config, split: str = "train"):
    """The torch Dataset of ``split`` (train/val/test) for ``config.data``."""
    data = config.data
    split = check_split(split)
    if data.name == "synthetic":
        from .synthetic import SyntheticRadioMaps

        return SyntheticRadioMaps(num_maps=data.num_maps, image_size=data.image_size, seed=data.seed, split=split,
                                  val_fraction=data.val_fraction, test_fraction=data.test_fraction)
    if data.name == "radio":
        if not data.root:
            raise DataError(
                "data.name is 'radio' but data.root is not set: set data.root to the RadioMapSeer folder "
                "(the one holding png/, gain/ and antenna/), or use data.name: synthetic."
            )
        from .radiomapseer import RadioMapSeer

        return RadioMapSeer(data.root, split, simulation=data.simulation, cars=data.cars, image_size=data.image_size)
    raise DataError(f"Unknown data.name {data.name!r} in {getattr(config, 'source', 'the config')}: "
                    f"use one of {', '.join(DATA_NAMES)}.")


def write_radiomapseer_folder(*args, **kwargs):
    """Write synthetic maps in RadioMapSeer's folder layout (see ``data.writer``)."""
    from .writer import write_radiomapseer_folder as write

    return write(*args, **kwargs)


__all__ = ["build_dataset", "write_radiomapseer_folder", "DATA_NAMES"]
