"""End to end: evaluate checkpoints written by the trainer and in RadioDiff's layout."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from radiodiff_lib import cli
from radiodiff_lib.config import replace, resolve_config, save_config
from radiodiff_lib.errors import ConfigError, DataError
from radiodiff_lib.evaluation import evaluate_checkpoint
from radiodiff_lib.evaluation import evaluate as E
from radiodiff_lib.plots import write_evaluation_figures

METRICS = ("nmse", "rmse", "ssim", "psnr")


def _tiny_config():
    return replace(resolve_config("demo"), **{
        "data.image_size": 32, "data.num_maps": 80, "data.batch_size": 2,
        "model.ddconfig.resolution": [32, 32], "model.ddconfig.ch": 32,
        "trainer.train_num_steps": 2, "trainer.save_and_sample_every": 2, "trainer.log_freq": 1,
        "trainer.ema_update_every": 1,
    })


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint of our format, trained 2 steps by the trainer."""
    from radiodiff_lib.training import train

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("run")
    result = train(_tiny_config(), max_steps=2, results_folder=folder, progress=False)
    assert result.last_checkpoint is not None
    return result.last_checkpoint


def test_cli_evaluate_writes_figures_and_json(trained, tmp_path):
    out, figs = tmp_path / "eval.json", tmp_path / "figs"
    rc = cli.main(["evaluate", str(trained), "--n", "4", "--figures", str(figs), "--json", str(out)])
    assert rc == 0
    payload = json.loads(out.read_text())  # strict: no bare Infinity/NaN
    json.dumps(payload, allow_nan=False)
    assert payload["n_maps"] == 4
    assert payload["checkpoint_format"] == "workbench"
    for section in ("metrics", "metrics_street"):
        assert set(payload[section]) == set(METRICS)
        for stats in payload[section].values():
            assert {"mean", "median", "p5", "p95"} <= set(stats)
    latent = payload["latent"]
    assert len(latent["mean"]) == len(latent["std"]) == 3
    assert latent["scale_factor"] > 0
    assert payload["seconds_per_map"] > 0
    for name in ("examples.png", "histograms.png"):
        assert (figs / name).read_bytes()[:4] == b"\x89PNG"


def test_evaluation_is_deterministic_and_consistent(trained):
    a = evaluate_checkpoint(trained, n=5, batch_size=2, seed=3)
    b = evaluate_checkpoint(trained, n=5, batch_size=4, seed=3)
    assert a.n_maps == 5
    assert (list(a.per_map.columns) == (
        ["index", "name", "map", "transmitter"] + list(METRICS) + [m + "_street" for m in METRICS]))
    cols = list(METRICS) + [m + "_street" for m in METRICS]
    pd.testing.assert_frame_equal(a.per_map[["index", "name"]], b.per_map[["index", "name"]])
    np.testing.assert_allclose(a.per_map[cols].to_numpy(), b.per_map[cols].to_numpy(), rtol=1e-5)
    assert a.latent["scale_factor"] == pytest.approx(b.latent["scale_factor"], rel=1e-5)
    # A few-step VAE is far from perfect but its numbers are real ones.
    assert ((a.per_map.nmse > 0) & np.isfinite(a.per_map.nmse)).all()
    assert ((a.per_map.ssim > -1) & (a.per_map.ssim < 1)).all()
    # Aggregates are those of the per-map table; examples are the best / median / worst by NMSE.
    assert a.metrics["nmse"]["median"] == pytest.approx(float(np.median(a.per_map.nmse)))
    assert [e.label for e in a.examples] == ["best", "median", "worst"]
    assert a.examples[0].nmse == a.per_map.nmse.min()
    assert a.examples[2].nmse == a.per_map.nmse.max()
    assert a.examples[1].input.shape == (32, 32)
    assert 0 <= a.examples[1].reconstruction.min()
    # The example arrays are the maps measured: recomputing NMSE from them gives the table's value.
    e = a.examples[2]
    assert ((e.reconstruction - e.input) ** 2).sum() / (e.input**2).sum() == pytest.approx(e.nmse, rel=1e-4)
    # Another seed picks other maps.
    c = evaluate_checkpoint(trained, n=5, seed=4)
    assert c.per_map["index"].tolist() != a.per_map["index"].tolist()


