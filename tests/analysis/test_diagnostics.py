"""Each diagnostic both ways (present and absent) on constructed runs."""
from __future__ import annotations

import numpy as np
import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.analysis.diagnostics import Diagnostic, advice, recommendations
from tests.helpers.runs import broken_radiodiff_run, config, frame, healthy_run, make_run


def test_broken_run_findings(broken):
    ids = broken.diagnostic_ids
    for want in ("adaptive_weight_saturated", "discriminator_not_trained", "adversarial_term_dominates_total",
                 "logvar_frozen", "lr_not_logged"):
        assert want in ids
    sat = broken.diagnostic("adaptive_weight_saturated")
    assert sat.evidence["clamp"] == 5000
    assert sat.evidence["fraction"] == 1.0
    assert sat.evidence["gan_entries"] == 300  # steps 50100 .. 80000
    dom = broken.diagnostic("adversarial_term_dominates_total")
    assert dom.severity == "critical"
    assert dom.evidence["sign_flipped_fraction"] == 1.0
    assert dom.evidence["latest"]["total"] < 0 < dom.evidence["latest"]["nll_plus_kl"]
    nt = broken.diagnostic("discriminator_not_trained")
    assert nt.severity == "critical"
    assert nt.evidence["disc_loss_entries"] == 0
    assert "gradient_accumulate_every 1" in nt.message
    # every recommendation is tied to a diagnostic id
    assert {r.split(":")[0] for r in broken.recommendations} <= set(ids)
    assert "discriminator_not_trained" in {r.split(":")[0] for r in broken.recommendations}
    for d in broken.diagnostics:
        assert "excellent" not in d.message.lower()
        assert "converg" not in d.message.lower()


def test_healthy_run_has_none_of_them(healthy):
    ids = healthy.diagnostic_ids
    for absent in ("adaptive_weight_saturated", "discriminator_not_trained", "adversarial_term_dominates_total",
                   "logvar_frozen", "lr_not_logged", "nonfinite_values", "loss_spike", "resume_discontinuity",
                   "reconstruction_target_not_met"):
        assert absent not in ids
    assert "reconstruction_target_met" in ids


def test_discriminator_logged_but_never_moving():
    run = healthy_run()
    gan = run.df["step"] >= 10001
    run.df.loc[gan, "train/disc_loss"] = 1.0  # hinge loss stuck at 1: D outputs 0 everywhere
    d = analyze(run).diagnostic("discriminator_not_trained")
    assert d is not None
    assert d.evidence["disc_loss_ptp"] == 0.0


def test_no_gan_phase_yet_means_no_gan_findings():
    run = broken_radiodiff_run(end=40000)  # before disc_start 50001
    ids = analyze(run).diagnostic_ids
    assert "discriminator_not_trained" not in ids
    assert "adaptive_weight_saturated" not in ids
    assert "adversarial_term_dominates_total" not in ids


def test_saturation_inferred_without_config():
    run = broken_radiodiff_run()
    run.config = None
    a = analyze(run)
    assert a.disc_start is None
    assert a.disc_first_logged_step == 50100
    sat = a.diagnostic("adaptive_weight_saturated")
    assert sat is not None
    assert sat.evidence["disc_weight_inferred"]
    assert sat.evidence["disc_weight"] == 0.5


def test_adversarial_term_small_share_not_flagged_large_share_flagged():
    steps = np.arange(0, 3001, 100)
    nll = np.full(steps.size, 1000.0)
    g = np.full(steps.size, 0.5)
    for dw, expect in ((100.0, False), (3000.0, True)):  # GAN term 50 vs 1000 / 1500 vs 1000
        total = nll + dw * g
        run = make_run(frame(steps, {"train/total_loss": total, "train/nll_loss": nll, "train/kl_loss": 0.0,
                                     "train/d_weight": dw, "train/disc_factor": 1.0, "train/g_loss": g}),
                       config(disc_start=0))
        d = analyze(run).diagnostic("adversarial_term_dominates_total")
        assert (d is not None) == expect
        if expect:
            assert d.severity == "warning"  # the total keeps its sign: most of its size, not its sign


