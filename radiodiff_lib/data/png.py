"""Reading a RadioMapSeer PNG as an 8-bit grey map: checked, never guessed.

* Only a regular file is opened: the path is opened non-blocking and ``fstat``-ed before a byte is
  read, so a FIFO, a device or a folder under a map's name is refused at once instead of hanging.
* Pillow's decompression-bomb limit (and its warning band below it) is a ``DataError``, and so is
  any size other than the one the caller expects, read from the header before the pixels are.
* The pixels must be grey values: 8-bit grey (``L``) is read as it is; an image that only stores
  grey values another way is converted without loss and says so (``GreyPng.converted``): a palette
  image whose used entries are all grey, RGB(A) whose three channels are equal everywhere, and grey
  with an opaque alpha channel. A palette with colours, RGB whose channels differ (a colour-mapped
  picture), a transparent pixel, 1-bit, 16-bit or float images are refused in one line.
"""
from __future__ import annotations

import os
import struct
import warnings
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..errors import DataError
from ..outputs import not_regular

# What Pillow raises on a corrupt or truncated PNG, at open or at decode (SyntaxError: "broken PNG file").
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)

# What a conversion is called when it is reported (once per kind by the loader).
CONVERSIONS = {
    "palette": "grey palette images read through their palette",
    "rgb": "RGB(A) images with three equal channels read as grey",
    "alpha": "grey images with an opaque alpha channel read without it",
}


@dataclass
class GreyPng:
    """The pixels of one PNG as uint8 ``[H, W]`` and the conversion it needed (None: plain 8-bit grey)."""

    pixels: np.ndarray
    converted: str | None = None


def open_regular(path: Path, missing_hint: str = ""):
    """A binary file object for ``path`` once it is known to be a regular file (checked on the open descriptor)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))  # a FIFO opens at once instead of waiting
    except FileNotFoundError:
        raise DataError(f"Missing file {path}.{missing_hint}") from None
    except OSError as exc:
        raise DataError(f"Cannot open {path} ({exc.strerror or exc}); check its permissions or replace it.") from None
    what = not_regular(os.fstat(fd).st_mode)
    if what is not None:
        os.close(fd)
        raise DataError(f"{path} is {what}, not a regular file: only PNG files are read; "
                        "replace it with the map's PNG.")
    return os.fdopen(fd, "rb")


@contextmanager
def open_png(path: str | Path, missing_hint: str = "") -> Iterator[Image.Image]:
    """The PNG at ``path`` opened by Pillow, header read and pixels not yet decoded; every failure a DataError."""
    path = Path(path)
    with open_regular(path, missing_hint) as fh:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(fh)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise DataError(f"{path}: refused, the image is too large to be a radio map ({exc}).") from None
        except DECODE_ERRORS as exc:
            raise DataError(f"Cannot read {path} as a PNG image ({exc}); replace the file.") from None
        with img:
            yield img


def png_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of a PNG from its header alone."""
    with open_png(path) as img:
        return img.size[1], img.size[0]


def read_grey_png(path: str | Path, size: tuple[int, int] | None = None, missing_hint: str = "") -> GreyPng:
    """An 8-bit grey map ``[H, W]`` from a PNG; ``size`` (height, width) is required of it when given."""
    path = Path(path)
    with open_png(path, missing_hint) as img:
        width, height = img.size
        if size is not None and (height, width) != tuple(size):
            raise DataError(f"{path} is {height}x{width} pixels, the other maps of its folder are "
                            f"{size[0]}x{size[1]}: replace or remove it (maps are never stretched to fit).")
        try:
            return _grey(img, path)
        except DECODE_ERRORS as exc:  # a truncated or corrupt PNG fails only when its pixels are decoded
            raise DataError(f"Cannot read {path} as a PNG image ({exc}); replace the file.") from None


def _grey(img: Image.Image, path: Path) -> GreyPng:
    """The grey pixels of an opened image, converting only what loses nothing."""
    mode = img.mode
    if mode == "L":
        return GreyPng(np.asarray(img))
    if mode == "P":
        return _from_palette(img, path)
    if mode in ("RGB", "RGBA", "LA"):
        arr = np.asarray(img)
        if mode in ("RGBA", "LA") and not np.all(arr[..., -1] == 255):
            raise DataError(f"{path}: a {mode} image with transparent pixels, not a grey gain map; save it as 8-bit "
                            "grey (mode L).")
        if mode == "LA":
            return GreyPng(np.ascontiguousarray(arr[..., 0]), "alpha")
        rgb = arr[..., :3]
        if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
            raise DataError(f"{path}: an {mode} image whose colour channels differ (a colour-mapped picture?), not a "
                            "grey gain map; use the data set's 8-bit grey PNG.")
        return GreyPng(np.ascontiguousarray(rgb[..., 0]), "rgb")
    raise DataError(f"{path}: a PNG of mode {mode} ({_MODE_NAMES.get(mode, 'not 8-bit grey')}); RadioMapSeer maps "
                    "are 8-bit grey (mode L): convert it to that.")


_MODE_NAMES = {"1": "1-bit black and white", "I;16": "16-bit grey", "I": "32-bit integer", "F": "32-bit float",
               "CMYK": "CMYK colour", "YCbCr": "YCbCr colour", "PA": "palette with alpha"}


def _from_palette(img: Image.Image, path: Path) -> GreyPng:
    """A palette image whose used entries are all grey, as those grey values; anything else refused."""
    index = np.asarray(img)
    palette = np.asarray(img.getpalette() or [], dtype=np.uint8).reshape(-1, 3)
    used = np.unique(index)
    if used.size and int(used.max()) >= len(palette):
        raise DataError(f"{path}: a palette PNG whose pixels point past its palette; replace the file.")
    colours = palette[used]
    if not (np.array_equal(colours[:, 0], colours[:, 1]) and np.array_equal(colours[:, 0], colours[:, 2])):
        raise DataError(f"{path}: a palette PNG with coloured entries (its indices are not gains); use the data "
                        "set's 8-bit grey PNG.")
    if "transparency" in img.info:
        raise DataError(f"{path}: a palette PNG with transparency, not a grey gain map; save it as 8-bit grey (mode L).")
    return GreyPng(palette[:, 0][index], "palette")