def test_ema_weights_evaluate(trained):
    r = evaluate_checkpoint(trained, n=2, use_ema=True)
    assert r.use_ema
    assert r.n_maps == 2
    assert "EMA" in r.summary_text()


def test_radiodiff_layout_checkpoint_with_given_config(tmp_path):
    from radiodiff_lib.checkpoints.radiodiff import save_radiodiff_layout
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss

    torch.set_num_threads(1)
    cfg = _tiny_config()
    torch.manual_seed(0)
    path = save_radiodiff_layout(tmp_path / "model-1.pt", build_model(cfg), build_loss(cfg), step=7)
    config_path = save_config(cfg, tmp_path / "tiny.yaml")
    r = evaluate_checkpoint(path, config=str(config_path), n=3)
    write_evaluation_figures(r, tmp_path / "figs")
    assert r.n_maps == 3
    assert r.to_json()["checkpoint_format"] == "radiodiff"
    assert set(r.figures) == {"examples", "histograms"}
    assert all(math.isfinite(r.metrics[m]["mean"]) for m in METRICS)


def test_user_errors(trained, tmp_path):
    with pytest.raises(ConfigError, match="at least one map"):
        evaluate_checkpoint(trained, n=0)
    with pytest.raises(DataError, match="no such folder"):
        evaluate_checkpoint(trained, data=str(tmp_path / "missing"))


def test_radiomapseer_folder(trained, tmp_path):
    from radiodiff_lib.data.writer import write_radiomapseer_folder

    root = write_radiomapseer_folder(tmp_path / "RadioMapSeer", num_maps=3, seed=0, size=32)
    r = evaluate_checkpoint(trained, data=str(root), split="test", n=3)
    assert r.n_maps == 3
    assert r.data == str(root)
    assert "RadioMapSeer folder" in r.summary_text()
    assert r.per_map["nmse_street"].notna().all()


# --- training maps and split protocols ---------------------------------------------------------------

def _radio_config(root, protocol: str):
    return replace(_tiny_config(), **{"data.name": "radio", "data.root": str(root), "data.split_protocol": protocol})


@pytest.fixture(scope="module")
def numbered_folder(tmp_path_factory):
    """Maps 0..700 as the data set ships them, one 32 x 32 transmitter each."""
    from tests.helpers.radiomapseer import write_numbered_folder

    return write_numbered_folder(tmp_path_factory.mktemp("rms") / "RadioMapSeer", range(701), transmitters=1, size=32)


@pytest.fixture(scope="module")
def radiounet_run(numbered_folder, tmp_path_factory):
    """Our checkpoint, trained 2 steps on the radiounet protocol's train split of the 701-map folder, through
    `radiodiff train --protocol radiounet` on a config that says radiodiff (the option overrides it)."""
    from radiodiff_lib import checkpoints as ckpt

    folder = tmp_path_factory.mktemp("radiounet-run")
    config = save_config(_radio_config(numbered_folder, "radiodiff"), folder.parent / "radiodiff-protocol.yaml")
    assert cli.main(["train", "--config", str(config), "--protocol", "radiounet", "--max-steps", "2",
                     "--results-folder", str(folder), "--no-progress"]) == 0
    return ckpt.list_checkpoints(folder)[-1]


def test_radiodiff_checkpoint_scores_99_radiodiff_test_maps_and_names_the_training_map(numbered_folder, tmp_path,
                                                                                       capsys):
    from radiodiff_lib.checkpoints.radiodiff import save_radiodiff_layout
    from radiodiff_lib.model import build_model
    from radiodiff_lib.model.losses import build_loss
    from tests.helpers.radiomapseer import reference_maps_inds, reference_split

    cfg = _tiny_config()
    torch.manual_seed(0)
    path = save_radiodiff_layout(tmp_path / "model-3.pt", build_model(cfg), build_loss(cfg), step=3)
    out = tmp_path / "eval.json"
    rc = cli.main(["evaluate", str(path), "--config", str(save_config(cfg, tmp_path / "tiny.yaml")),
                   "--data", str(numbered_folder), "--json", str(out)])
    assert rc == 0
    payload = json.loads(out.read_text())
    shared = int(reference_maps_inds()[600]) + 1  # position 600: in RadioDiff's train and test splits
    assert payload["protocol"] == "radiodiff"
    assert payload["maps"] == 99
    assert payload["transmitters"] == 99
    assert payload["excluded_train_maps"] == [shared]
    assert payload["includes_train_maps"] is False
    assert payload["training_maps"]["basis"] == "assumed"
    scored = sorted(row["map"] for row in payload["by_map"])
    assert scored == sorted(set(reference_split("radiodiff")["test"]) - {shared})
    text = capsys.readouterr().out
    assert f"Left out 1 test map the checkpoint trained on: {shared}" in text
    assert "assumed: a RadioDiff checkpoint records no split" in text


