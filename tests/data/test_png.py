"""PNGs are checked, not guessed: palette, colour, size, special files and decompression bombs (issue 22)."""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiodiff_lib.data import RadioMapSeer
from radiodiff_lib.errors import DataError, DataWarning
from tests.helpers.radiomapseer import tiny_gain, write_numbered_folder

SIZE = 16


@pytest.fixture
def folder(tmp_path) -> Path:
    """Twelve tiny maps, one transmitter each; every one of them read through the train split below."""
    return write_numbered_folder(tmp_path / "rms", range(1, 13), transmitters=1, size=SIZE)


def _all_maps(root: Path) -> RadioMapSeer:
    return RadioMapSeer(root, "train", image_size=SIZE)


def _gain_path(ds: RadioMapSeer, i: int = 0) -> Path:
    m, t = ds.items[i]
    return ds.gain_dir / f"{m}_{t}.png"


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def test_grey_palette_is_read_through_its_palette_and_said_once(folder):
    ds = _all_maps(folder)
    gains = []
    for i in (0, 1):  # two palette PNGs: gain = 4 * index, stored as indices 0..63
        path = _gain_path(ds, i)
        gain = (np.asarray(Image.open(path)) // 4) * 4
        gains.append(gain)
        img = Image.fromarray((gain // 4).astype(np.uint8), mode="P")
        img.putpalette([v for k in range(256) for v in (4 * k % 256,) * 3])
        img.save(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        items = [ds[0], ds[1]]
    for item, gain in zip(items, gains):
        assert np.array_equal(np.rint((item["image"][0].numpy() + 1) / 2 * 255), gain)  # the gains, not the indices
    said = [w for w in caught if issubclass(w.category, DataWarning)]
    assert len(said) == 1
    assert "grey palette images read through their palette" in str(said[0].message)
    assert set(ds.conversions) == {"palette"}  # reads counted by kind


def test_colour_palette_and_rgb_with_different_channels_are_refused(folder):
    ds = _all_maps(folder)
    path = _gain_path(ds)
    img = Image.fromarray(np.arange(SIZE * SIZE, dtype=np.uint8).reshape(SIZE, SIZE) % 64, mode="P")
    img.putpalette([v for k in range(256) for v in (k, 255 - k, 0)])  # a colour map
    img.save(path)
    with pytest.raises(DataError, match="palette PNG with coloured entries") as exc:
        ds[0]
    _one_line(exc)
    rgb = np.stack([tiny_gain(np.random.default_rng(1), SIZE)] * 3, axis=-1)
    rgb[..., 1] //= 2  # green differs from red: a colour-mapped picture
    Image.fromarray(rgb, mode="RGB").save(path)
    with pytest.raises(DataError, match="colour channels differ") as exc:
        ds[0]
    _one_line(exc)


def test_rgb_with_equal_channels_is_its_grey_map(folder):
    ds = _all_maps(folder)
    path = _gain_path(ds)
    gain = np.asarray(Image.open(path))
    Image.fromarray(np.stack([gain] * 3, axis=-1), mode="RGB").save(path)
    with pytest.warns(DataWarning, match="three equal channels"):
        item = ds[0]
    assert np.array_equal(np.rint((item["image"][0].numpy() + 1) / 2 * 255), gain)


def test_a_map_of_another_size_is_refused_never_stretched(folder):
    ds = _all_maps(folder)
    for shape in ((1, 1), (SIZE, SIZE // 2)):
        Image.fromarray(np.full(shape, 200, np.uint8)).save(_gain_path(ds))
        with pytest.raises(DataError, match=rf"is {shape[0]}x{shape[1]} pixels, the other maps of its folder are "
                                            rf"{SIZE}x{SIZE}") as exc:
            ds[0]
        _one_line(exc)


def test_a_buildings_png_of_another_size_is_refused_like_a_gain(folder):
    """Every PNG is read at the folder's map size, so a mask and a gain never differ in shape."""
    ds = _all_maps(folder)
    (folder / "png" / "buildings_complete").mkdir(parents=True)
    Image.fromarray(np.zeros((SIZE, SIZE // 2), np.uint8)).save(folder / "png" / "buildings_complete" / "1.png")
    with pytest.raises(DataError, match=rf"1.png is {SIZE}x{SIZE // 2} pixels, the other maps of its folder are "):
        ds[0]


def test_a_folder_of_non_square_maps_is_refused(tmp_path):
    root = write_numbered_folder(tmp_path / "rms", range(1, 4), size=SIZE)
    for path in (root / "gain" / "DPM").glob("*.png"):
        Image.fromarray(np.full((SIZE, SIZE + 4), 9, np.uint8)).save(path)
    with pytest.raises(DataError, match="RadioMapSeer maps are square") as exc:
        RadioMapSeer(root, "train", image_size=SIZE)
    _one_line(exc)


def test_a_fifo_as_a_gain_png_is_refused_at_once(folder):
    """In a subprocess: before the check, opening the FIFO blocked forever."""
    ds = _all_maps(folder)
    path = _gain_path(ds)
    path.unlink()
    os.mkfifo(path)
    code = textwrap.dedent(f"""
        from radiodiff_lib.data import RadioMapSeer
        from radiodiff_lib.errors import DataError
        try:
            RadioMapSeer({str(folder)!r}, "train", image_size={SIZE})[0]
        except DataError as exc:
            print("DataError:", exc)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert "DataError:" in done.stdout, done.stderr
    assert "is a named pipe (FIFO), not a regular file" in done.stdout


def test_a_device_or_folder_as_a_gain_png_is_refused(folder):
    ds = _all_maps(folder)
    path = _gain_path(ds)
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="is a character device, not a regular file") as exc:
        ds[0]
    _one_line(exc)
    path.unlink()
    path.mkdir()
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        ds[0]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG that declares width x height pixels (8-bit grey) and holds almost no data: a bomb's header."""
    chunk = _chunk
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_one_line(folder, tmp_path):
    ds = _all_maps(folder)
    _png_header_only(_gain_path(ds), 20000, 20000)
    with pytest.raises(DataError, match="too large to be a radio map") as exc:
        ds[0]
    _one_line(exc)
    from radiodiff_lib.data.png import read_grey_png  # the reader alone, with no expected size to stop it first

    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 20000)
    with pytest.raises(DataError, match="too large to be a radio map"):
        read_grey_png(bomb)


def test_corrupt_pngs_are_one_line_data_errors(tmp_path):
    """Seeded corruptions of a grey PNG (bytes changed, cut, inserted): read, or refused in one line, never a traceback."""
    import io
    import random

    from radiodiff_lib.data.png import read_grey_png

    buf = io.BytesIO()
    Image.fromarray(tiny_gain(np.random.default_rng(0), 32)).save(buf, "PNG")
    good, path, rng = buf.getvalue(), tmp_path / "map.png", random.Random(0)
    refused = 0
    for _ in range(400):
        data = bytearray(good)
        i = rng.randrange(len(data))
        data = [data[:i] + bytes([rng.randrange(256)]) + data[i + 1:], data[:i],
                data[:i] + rng.randbytes(rng.randint(1, 20)) + data[i:]][rng.randrange(3)]
        path.write_bytes(bytes(data))
        try:
            assert read_grey_png(path).pixels.shape == (32, 32)
        except DataError as exc:
            assert "\n" not in str(exc)
            refused += 1
    assert refused > 200  # most corruptions are caught, by the CRC checks or the decoder


def test_a_broken_chunk_between_image_data_chunks_is_a_data_error(tmp_path):
    """Pillow raises SyntaxError("broken PNG file") for it while decoding: a DataError here."""
    from radiodiff_lib.data.png import read_grey_png

    size = 32
    rows = b"".join(b"\x00" + bytes(range(size)) for _ in range(size))  # filter byte 0, then the pixels
    data = zlib.compress(rows)
    ihdr = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", data[:20])
                     + _chunk(b"\xec\x97e\xdb", data[20:]) + _chunk(b"IEND", b""))
    with pytest.raises(DataError, match="Cannot read .*broken.png as a PNG image") as exc:
        read_grey_png(path)
    _one_line(exc)
