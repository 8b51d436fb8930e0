"""RadioMapSeer's split protocols against the reference written out in tests/helpers/radiomapseer.py."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiodiff_lib import cli
from radiodiff_lib.config import Config, DataConfig, replace
from radiodiff_lib.data import build_dataset, plan_split
from radiodiff_lib.errors import ConfigError, DataError
from tests.helpers.radiomapseer import reference_maps_inds, reference_split, write_gain_names

ALL_MAPS = range(701)  # the data set as it ships: maps 0..700


@pytest.fixture(scope="module")
def names_folder(tmp_path_factory) -> Path:
    """701 maps numbered 0..700, one transmitter each, as empty files (the split reads names only)."""
    return write_gain_names(tmp_path_factory.mktemp("names") / "RadioMapSeer", ALL_MAPS)


def _pairs(split: dict[str, list[int]]) -> dict[str, list[int]]:
    return {f"{a}&{b}": sorted(set(split[a]) & set(split[b]))
            for a, b in (("train", "val"), ("train", "test"), ("val", "test"))}


@pytest.mark.parametrize("protocol, sizes", [("radiodiff", (601, 51, 100)), ("radiounet", (501, 100, 99))])
def test_splits_command_gives_the_reference_maps(names_folder, tmp_path, capsys, protocol, sizes):
    out = tmp_path / "split.json"
    assert cli.main(["splits", str(names_folder), "--protocol", protocol, "--json", str(out)]) == 0
    got = json.loads(out.read_text())
    ref = reference_split(protocol)
    for name in ("train", "val", "test"):
        assert got[name] == ref[name], name
    assert (len(got["train"]), len(got["val"]), len(got["test"])) == sizes
    assert got["overlaps"] == _pairs(ref)
    assert got["missing"] == []
    assert got["reference"] is True
    assert got["maps"] == 701
    assert got["unused"] == [0]  # the reference never reads map 0
    assert got["protocol"] == protocol
    assert "the reference split by map file number" in capsys.readouterr().out


def test_radiodiff_overlaps_itself_exactly_as_the_reference():
    plan = plan_split(ALL_MAPS, "radiodiff")
    shared = int(reference_maps_inds()[600]) + 1  # position 600 is in all three splits
    overlaps = plan.overlaps()
    assert overlaps["train&val"] == (shared,)
    assert overlaps["train&test"] == (shared,)
    assert set(plan.val) <= set(plan.test)
    assert plan_split(ALL_MAPS, "radiounet").overlaps() == {"train&val": (), "train&test": (), "val&test": ()}


def test_missing_maps_leave_every_other_map_in_place():
    ref = reference_split("radiodiff")
    gone = {ref["test"][0], ref["train"][5], ref["train"][300]}
    plan = plan_split([m for m in ALL_MAPS if m not in gone], "radiodiff")
    assert plan.reference is True
    assert plan.complete is False
    assert plan.missing == tuple(sorted(gone))
    for name in ("train", "val", "test"):
        assert list(plan.split(name)) == [m for m in ref[name] if m not in gone], name
    assert "3 of its 700 maps missing" in plan.describe()


def test_a_folder_without_map_0_is_the_complete_reference():
    plan = plan_split(range(1, 701), "radiounet")
    assert plan.complete is True
    assert plan.unused == ()
    assert list(plan.test) == reference_split("radiounet")["test"]


def test_a_folder_too_small_for_the_reference_is_split_by_proportion_and_says_so():
    maps = reference_split("radiounet")["train"][:10]  # no val or test map of the reference at all
    plan = plan_split(maps, "radiounet")
    assert plan.reference is False
    assert (len(plan.train), len(plan.val), len(plan.test)) == (8, 1, 1)
    assert sorted(plan.train + plan.val + plan.test) == sorted(maps)  # disjoint and covering
    assert "not the reference split" in plan.describe()
    assert plan_split(maps, "radiounet") == plan  # deterministic
    two = plan_split(maps[:2], "radiodiff")
    assert (two.train, two.val, two.test) == (tuple(sorted(maps[:2])), (), ())  # too few to hold any out


def test_planning_leaves_the_global_numpy_rng_alone():
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    plan_split(ALL_MAPS, "radiodiff")
    assert np.array_equal(np.random.get_state()[1], before)


def test_unknown_protocol_is_refused_in_config_and_planner():
    with pytest.raises(ConfigError, match="data.split_protocol must be radiodiff or radiounet"):
        replace(Config(), **{"data.split_protocol": "random"})
    with pytest.raises(DataError, match="Unknown split protocol 'random'"):
        plan_split(ALL_MAPS, "random")
    assert Config().data.split_protocol == "radiodiff"


@pytest.mark.parametrize("protocol", ["radiodiff", "radiounet"])
def test_build_dataset_trains_on_the_protocols_train_split(tmp_path, protocol):
    root = write_gain_names(tmp_path / "rms", ALL_MAPS)
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(root / "gain" / "DPM" / "0_0.png")  # the size probe
    cfg = Config(data=DataConfig(name="radio", root=str(root), image_size=16, split_protocol=protocol))
    for split, maps in reference_split(protocol).items():
        ds = build_dataset(cfg, split)
        assert ds.split_maps == maps, split
        assert [ds.identity(i) for i in range(3)] == [(m, 0) for m in maps[:3]]


def test_splits_command_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["splits", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "RadioMapSeer folder not found" in err
    assert err.count("\n") == 1
    (tmp_path / "gain" / "DPM").mkdir(parents=True)
    assert cli.main(["splits", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "No <map>_<tx>.png gain files" in err
    assert err.count("\n") == 1


def test_split_change_says_when_a_resume_trains_on_other_maps(tmp_path):
    from radiodiff_lib.data import split_record
    from radiodiff_lib.data.records import split_change

    root = write_gain_names(tmp_path / "rms", ALL_MAPS)
    Image.fromarray(np.full((16, 16), 7, np.uint8)).save(root / "gain" / "DPM" / "0_0.png")
    records = {p: split_record(build_dataset(Config(data=DataConfig(name="radio", root=str(root), image_size=16,
                                                                    split_protocol=p)), "train"))
               for p in ("radiodiff", "radiounet")}
    assert split_change(records["radiodiff"], records["radiodiff"]) is None
    changed = split_change(records["radiodiff"], records["radiounet"])
    assert changed == ("training maps changed on resume: the checkpoint trained on the radiodiff protocol's 601 train "
                       "maps of 701, this launch trains on the radiounet protocol's 501 train maps of 701.")
    assert "records no training maps" in split_change(None, records["radiounet"])
    synthetic = split_record(build_dataset(Config(data=DataConfig(num_maps=20, image_size=16)), "train"))
    assert split_change(None, synthetic) is None