def test_our_radiounet_checkpoint_records_its_split(radiounet_run):
    from radiodiff_lib.safe_load import torch_load_safely
    from tests.helpers.radiomapseer import reference_split

    record = torch_load_safely(radiounet_run)["data_split"]
    train_maps = reference_split("radiounet")["train"]
    text = ",".join(str(m) for m in train_maps)  # the hash of the sorted file numbers, as the README says
    assert record["protocol"] == "radiounet"
    assert record["root_maps"] == 701
    assert record["train_maps"] == 501
    assert record["train_map_list"] == train_maps
    assert record["train_maps_hash"] == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert record["reference"] is True


def test_our_radiounet_checkpoint_scores_99_test_maps_and_excludes_none(radiounet_run, numbered_folder):
    r = evaluate_checkpoint(radiounet_run, data=str(numbered_folder))
    assert r.protocol == "radiounet"  # the checkpoint's own protocol by default
    assert r.maps == 99
    assert r.excluded_train_maps == []
    assert "None of the scored maps is a training map" in r.summary_text()
    assert r.to_json()["training_maps"]["protocol"] == "radiounet"
    assert r.training_basis == "recorded"


def test_another_protocol_counts_the_overlap_and_include_keeps_it_labelled(radiounet_run, numbered_folder):
    from tests.helpers.radiomapseer import reference_split

    radiodiff_train = reference_split("radiodiff")["train"]
    overlap = sorted(set(radiodiff_train) & set(reference_split("radiounet")["train"]))
    assert len(overlap) == 501  # RadioUNet's train split lies inside RadioDiff's
    r = evaluate_checkpoint(radiounet_run, data=str(numbered_folder), protocol="radiodiff", split="train")
    assert r.excluded_train_maps == overlap
    assert r.maps == 601 - 501
    assert "trained on the radiounet protocol, this is the radiodiff train split" in r.summary_text()
    kept = evaluate_checkpoint(radiounet_run, data=str(numbered_folder), protocol="radiodiff", split="train", n=30,
                               include_train_maps=True)
    scored_training_maps = sorted(set(kept.per_map["map"]) & set(overlap))
    assert scored_training_maps  # 30 of 601 maps, 501 of them training maps
    assert kept.included_train_maps == scored_training_maps
    assert kept.excluded_train_maps == []
    assert kept.to_json()["includes_train_maps"] is True
    assert kept.summary_text().startswith("[includes training maps]")


def test_every_map_a_training_map_is_refused_unless_included(radiounet_run, numbered_folder, trained):
    with pytest.raises(DataError, match="every map of the train split .* is a map the checkpoint trained on"):
        evaluate_checkpoint(radiounet_run, data=str(numbered_folder), split="train", n=2)
    with pytest.raises(DataError, match="every map of the train split"):
        evaluate_checkpoint(trained, split="train", n=2)  # synthetic: its own split, the same rule
    r = evaluate_checkpoint(trained, split="train", n=2, include_train_maps=True)
    assert r.includes_train_maps is True


def test_per_item_table_names_map_and_transmitter_and_per_map_means_follow(trained, tmp_path):
    from radiodiff_lib.data.writer import write_radiomapseer_folder

    root = write_radiomapseer_folder(tmp_path / "RadioMapSeer", num_maps=12, seed=0, size=32, tx_per_map=3)
    r = evaluate_checkpoint(trained, data=str(root), split="train")
    assert r.per_map[["map", "transmitter"]].value_counts().max() == 1  # each item once
    assert set(r.per_map["transmitter"]) == {0, 1, 2}
    for _, row in r.by_map.iterrows():
        mine = r.per_map[r.per_map["map"] == row["map"]]
        assert row["transmitters"] == len(mine) == 3
        assert row["nmse"] == pytest.approx(mine["nmse"].mean())
    assert r.metrics_by_map["nmse"]["mean"] == pytest.approx(r.by_map["nmse"].mean())
    assert r.metrics_by_map["nmse"]["maps"] == r.maps == len(r.by_map)
    assert r.metrics["nmse"]["maps"] == r.maps
    assert f"mean over {r.maps} maps" in r.summary_text()


