"""Diagnostics of a training run: each a rule on the data with its evidence in numbers.

Rules (thresholds are the fields of thresholds.Thresholds; "GAN phase" = steps >= disc_start,
or disc_factor > 0 when the config does not say):
- adaptive_weight_saturated (warning): d_weight == 1e4 * disc_weight (rtol saturation_rtol) in
  >= saturated_fraction of the GAN-phase entries (without a config: an exactly repeated maximum >= 100).
- discriminator_not_trained (critical): GAN phase reached and no disc_loss logged there, or its
  peak-to-peak <= disc_still_tol.
- adversarial_term_dominates_total: >= dominate_entries_fraction of the GAN-phase entries have the
  sign of total_loss set by d_weight*disc_factor*g_loss, or that term's share of
  |nll| + |kl term| + |gan term| above dominate_fraction. Critical when the sign is flipped in
  most entries, else warning.
- logvar_frozen (info): logvar peak-to-peak <= logvar_still_tol over >= min_points entries.
- lr_not_logged (info): every logged lr is 0 while the config's trainer.lr > 0.
- nonfinite_values: any nan/inf logged; critical when the latest total/rec/nll is non-finite.
- loss_spike (warning): a loss more than spike_k robust sigmas from its rolling median.
- resume_discontinuity (warning): continuity verdict "jump" for rec/nll/total/kl at a resume.
- reconstruction_target_met (info) / reconstruction_target_not_met (info; warning once the run
  reached total_steps): mean rec_loss over the last window <= / > rec_target.
Elsewhere: lr_decayed (``lr``), restart_in_folder and launch_relaunched (``boundaries``),
launch_without_steps (``boundaries``), the second stage's own (``stage2``).
Recommendations come by severity; one whose finding follows from another finding present
(``CAUSED_BY``: a saturated d_weight from an untrained discriminator) names that root cause instead.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..vocabulary import D_WEIGHT, DISC_LOSS, G_LOSS, KL_LOSS, LOGVAR, LR, NLL_LOSS, REC_LOSS, TOTAL_LOSS
from .stats import MAD_TO_STD, MetricStats
from .structure import Resume
from .thresholds import Thresholds

SPIKE_METRICS = (TOTAL_LOSS, REC_LOSS, NLL_LOSS, KL_LOSS, G_LOSS, DISC_LOSS)
CONTINUITY_METRICS = (REC_LOSS, NLL_LOSS, TOTAL_LOSS, KL_LOSS)


@dataclass
class Diagnostic:
    """One finding: a stable id, a severity, one plain sentence and the numbers behind it."""
    id: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)


# What to do about each finding; every recommendation names the diagnostic it follows from.
RECOMMENDATIONS = {
    "adaptive_weight_saturated": "the adaptive weight sits at its clamp, so the GAN term is as strong as the "
        "clamp allows whatever the gradients say: lower lossconfig.disc_weight or check that the "
        "discriminator really trains before trusting the GAN phase.",
    "discriminator_not_trained": "the generator is pushed by a discriminator that never learns: with RadioDiff's "
        "train_vae.py set trainer.gradient_accumulate_every: 2 (it is the optimizer index, not accumulation), "
        "or train with the workbench trainer, which steps the discriminator.",
    "adversarial_term_dominates_total": "judge progress by rec_loss and nll_loss, not total_loss: the total is "
        "mostly d_weight*disc_factor*g_loss, and a negative total is not better reconstruction.",
    "logvar_frozen": "expected with latent-diffusion's optimizer (logvar is not in it); nll_loss then moves only "
        "with rec_loss, so read them together.",
    "lr_not_logged": "the log prints values with 5 decimals, so this LR shows as 0: read it from the schedule "
        "this report reconstructs from the config (dashed in the LR figure), or train with the workbench, whose "
        "metrics file keeps full precision.",
    "nonfinite_values": "resume from the last checkpoint before the first non-finite step with a lower LR or "
        "full precision (amp/fp16 off), and check the batches at those steps.",
    "loss_spike": "look at the batches and the LR at the spike steps; note that RadioDiff's gradient clipping "
        "runs after the optimizer step and never clips.",
    "resume_discontinuity": "RadioDiff's resume restores weights but not the RNG or data order, which shows as a "
        "jump; the workbench trainer resumes exactly.",
    "reconstruction_target_not_met": "keep training or revisit the LR; compare with evaluation metrics (NMSE, "
        "SSIM) on held-out maps before deciding.",
    "nonfinite_loss": "resume from the checkpoint before the first non-finite step with a lower LR and amp/fp16 "
        "off; after a resume, check that the optimizer and scaler states were restored (enable_resume).",
    "loss_plateau": "the loss no longer falls: evaluate samples of the latest checkpoint, then decide between "
        "stopping, a lower LR or more data.",
    "lr_at_floor": "the LR schedule has reached its floor: further steps train at this LR only.",
    "launch_without_steps": "read the quoted error: a launch that dies at start-up usually has a wrong path, a "
        "missing checkpoint (resume_milestone) or too little GPU memory.",
    "reconstruction_target_met": "confirm on held-out maps with the evaluation notebook before using this VAE "
        "for the diffusion stage.",
    "lr_decayed": "do not read a flat loss over these steps as convergence: evaluate the checkpoints (held-out "
        "maps, samples), and if the model is not good enough, resume with a longer train_num_steps or a higher "
        "min_lr (in RadioDiff's trainers a floor on the LR multiplier, in the workbench trainer on the LR).",
    "restart_in_folder": "keep one experiment per results folder, or pass only the files of the launch to analyse, "
        "so that reports and comparisons do not mix experiments.",
    "launch_relaunched": "read the end of the stopped launch's log (its last lines, any traceback) before trusting "
        "the relaunch; it may stop the same way.",
}

# The finding each diagnostic is, in words (the verdict box names findings by these, not by their id).
HEADLINES = {
    "adaptive_weight_saturated": "The adaptive weight d_weight sits at its clamp",
    "discriminator_not_trained": "The discriminator was never trained",
    "adversarial_term_dominates_total": "The adversarial term sets the total loss",
    "logvar_frozen": "logvar is not learned",
    "lr_not_logged": "The log prints the learning rate as 0",
    "nonfinite_values": "Non-finite values (nan/inf) were logged",
    "nonfinite_loss": "The loss turned non-finite (nan/inf)",
    "loss_spike": "The loss spikes",
    "resume_discontinuity": "The losses jump at a resume",
    "reconstruction_target_met": "rec_loss is at or below its target",
    "reconstruction_target_not_met": "rec_loss is above its target",
    "loss_plateau": "The loss has stopped falling",
    "lr_at_floor": "The LR has reached its floor",
    "zero_term": "A loss term is exactly 0",
    "launch_without_steps": "A launch died before its first logged step",
    "lr_decayed": "The learning rate has decayed to a small fraction of its start",
    "restart_in_folder": "The folder holds more than one experiment",
    "launch_relaunched": "A launch stopped and was launched again from its start",
}

# A recommendation that follows from another finding's root cause is replaced while that finding
# stands, so that no advice contradicts the critical finding it depends on.
CAUSED_BY = {
    "adaptive_weight_saturated": ("discriminator_not_trained",
        "follows from the untrained discriminator: its adversarial gradients are tiny, which pins d_weight at its "
        "clamp. Fix the discriminator first (see discriminator_not_trained); lowering disc_weight would only "
        "scale a term that carries no information about the maps."),
}
CAUSE_SENTENCE = {
    "adaptive_weight_saturated": "It follows from the untrained discriminator: its adversarial gradients at the "
        "decoder's last layer are tiny, so their ratio to the reconstruction's gradients hits the clamp.",
}
SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}
# The word the report writes for each severity, wherever a finding is shown (verdict, findings, recommendations).
SEVERITY_WORDS = {"critical": "CRITICAL", "warning": "Warning", "info": "Note"}


def headline(d: Diagnostic) -> str:
    """The finding in words (its id when it has no headline)."""
    return HEADLINES.get(d.id, d.id.replace("_", " "))


def severity_word(d: Diagnostic) -> str:
    """The finding's severity as the report writes it (the severity itself when it has no word)."""
    return SEVERITY_WORDS.get(d.severity, d.severity)


