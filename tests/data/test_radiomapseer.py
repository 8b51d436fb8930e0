"""The RadioMapSeer loader reading folders the synthetic generator wrote."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radiodiff_lib.config import Config, DataConfig
from radiodiff_lib.data import build_dataset
from radiodiff_lib.data.radiomapseer import RadioMapSeer
from radiodiff_lib.data.synthetic import generate_scene
from radiodiff_lib.data.writer import write_radiomapseer_folder
from radiodiff_lib.errors import DataError, DataWarning
from tests.helpers.radiomapseer import reference_maps_inds, write_numbered_folder

SIZE, MAPS, TX, SEED = 64, 5, 3, 11


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rms") / "RadioMapSeer"
    return write_radiomapseer_folder(root, MAPS, SEED, size=SIZE, simulations=("DPM", "IRT2"), cars=True, tx_per_map=TX)


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


def test_writer_layout(folder):
    for m in range(MAPS):
        assert (folder / "png" / "buildings_complete" / f"{m}.png").is_file()
        assert (folder / "png" / "cars" / f"{m}.png").is_file()
        assert len(json.loads((folder / "antenna" / f"{m}.json").read_text())) == TX
        for t in range(TX):
            for sim in ("DPM", "IRT2", "carsDPM", "carsIRT2"):
                assert (folder / "gain" / sim / f"{m}_{t}.png").is_file()
            assert (folder / "png" / "antennas" / f"{m}_{t}.png").is_file()
    rows = list(csv.DictReader(open(folder / "dataset.csv")))
    assert len(rows) == MAPS * TX
    assert rows[0]["gain_DPM"] == "gain/DPM/0_0.png"
    dpm = np.asarray(Image.open(folder / "gain" / "DPM" / "0_1.png"), dtype=int)
    cars = np.asarray(Image.open(folder / "gain" / "carsDPM" / "0_1.png"), dtype=int)
    assert np.all(cars <= dpm)
    assert np.any(cars < dpm)  # cars only attenuate


def test_loader_reads_generated_folder(folder):
    sets = {s: RadioMapSeer(folder, s, image_size=SIZE) for s in ("train", "val", "test")}
    for name, ds in sets.items():
        assert ds.split_maps == list(ds.plan.split(name))
        assert set(ds.split_maps) <= set(range(MAPS))
        assert len(ds) == len(ds.split_maps) * TX  # every transmitter of every map of the split
    for ds in sets.values():
        for i in range(len(ds)):
            item = ds[i]
            m, t = map(int, item["name"].split("_"))
            assert (item["map"], item["transmitter"]) == (m, t) == ds.identity(i)
            if t != 0:
                continue
            scene = generate_scene(SEED, m, SIZE)  # transmitter 0 of map m is scene m
            gain = (item["image"][0].numpy() + 1) / 2
            assert np.abs(gain - scene.gain).max() <= 0.5 / 255 + 1e-6  # PNG quantisation only
            assert np.array_equal(item["buildings"][0].numpy() > 0, scene.buildings)
            assert item["tx"].tolist() == list(scene.tx)


def test_maps_numbered_from_one_are_read_by_file_number(tmp_path):
    one = write_radiomapseer_folder(tmp_path / "one", MAPS, SEED, size=SIZE, tx_per_map=TX, first_map=1)
    ds = RadioMapSeer(one, "train", image_size=SIZE)
    item = ds[0]
    m = ds.split_maps[0]
    assert item["name"] == f"{m}_0"
    scene = generate_scene(SEED, m - 1, SIZE)  # file number m holds scene m - 1
    assert np.abs((item["image"][0].numpy() + 1) / 2 - scene.gain).max() <= 0.5 / 255 + 1e-6


def test_buildings_polarity_is_detected_not_hard_coded(tmp_path, folder):
    root = _copy(folder, tmp_path)
    reference = RadioMapSeer(folder, "train", image_size=SIZE)[0]
    for png in (root / "png" / "buildings_complete").glob("*.png"):
        Image.fromarray(255 - np.asarray(Image.open(png))).save(png)  # buildings black now
    ds = RadioMapSeer(root, "train", image_size=SIZE)
    assert torch.equal(ds[0]["buildings"], reference["buildings"])
    assert ds._building_rule == "black"
    shutil.rmtree(root / "png" / "buildings_complete")  # no PNG: derived from the gains
    ds = RadioMapSeer(root, "train", image_size=SIZE)
    derived = ds[0]["buildings"] > 0
    assert ds._building_rule == "derived"
    assert torch.all(derived[reference["buildings"] > 0])  # every building pixel found
    assert torch.all((ds[0]["image"] == -1)[derived])


def test_resize_and_build_dataset(folder):
    cfg = Config(data=DataConfig(name="radio", root=str(folder), image_size=32))
    ds = build_dataset(cfg, "test")
    full = RadioMapSeer(folder, "test", image_size=SIZE)
    item, big = ds[0], full[0]
    assert item["image"].shape == (1, 32, 32)
    assert item["buildings"].shape == (1, 32, 32)
    assert torch.all(item["image"][item["buildings"] > 0] == -1.0)
    assert item["tx"].tolist() == pytest.approx([(v + 0.5) / 2 - 0.5 for v in big["tx"].tolist()])
    pooled = torch.nn.functional.avg_pool2d((big["image"] + 1) / 2, 2)
    street = item["buildings"][0] == 0
    diff = ((item["image"] + 1) / 2 - pooled)[0][street].abs()
    assert float(diff.max()) < 1e-5  # area averaging where no building pixel was zeroed
    assert len(build_dataset(cfg.__class__(data=DataConfig(name="radio", root=str(folder), cars=True,
                                                           simulation="IRT2")), "train")) == 3 * TX


def test_json_xy_order_checked_against_antenna_png(tmp_path, folder):
    root = _copy(folder, tmp_path)
    for path in (root / "antenna").glob("*.json"):
        path.write_text(json.dumps([[y, x] for x, y in json.loads(path.read_text())]))
    ds, ref = RadioMapSeer(root, "train", image_size=SIZE), RadioMapSeer(folder, "train", image_size=SIZE)
    assert [ds[i]["tx"].tolist() for i in range(3)] == [ref[i]["tx"].tolist() for i in range(3)]


def test_missing_folder_and_files_are_clear_errors(tmp_path, folder):
    with pytest.raises(DataError, match=r"not found: .*nowhere(.|\n)*gain/<DPM"):
        RadioMapSeer(tmp_path / "nowhere", "train")
    with pytest.raises(DataError, match=r"gain/IRT4(.|\n)*holds: DPM, IRT2, carsDPM, carsIRT2"):
        RadioMapSeer(folder, "train", simulation="IRT4")
    with pytest.raises(DataError, match="Unknown RadioMapSeer simulation"):
        RadioMapSeer(folder, "train", simulation="FDTD")
    root = _copy(folder, tmp_path)
    ds = RadioMapSeer(root, "train", image_size=SIZE)
    m, t = ds.items[0]
    (root / "antenna" / f"{m}.json").unlink()
    assert ds[0]["tx"].tolist() == RadioMapSeer(folder, "train", image_size=SIZE)[0]["tx"].tolist()  # from the PNG
    (root / "png" / "antennas" / f"{m}_{t}.png").unlink()
    with pytest.raises(DataError, match=rf"antenna/{m}\.json.*png/antennas/{m}_{t}\.png"):
        ds[0]
    (root / "gain" / "DPM" / f"{m}_{t}.png").unlink()
    with pytest.raises(DataError, match=rf"Missing file .*gain/DPM/{m}_{t}\.png"):
        ds[0]
    empty = tmp_path / "empty"
    (empty / "gain" / "DPM").mkdir(parents=True)
    with pytest.raises(DataError, match="No <map>_<tx>.png gain files"):
        RadioMapSeer(empty, "train")


def test_writer_and_split_errors(tmp_path):
    with pytest.raises(DataError, match="Unknown simulation 'FDTD'"):
        write_radiomapseer_folder(tmp_path / "x", 1, 0, size=32, simulations=("FDTD",))
    root = write_radiomapseer_folder(tmp_path / "two", 2, 0, size=32, tx_per_map=1)
    with pytest.warns(DataWarning, match="not the reference split"):  # said, not only in `radiodiff splits`
        assert len(RadioMapSeer(root, "train", image_size=32)) == 2  # two maps: both train ...
    with pytest.raises(DataError, match="'test' split .* is empty"):
        RadioMapSeer(root, "test", image_size=32)  # ... and a clear error for the empty test split
    with pytest.raises(DataError, match="Unknown data split"):
        RadioMapSeer(root, "dev")


def test_image_equals_radiodiff_radiounet_c_out_image(tmp_path):
    """For the same folder, map and transmitter our item's image is RadioUNet_c's out['image'], bit for bit."""
    from skimage import io  # RadioUNet_c reads the gain PNG with skimage.io.imread

    num_tx, size = 2, 16
    root = write_numbered_folder(tmp_path / "rms", range(701), transmitters=num_tx, size=size)
    maps_inds = reference_maps_inds()
    ind1, ind2 = 600, 699  # RadioUNet_c(phase="test") of RadioDiff
    every_value = np.arange(256, dtype=np.uint8).reshape(size, size)  # each 8-bit gain once
    Image.fromarray(every_value).save(root / "gain" / "DPM" / f"{maps_inds[ind1 + 3] + 1}_1.png")

    def reference_item(idx: int) -> tuple[str, torch.Tensor]:
        """RadioUNet_c.__getitem__(idx), its 'image' only, with its default transform spelled out."""
        idxr = int(np.floor(idx / num_tx))
        idxc = idx - idxr * num_tx
        dataset_map_ind = maps_inds[idxr + ind1] + 1
        name2 = str(dataset_map_ind) + "_" + str(idxc) + ".png"
        image_gain = np.expand_dims(np.asarray(io.imread(root / "gain" / "DPM" / name2)), axis=2) / 255
        image_gain = torch.from_numpy(image_gain.transpose((2, 0, 1))).contiguous()  # ToTensor: HWC -> CHW, float kept
        image_gain = image_gain.type(torch.float32)
        return name2, (image_gain - 0.5) / 0.5  # Normalize(mean=[0.5], std=[0.5])

    ours = RadioMapSeer(root, "test", image_size=size, protocol="radiodiff")
    assert len(ours) == (ind2 - ind1 + 1) * num_tx  # RadioUNet_c.__len__
    index_of = {ours.identity(i): i for i in range(len(ours))}
    for idx in range(len(ours)):
        name2, expected = reference_item(idx)
        item = ours[index_of[tuple(int(v) for v in name2[:-4].split("_"))]]
        assert item["name"] + ".png" == name2
        assert torch.equal(item["image"], expected), name2