def test_a_checkpoint_without_split_record_inspects_as_unknown_evaluates_and_resumes(radiounet_run, numbered_folder,
                                                                                   tmp_path):
    import shutil

    from radiodiff_lib import checkpoints as ckpt
    from radiodiff_lib.safe_load import torch_load_safely
    from radiodiff_lib.training import resume

    row = ckpt.inspect_checkpoints(radiounet_run).iloc[0]
    assert (row["protocol"], row["data_maps"], row["train_maps"]) == ("radiounet", 701, 501)
    assert row["train_maps_hash"].startswith("sha256:")
    assert "radiounet" in ckpt.inspect_table_text(ckpt.inspect_checkpoints(radiounet_run))

    folder = Path(shutil.copytree(radiounet_run.parent, tmp_path / "old-run"))
    old = folder / radiounet_run.name
    state = torch_load_safely(old)
    del state["data_split"]  # as written before checkpoints recorded their split
    ckpt.save_checkpoint(old, state)
    row = ckpt.inspect_checkpoints(old).iloc[0]
    assert row["protocol"] == "unknown"
    assert row["integrity"] == "ok"
    r = evaluate_checkpoint(old, data=str(numbered_folder), n=3)
    assert r.overlap_known is False
    assert "unknown: the checkpoint records no training maps" in r.summary_text()
    resumed = resume(folder, max_steps=3, progress=False)
    assert resumed.last_checkpoint is not None
    assert torch_load_safely(resumed.last_checkpoint)["data_split"]["protocol"] == "radiounet"


def test_an_old_synthetic_checkpoint_has_its_training_maps_recomputed_from_its_config(trained, tmp_path):
    from radiodiff_lib import checkpoints as ckpt
    from radiodiff_lib.safe_load import torch_load_safely

    state = torch_load_safely(trained)
    del state["data_split"]
    old = ckpt.save_checkpoint(tmp_path / "model-1.pt", state)
    with pytest.raises(DataError, match="every map of the train split"):
        evaluate_checkpoint(old, split="train", n=2)
    r = evaluate_checkpoint(old, split="train", n=2, include_train_maps=True)
    assert r.training_basis == "recomputed"
    assert r.included_train_maps == sorted(r.per_map["map"])


def test_latent_stats_match_torch_over_batches():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 3, 4, 4, generator=g) * torch.tensor([1.0, 2.0, 0.5])[None, :, None, None] + 0.3
    stats = E.LatentStats()
    for part in z.split(2):  # batches of 2, 2, 1
        stats.update(part)
    out = stats.result()
    per_channel = z.double().permute(1, 0, 2, 3).reshape(3, -1)
    assert out["mean"] == pytest.approx(per_channel.mean(1).tolist(), rel=1e-12)
    assert out["std"] == pytest.approx(per_channel.std(1).tolist(), rel=1e-12)
    # latent-diffusion convention: scale_factor = 1 / z.flatten().std()
    assert out["scale_factor"] == pytest.approx(1.0 / z.double().flatten().std().item(), rel=1e-12)
    assert out["channels"] == 3
    assert out["shape"] == [3, 4, 4]


def test_to_unit_maps_and_clamps():
    x = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0])
    assert E.to_unit(x).tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]


def test_pick_indices_is_deterministic_per_seed():
    assert E._pick_indices(10, None, 0) == list(range(10))
    assert E._pick_indices(10, 50, 0) == list(range(10))
    a, b, c = E._pick_indices(100, 5, 0), E._pick_indices(100, 5, 0), E._pick_indices(100, 5, 1)
    assert a == b
    assert a != c
    assert len(set(a)) == 5
    assert a == sorted(a)


def test_example_rows_leave_nan_out_and_follow_the_metrics_direction():
    values = [0.3, np.nan, 0.1, np.inf, 0.2]
    assert E.example_rows(values) == [2, 4, 3]  # best, median, worst: lowest first; inf (no signal) is the worst
    assert E.example_rows(values, lower_is_better=False) == [3, 0, 2]  # PSNR: inf (a perfect map) is the best
    assert E.example_rows([np.nan, np.nan]) == []