def by_severity(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Critical first, then warnings, then info; the order found within each."""
    return sorted(diags, key=lambda d: SEVERITY_ORDER.get(d.severity, 3))


def advice(diags: list[Diagnostic]) -> list[tuple[Diagnostic, str]]:
    """What to do, by severity: (finding, its advice) for each diagnostic that has advice; one that follows from
    another finding present says so instead of advising against its root cause."""
    present = {d.id for d in diags}
    out = []
    for d in by_severity(diags):
        if d.id not in RECOMMENDATIONS:
            continue
        cause = CAUSED_BY.get(d.id)
        out.append((d, cause[1] if cause and cause[0] in present else RECOMMENDATIONS[d.id]))
    return out


def recommendations(diags: list[Diagnostic]) -> list[str]:
    """The advice as "id: advice" lines: the terminal summary's and the JSON's form (``Analysis.recommendations``)."""
    return [f"{d.id}: {text}" for d, text in advice(diags)]


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    return df[name].to_numpy(dtype=float) if name in df.columns else np.full(len(df), np.nan)


def diagnose(df: pd.DataFrame, metrics: dict[str, MetricStats], decomp: pd.DataFrame, *,
             gan: np.ndarray | None, disc_weight: float | None, config_lr: float | None,
             grad_accum: int | None, progress: float | None, resumes: list[Resume],
             th: Thresholds) -> list[Diagnostic]:
    """All first-stage diagnostics for a step-sorted DataFrame of current rows (``gan``: the rows of the GAN
    phase, ``structure.gan_rows``; None: not known, no row counts as GAN phase)."""
    gan = np.zeros(len(df), dtype=bool) if gan is None else gan
    out: list[Diagnostic] = []
    for check in (_saturated, _disc_not_trained, _dominates):
        d = check(df, gan, decomp, disc_weight=disc_weight, grad_accum=grad_accum, th=th)
        if d:
            out.append(d)
    ids = {d.id for d in out}
    for d in out:
        if d.id in CAUSED_BY and CAUSED_BY[d.id][0] in ids:
            d.message += " " + CAUSE_SENTENCE[d.id]
            d.evidence["caused_by"] = CAUSED_BY[d.id][0]
    out += _logvar(metrics, th) + lr_not_logged(df, config_lr) + _nonfinite(metrics) + spike_diagnostics(df, th)
    out += resume_jump_diagnostics(resumes) + _rec_target(metrics, progress, th)
    return out


def _saturated(df, gan, decomp, *, disc_weight, th, **_) -> Diagnostic | None:
    dw = _col(df, D_WEIGHT)[gan]
    dw = dw[np.isfinite(dw)]
    if dw.size == 0:
        return None
    inferred = disc_weight is None
    # Without a config, a clamp shows as an exactly repeated maximum; infer disc_weight from it.
    clamp = 1e4 * disc_weight if disc_weight is not None else float(dw.max())
    at = np.isclose(dw, clamp, rtol=th.saturation_rtol, atol=0.0)
    frac = float(at.mean())
    if frac < th.saturated_fraction or (inferred and clamp < 1e2):
        return None
    return Diagnostic("adaptive_weight_saturated", "warning",
                      f"d_weight sits at its clamp {clamp:g} (1e4 x disc_weight) in {at.sum()} of {dw.size} "
                      f"GAN-phase entries ({frac:.0%}).",
                      {"clamp": clamp, "disc_weight": clamp / 1e4, "disc_weight_inferred": inferred,
                       "saturated_entries": int(at.sum()), "gan_entries": int(dw.size), "fraction": frac,
                       "median_d_weight": float(np.median(dw))})


def _disc_not_trained(df, gan, decomp, *, grad_accum, th, **_) -> Diagnostic | None:
    if not gan.any():
        return None
    dl = _col(df, DISC_LOSS)[gan]
    fin = dl[np.isfinite(dl)]
    ev = {"gan_entries": int(gan.sum()), "disc_loss_entries": int(fin.size),
          "gradient_accumulate_every": grad_accum, "first_gan_step": int(df["step"][gan].min())}
    if fin.size == 0:
        msg = (f"No discriminator loss was logged in {gan.sum()} GAN-phase entries, so the discriminator was "
               f"never stepped while its output still drives the generator.")
    else:
        ptp = float(np.ptp(fin))
        ev.update(disc_loss_min=float(fin.min()), disc_loss_max=float(fin.max()), disc_loss_ptp=ptp)
        if ptp > th.disc_still_tol:
            return None
        msg = (f"disc_loss stayed at {fin[0]:.6g} (range {ptp:.3g}) over {fin.size} GAN-phase entries: "
               f"the discriminator is not learning.")
    if grad_accum == 1:
        msg += " The config has gradient_accumulate_every 1, which in RadioDiff never steps the discriminator."
    return Diagnostic("discriminator_not_trained", "critical", msg, ev)


def _dominates(df, gan, decomp, *, th, **_) -> Diagnostic | None:
    d = decomp[gan]
    total, gt = d["logged_total"].to_numpy(), d["gan_term"].to_numpy()
    rest = d["nll_loss"].to_numpy() + d["kl_term"].fillna(0.0).to_numpy()
    ok = np.isfinite(total) & np.isfinite(gt) & np.isfinite(rest)
    if not ok.any():
        return None
    total, gt, rest = total[ok], gt[ok], rest[ok]
    flipped = (np.sign(total) != np.sign(rest)) & (gt != 0)
    share = np.abs(gt) / np.maximum(np.abs(rest) + np.abs(gt), 1e-300)
    dominated = flipped | (share > th.dominate_fraction)
    frac = float(dominated.mean())
    if frac < th.dominate_entries_fraction:
        return None
    frac_flip = float(flipped.mean())
    i = int(np.flatnonzero(ok)[-1])
    latest = {"step": int(d["step"].iloc[i]), "total": float(d["logged_total"].iloc[i]),
              "gan_term": float(d["gan_term"].iloc[i]), "nll_plus_kl": float(rest[-1])}
    msg = (f"The adversarial term d_weight*disc_factor*g_loss sets the total loss in {dominated.sum()} of "
           f"{ok.sum()} GAN-phase entries ({frac:.0%}); at step {latest['step']} the total is "
           f"{latest['total']:.6g}, of which {latest['gan_term']:.6g} is the GAN term and "
           f"{latest['nll_plus_kl']:.6g} the reconstruction and KL terms.")
    if frac_flip >= th.dominate_entries_fraction:
        msg += " Its sign comes from the GAN term, so a negative total does not mean better reconstruction."
    return Diagnostic("adversarial_term_dominates_total",
                      "critical" if frac_flip >= th.dominate_entries_fraction else "warning", msg,
                      {"dominated_entries": int(dominated.sum()), "gan_entries": int(ok.sum()), "fraction": frac,
                       "sign_flipped_fraction": frac_flip, "median_gan_share": float(np.median(share)),
                       "latest": latest})


def _logvar(metrics: dict[str, MetricStats], th: Thresholds) -> list[Diagnostic]:
    m = metrics.get(LOGVAR)
    if m is None or m.min is None or m.count < th.min_points or m.nonfinite:
        return []
    ptp = m.max - m.min
    if ptp > th.logvar_still_tol:
        return []
    return [Diagnostic("logvar_frozen", "info",
                       f"logvar stayed at {m.latest:.6g} over {m.count} entries (range {ptp:.3g}): it is not "
                       f"being learned.", {"value": m.latest, "range": ptp, "entries": m.count})]


def lr_not_logged(df: pd.DataFrame, config_lr: float | None) -> list[Diagnostic]:
    """The LR prints as 0 in every entry while the config's lr is above 0 (either stage's text log)."""
    lr = _col(df, LR)
    lr = lr[np.isfinite(lr)]
    if lr.size == 0 or config_lr is None or config_lr <= 0 or np.any(lr != 0):
        return []
    return [Diagnostic("lr_not_logged", "info",
                       f"The learning rate is logged as 0 in all {lr.size} entries while the config's lr is "
                       f"{config_lr:g}: the log's 5-decimal format hides it.",
                       {"config_lr": config_lr, "zero_entries": int(lr.size)})]


def _nonfinite(metrics: dict[str, MetricStats]) -> list[Diagnostic]:
    bad = {k: m.nonfinite for k, m in metrics.items() if m.nonfinite}
    if not bad:
        return []
    key = (TOTAL_LOSS, REC_LOSS, NLL_LOSS)
    latest_bad = [k for k in key if k in metrics and metrics[k].latest is not None
                  and not np.isfinite(metrics[k].latest)]
    first = {k: metrics[k].first_nonfinite_step for k in bad}
    listing = ", ".join(f"{k} ({n}, first at step {first[k]})" for k, n in bad.items())
    msg = f"Non-finite values (nan/inf) were logged: {listing}."
    if latest_bad:
        msg += f" The latest {', '.join(latest_bad)} is non-finite: training has diverged."
    return [Diagnostic("nonfinite_values", "critical" if latest_bad else "warning", msg,
                       {"counts": bad, "first_steps": first, "latest_nonfinite": latest_bad})]


def spikes(values: np.ndarray, *, k: float, half_window: int) -> tuple[np.ndarray, float]:
    """Robust outliers: |value - rolling median| > k * (1.4826 * MAD of those residuals); (indices, sigma).

    Only points with a full centred window are tested (the first and last `half_window` are not).
    """
    y = np.asarray(values, dtype=float)
    fin = np.isfinite(y)
    if fin.sum() < 2 * half_window + 1:
        return np.array([], dtype=int), float("nan")
    idx = np.flatnonzero(fin)
    # full windows only: at the edges a centred median lags a steep (early) decay and would call it a spike
    med = pd.Series(y[fin]).rolling(2 * half_window + 1, center=True).median().to_numpy()
    r = y[fin] - med
    idx, r = idx[np.isfinite(r)], r[np.isfinite(r)]
    sigma = float(np.median(np.abs(r - np.median(r)))) * MAD_TO_STD
    if not sigma > 0:  # quantised/constant series: no noise scale to compare against
        return np.array([], dtype=int), sigma
    return idx[np.abs(r) > k * sigma], sigma


def spike_diagnostics(df: pd.DataFrame, th: Thresholds, metrics: tuple[str, ...] = SPIKE_METRICS) -> list[Diagnostic]:
    """``loss_spike``: a value of one of ``metrics`` more than spike_k robust sigmas from its rolling median."""
    found: dict[str, dict[str, Any]] = {}
    steps = df["step"].to_numpy()
    for k in metrics:
        if k not in df.columns:
            continue
        v = df[k].to_numpy(dtype=float)
        idx, sigma = spikes(v, k=th.spike_k, half_window=th.spike_half_window)
        if idx.size:
            med = pd.Series(v).rolling(2 * th.spike_half_window + 1, center=True).median()
            size = np.abs(v[idx] - med.to_numpy()[idx]) / sigma
            found[k] = {"count": int(idx.size), "steps": [int(s) for s in steps[idx][:10]],
                        "max_sigmas": float(size.max()), "sigma": sigma}
    if not found:
        return []
    listing = "; ".join(f"{k} at step(s) {', '.join(map(str, e['steps'][:5]))}" for k, e in found.items())
    return [Diagnostic("loss_spike", "warning",
                       f"Spikes more than {th.spike_k:g} robust sigmas from the rolling median: {listing}.",
                       {"k": th.spike_k, "metrics": found})]


def resume_jump_diagnostics(resumes: list[Resume], metrics: tuple[str, ...] = CONTINUITY_METRICS) -> list[Diagnostic]:
    """``resume_discontinuity``: a continuity verdict "jump" for one of ``metrics`` at a resume."""
    hits = [(r, k) for r in resumes for k in metrics if r.continuity.get(k) == "jump"]
    if not hits:
        return []
    listing = "; ".join(f"{k} at step {r.step} ({r.evidence[k]['shift_sigma']:+.3g} sigma)" for r, k in hits)
    return [Diagnostic("resume_discontinuity", "warning", f"The losses jump at a resume: {listing}.",
                       {"jumps": [{"step": r.step, "metric": k, **{x: r.evidence[k][x] for x in
                                   ("shift", "noise", "shift_sigma")}} for r, k in hits]})]


def _rec_target(metrics: dict[str, MetricStats], progress: float | None, th: Thresholds) -> list[Diagnostic]:
    m = metrics.get(REC_LOSS)
    if m is None or m.window_mean is None:
        return []
    ev = {"window_mean": m.window_mean, "threshold": th.rec_target, "window_entries": m.window_n,
          "latest": m.latest, "latest_step": m.latest_step}
    if m.window_mean <= th.rec_target:
        return [Diagnostic("reconstruction_target_met", "info",
                           f"rec_loss averages {m.window_mean:.4g} over the last {m.window_n} entries, at or "
                           f"below the target {th.rec_target:g}.", ev)]
    done = progress is not None and progress >= 1.0
    return [Diagnostic("reconstruction_target_not_met", "warning" if done else "info",
                       f"rec_loss averages {m.window_mean:.4g} over the last {m.window_n} entries, above the "
                       f"target {th.rec_target:g}.", ev)]