def test_lr_not_logged_with_string_config_lr_and_absent_when_config_lr_zero():
    run = broken_radiodiff_run(end=5000)
    run.config["trainer"]["lr"] = "5e-6"  # YAML 1.1 leaves it a string
    assert "lr_not_logged" in analyze(run).diagnostic_ids
    run.config["trainer"]["lr"] = 0.0
    assert "lr_not_logged" not in analyze(run).diagnostic_ids


def test_nonfinite_values_both_ways():
    run = healthy_run()
    i = run.df.index[-1]
    run.df.loc[i, ["train/rec_loss", "train/nll_loss", "train/total_loss"]] = [np.nan, np.nan, np.inf]
    d = analyze(run).diagnostic("nonfinite_values")
    assert d.severity == "critical"
    assert d.evidence["counts"] == {"train/total_loss": 1, "train/nll_loss": 1, "train/rec_loss": 1}
    assert d.evidence["first_steps"]["train/rec_loss"] == 20000
    assert "first at step 20000" in d.message
    # d_weight/g_loss absent before the GAN phase (our trainer omits them) are not "non-finite values"
    run = healthy_run()
    run.df.loc[run.df["step"] < 10001, ["train/d_weight", "train/g_loss"]] = np.nan
    a = analyze(run)
    assert "nonfinite_values" not in a.diagnostic_ids
    assert a.metrics["train/d_weight"].count == 100


def test_loss_spike_both_ways():
    run = healthy_run()
    i = int(np.flatnonzero(run.df["step"].to_numpy() == 15000)[0])
    run.df.loc[i, "train/rec_loss"] += 0.05  # ~150 noise sigmas
    d = analyze(run).diagnostic("loss_spike")
    assert d is not None
    assert d.evidence["metrics"]["train/rec_loss"]["steps"] == [15000]
    assert "loss_spike" not in analyze(healthy_run()).diagnostic_ids


def test_reconstruction_target_threshold(healthy):
    assert healthy.diagnostic("reconstruction_target_met").evidence["threshold"] == 0.02
    a = analyze(healthy_run(), rec_target=0.005)
    d = a.diagnostic("reconstruction_target_not_met")
    assert d is not None
    assert d.severity == "info"
    assert "reconstruction_target_met" not in a.diagnostic_ids
    assert d.evidence["window_mean"] == pytest.approx(a.metrics["train/rec_loss"].window_mean)


def test_resume_discontinuity_both_ways():
    rng = np.random.default_rng(5)
    s0, s1 = np.arange(0, 3001, 100), np.arange(2500, 6001, 100)
    base = {"train/disc_factor": 0.0}
    for jump, expect in ((0.0, False), (0.2, True)):
        a = frame(s0, {**base, "train/rec_loss": 0.05 + rng.normal(0, 0.002, s0.size)}, segment=0)
        b = frame(s1, {**base, "train/rec_loss": 0.05 + jump + rng.normal(0, 0.002, s1.size)}, segment=1,
                  t0="2025-03-04")
        ids = analyze(make_run([a, b], config())).diagnostic_ids
        assert ("resume_discontinuity" in ids) == expect


def test_recommendations_by_severity_and_none_against_the_root_cause(broken):
    a = broken
    ids = [r.split(":")[0] for r in a.recommendations]
    sev = [a.diagnostic(i).severity for i in ids]
    assert sev == sorted(sev, key=["critical", "warning", "info"].index)
    assert "discriminator_not_trained" in ids
    sat = next(r for r in a.recommendations if r.startswith("adaptive_weight_saturated"))
    assert "lower lossconfig.disc_weight" not in sat
    assert "follows from the untrained discriminator" in sat
    assert a.diagnostic("adaptive_weight_saturated").evidence["caused_by"] == "discriminator_not_trained"


def test_advice_is_each_finding_with_what_to_do_and_the_recommendations_spell_it(broken):
    a = broken
    todo = advice(a.diagnostics)
    assert [d.id for d, _ in todo] == [r.split(":")[0] for r in a.recommendations]
    assert [f"{d.id}: {what}" for d, what in todo] == a.recommendations  # the terminal's and the JSON's form


def test_saturated_weight_alone_still_advises_disc_weight():
    recs = recommendations([Diagnostic("adaptive_weight_saturated", "warning", "x")])
    assert "lower lossconfig.disc_weight" in recs[0]
