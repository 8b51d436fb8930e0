"""End to end: evaluate checkpoints written by the trainer and in RadioDiff's layout."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from radiodiff_lib import cli
from radiodiff_lib.config import replace, resolve_config, save_config
from radiodiff_lib.errors import ConfigError, DataError
from radiodiff_lib.evaluation import evaluate_checkpoint
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
    assert payload["n_maps"] == 4 and payload["checkpoint_format"] == "workbench"
    for section in ("metrics", "metrics_street"):
        assert set(payload[section]) == set(METRICS)
        for stats in payload[section].values():
            assert {"mean", "median", "p5", "p95"} <= set(stats)
    latent = payload["latent"]
    assert len(latent["mean"]) == len(latent["std"]) == 3 and latent["scale_factor"] > 0
    assert payload["seconds_per_map"] > 0
    for name in ("examples.png", "histograms.png"):
        assert (figs / name).read_bytes()[:4] == b"\x89PNG"


def test_evaluation_is_deterministic_and_consistent(trained):
    a = evaluate_checkpoint(trained, n=5, batch_size=2, seed=3)
    b = evaluate_checkpoint(trained, n=5, batch_size=4, seed=3)
    assert a.n_maps == 5 and list(a.per_map.columns) == (
        ["index", "name", "map", "transmitter"] + list(METRICS) + [m + "_street" for m in METRICS])
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
    assert a.examples[0].nmse == a.per_map.nmse.min() and a.examples[2].nmse == a.per_map.nmse.max()
    assert a.examples[1].input.shape == (32, 32) and 0 <= a.examples[1].reconstruction.min()
    # The example arrays are the maps measured: recomputing NMSE from them gives the table's value.
    e = a.examples[2]
    assert ((e.reconstruction - e.input) ** 2).sum() / (e.input**2).sum() == pytest.approx(e.nmse, rel=1e-4)
    # Another seed picks other maps.
    c = evaluate_checkpoint(trained, n=5, seed=4)
    assert c.per_map["index"].tolist() != a.per_map["index"].tolist()


def test_ema_weights_evaluate(trained):
    r = evaluate_checkpoint(trained, n=2, use_ema=True)
    assert r.use_ema and r.n_maps == 2 and "EMA" in r.summary_text()


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
    assert r.n_maps == 3 and r.to_json()["checkpoint_format"] == "radiodiff"
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
    assert r.n_maps == 3 and r.data == str(root) and "RadioMapSeer folder" in r.summary_text()
    assert r.per_map["nmse_street"].notna().all()
