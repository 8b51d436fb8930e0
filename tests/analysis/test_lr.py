"""The LR where RadioDiff's log lost its digits (issue 18): reconstructed from the config as each of its
trainers computes it, checked against the printed values, and the decay that makes a flat loss mean little."""
from __future__ import annotations

import json

import numpy as np
import pytest

from radiodiff_lib.analysis import analyze, to_json
from radiodiff_lib.analysis.lr import curve, multiplier
from radiodiff_lib.logs import read_run
from tests.helpers.ldmfactory import ldm_config, write_ldm_log
from tests.helpers.logfactory import default_values, radiodiff_config, write_radiodiff_log, write_workbench_folder
from tests.helpers.researcher import resumed_at_35000, vae_lr


@pytest.fixture(scope="module")
def printed_zero(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_Vae")
    want = resumed_at_35000(folder)
    a = analyze(read_run(folder))
    return a, json.loads(json.dumps(to_json(a), allow_nan=False)), want


def test_the_log_prints_this_lr_as_zero(printed_zero):
    a, j, want = printed_zero
    assert j["lr_schedule"]["max"] == 0.0
    assert a.diagnostic("lr_not_logged") is not None


def test_first_stage_lr_reconstructed_as_train_vae_computes_it(printed_zero):
    a, j, want = printed_zero
    rec = j["lr_schedule"]["reconstructed"]
    assert rec["trainer"] == "train_vae.py"
    assert rec["agrees_with_log"] is True
    assert rec["first"] == pytest.approx(vae_lr(35000), rel=1e-12)
    assert rec["latest"] == pytest.approx(vae_lr(149900), rel=1e-12)
    (launch,) = rec["launches"]
    assert (launch["lr"], launch["min_lr"], launch["train_num_steps"], launch["exponent"]) == (5e-6, 5e-7, 150000, 0.95)


def test_min_lr_is_a_floor_on_the_multiplier_not_on_the_lr():
    # min_lr 5e-7 as a multiplier: the LR of a 5e-6 run falls far below 5e-7 near the end
    m = multiplier([0, 149990, 150000], 150000, 5e-7, 0.95)
    assert m[0] == 1.0
    assert 5e-6 * m[1] < 5e-7
    assert m[2] == 5e-7


def test_the_decayed_lr_is_flagged_where_the_loss_is_flat(printed_zero):
    a, j, want = printed_zero
    d = a.diagnostic("lr_decayed")
    assert d.severity == "warning"  # rec_loss is flat over its last window there
    assert d.evidence["main_loss_status"] == "flat"
    # the first step whose LR is below 10% of 5e-6: (1 - s/T)^0.95 < 0.1
    assert d.evidence["since_step"] == next(s for s in range(35000, 150000) if vae_lr(s) < 0.1 * 5e-6)
    assert "not that the model converged" in d.message


def test_the_reconstructed_curve_spans_the_logged_steps(printed_zero):
    a, j, want = printed_zero
    x, y = curve(a.lr_schedule)
    assert x[0] == 35000
    assert x[-1] == 149900
    assert np.all(np.diff(y) <= 0)


def test_second_stage_lr_uses_train_cond_ldm_schedule(tmp_path):
    cfg = ldm_config(train_num_steps=20000, lr=2e-5, min_lr=0.1)
    write_ldm_log(tmp_path / "2025-10-15-13-07_.log", range(0, 20000, 200), config=cfg)
    a = analyze(read_run(tmp_path))
    rec = a.lr_schedule["reconstructed"]
    assert rec["trainer"] == "train_cond_ldm.py"
    assert rec["launches"][0]["exponent"] == 0.96
    assert rec["agrees_with_log"] is True
    assert rec["latest"] == pytest.approx(2e-5 * max((1 - 19800 / 20000) ** 0.96, 0.1))
    # the floor 0.1 of the multiplier is not below 10% of the start: no lr_decayed
    assert a.diagnostic("lr_decayed") is None


def test_a_log_that_disagrees_with_the_config_schedule_is_not_reconstructed_over(tmp_path):
    cfg = radiodiff_config(lr=1e-4, train_num_steps=10000)

    def values(step):
        gen, disc = default_values(step, 50001)
        gen["lr"] = 5e-4  # constant, not RadioDiff's schedule
        return gen, disc
    write_radiodiff_log(tmp_path / "2025-03-02-09-14_.log", range(0, 9901, 100), config=cfg, values=values,
                        total_steps=10000)
    a = analyze(read_run(tmp_path))
    rec = a.lr_schedule["reconstructed"]
    assert rec["agrees_with_log"] is False
    assert a.diagnostic("lr_decayed") is None  # a reconstruction the log contradicts is not trusted
    assert "is not used" in " ".join(a.summary_sentences)


def test_full_precision_lr_is_not_reconstructed(tmp_path):
    write_workbench_folder(tmp_path, [{"steps": list(range(0, 200, 10))}])
    a = analyze(read_run(tmp_path))
    assert a.lr_schedule["source"] == "metrics.jsonl (full precision)"
    assert a.lr_schedule["reconstructed"] is None
