"""Markdown for the report notebooks, written from an Analysis (or an EvalResult); no analysis of its own.

Each public function returns an ``IPython.display.Markdown`` whose ``.data`` is the text, so a
notebook cell that ends with the call shows it, and tests can read the string. Numbers, verdicts
and sentences all come from ``analysis.analyze``; this module only lays them out.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from ..formatting import duration, num, pct
from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LOGITS_FAKE, LOGITS_REAL, LOGVAR, LR, NLL_LOSS, REC_LOSS,
    TOTAL_LOSS,
)
from . import markdown as md
from .markdown import Md, table

# What each logged quantity is (RadioDiff's VAE-GAN loss): fixed explanations.
MEANING = {
    TOTAL_LOSS: "The generator objective the optimizer minimises: nll_loss + kl_weight x kl_loss + "
        "d_weight x disc_factor x g_loss. Once the discriminator starts it contains the adversarial term, so a "
        "lower (or negative) total is not by itself a better reconstruction.",
    REC_LOSS: "Mean absolute pixel error |x - x_rec| (plus the LPIPS term when perceptual_weight > 0), "
        "on maps scaled to [-1, 1]: the number that says how well the VAE reconstructs.",
    NLL_LOSS: "rec_loss / exp(logvar) + logvar, summed over pixels and averaged over the batch; it moves "
        "with rec_loss while logvar stays fixed.",
    KL_LOSS: "KL divergence of the latent posterior from N(0, I), summed over the latent and averaged "
        "over the batch; it enters the total multiplied by kl_weight, so its size alone says little.",
    LOGVAR: "The learned output log-variance; latent-diffusion's trainer does not optimise it, so it "
        "usually stays at its initial value 0.",
    D_WEIGHT: "Adaptive weight of the GAN term: gradient norm of nll over that of g_loss at the decoder's "
        "last layer, clamped to [0, 1e4], times disc_weight. At the clamp the GAN term is as strong as allowed.",
    DISC_FACTOR: "0 before disc_start, then the configured factor: the switch of the adversarial terms.",
    G_LOSS: "Generator adversarial loss -mean(D(x_rec)); negative when the discriminator rates "
        "reconstructions as real.",
    DISC_LOSS: "Discriminator hinge loss 0.5 x (mean relu(1 - D(x)) + mean relu(1 + D(x_rec))) x "
        "disc_factor; 1.0 means it cannot tell real maps from reconstructions.",
    LOGITS_REAL: "Mean discriminator output on real maps; it rises above logits_fake as D learns.",
    LOGITS_FAKE: "Mean discriminator output on reconstructions.",
    LR: "Learning rate of the autoencoder optimizer at that step.",
}

# Which metric a diagnostic is about (to show it beside that metric's figure).
DIAGNOSTIC_METRICS = {
    "adaptive_weight_saturated": (D_WEIGHT,),
    "discriminator_not_trained": (DISC_LOSS, LOGITS_REAL, LOGITS_FAKE),
    "adversarial_term_dominates_total": (TOTAL_LOSS, G_LOSS),
    "logvar_frozen": (LOGVAR,),
    "lr_not_logged": (LR,),
    "reconstruction_target_met": (REC_LOSS,),
    "reconstruction_target_not_met": (REC_LOSS,),
}
SEVERITY_MARK = {"critical": "CRITICAL", "warning": "WARNING", "info": "info"}


# A sentence of the analysis quotes names from the log: it is data, shown as literal text
# (d_weight*disc_factor*g_loss stays as written). Every name, path and value below goes through
# report.markdown the same way; ``table`` escapes any cell the report did not mark as its own Markdown.
esc = md.text


def title(run: Any, analysis: Any) -> Markdown:
    """What the report read: sources, logged steps, segments."""
    sources = ", ".join(md.code(s) for s in run.sources) or "(no source)"
    return Markdown(f"**Run:** {sources}: {analysis.entries} logged steps from step {analysis.first_step} to "
                    f"{analysis.latest_step}, {analysis.segments} launch segment(s).")


def summary(analysis: Any) -> Markdown:
    """The analysis' summary sentences as a list."""
    return Markdown("\n".join(f"- {esc(s)}" for s in analysis.summary_sentences))


def key_statistics(analysis: Any) -> Markdown:
    """Latest, range, window mean and noise, trend and status of every metric."""
    rows = []
    for name, m in analysis.metrics.items():
        t = m.trend
        trend = f"{t.slope_per_1k_steps:+.3g}/1k (p={t.p_value:.2g})" if t is not None else "-"
        window = (f"{num(m.window_mean, '.4g')} ± {num(m.window_sigma, '.2g')}"
                  if m.window_mean is not None else "-")
        rows.append([md.code(name), f"{num(m.latest)} @ {m.latest_step}", num(m.first), f"{num(m.min, '.4g')} .. "
                     f"{num(m.max, '.4g')}", num(m.change_pct, "+.1f") if m.change_pct is not None else "-",
                     window, trend, md.bold(m.status)])
    text = table(["metric", "latest @ step", "first", "range", "change %", "window mean ± spread", "slope", "status"],
                 rows)
    return Markdown(text + f"\n\nThe window is the last {analysis.thresholds.window} logged entries (all of them when "
                    "there are fewer); the slope is fitted over it. "
                    "Status rules (first that applies): not logged, non-finite, insufficient data, "
                    "constant, unstable (point-to-point noise, from second differences, above "
                    f"{analysis.thresholds.unstable_cv:g} x the level), flat (slope not distinguishable from noise), "
                    "improving/worsening (rec_loss, nll_loss), falling/rising (others). "
                    "The ± is the window's spread, 1.4826 x MAD.")


def progress(analysis: Any) -> Markdown:
    """How far the run is, how fast, and how many launches and resumes it took."""
    a = analysis
    total = f"{a.total_steps} (from the {a.total_steps_source})" if a.total_steps else \
        Md("unknown: give `total_steps` (the log's config has no train_num_steps)")
    rows = [["logged steps analysed", a.entries], ["steps", f"{a.first_step} .. {a.latest_step}"],
            ["train_num_steps", total], ["progress", pct(a.progress)],
            ["speed", f"{a.steps_per_hour:,.0f} steps/hour" if a.steps_per_hour else "unknown"],
            ["time left at that speed", duration(a.time_left) if a.time_left is not None else "unknown"],
            ["launch segments", a.segments], ["resumes", len(a.resumes)],
            ["superseded rows (re-logged by a later launch)", a.superseded_rows]]
    verdicts = [f"step {r.step}: " + (", ".join(sorted(set(r.continuity.values()))) or "no verdict")
                for r in a.resumes]
    tail = ("\n\nResume verdicts: " + "; ".join(map(md.text, verdicts)) + ".") if verdicts else "\n\nThe log holds a single launch: no resume."
    return Markdown(table(["", "value"], rows) + tail)


def resume_text(analysis: Any, index: int) -> Markdown:
    """One resume point: where, replayed steps, gap, and each metric's continuity evidence."""
    r = analysis.resumes[index]
    replay = (f"{r.replayed_steps} logged step(s) replayed ({r.replayed_range[0]}..{r.replayed_range[1]}, "
              "earlier values kept as superseded rows)" if r.replayed_steps and r.replayed_range else "no step replayed")
    head = (f"### Resume at step {r.step}\n\nSegment {r.segment} starts at step {r.step} after the previous "
            f"launch last logged step {r.previous_last_step}; {replay}; wall-clock gap "
            f"{duration(r.gap_seconds)}. File: {md.code(r.file)}.\n\n")
    rows = []
    for name, verdict in r.continuity.items():
        ev = r.evidence.get(name, {})
        rel = ev.get("relative_shift")
        rows.append([md.code(name), md.bold(verdict), num(ev.get("shift"), ".3g"), num(ev.get("noise"), ".3g"),
                     num(ev.get("shift_sigma"), "+.2f"), f"{rel:+.2%}" if rel is not None else "-",
                     f"{ev.get('n_before', '-')} / {ev.get('n_after', '-')}"])
    th = analysis.thresholds
    min_rel = th.jump_min_rel
    also = f" and of more than {min_rel:.0%} of the level before" if min_rel else ""
    return Markdown(head + table(["metric", "verdict", "shift", "noise (before)", "shift / noise", "shift / level",
                                  "entries before / after"], rows)
                    + f"\n\nA jump is a shift of more than {th.jump_sigma:g} noise units{also}: the "
                    f"entries before the resume are extrapolated to the first {th.continuity_after} entries after it "
                    "(the median of the last block of entries plus its drift from the block before; a noiseless "
                    f"schedule such as the LR follows its local curve); the noise is the point-to-point noise "
                    f"of the {th.continuity_window} entries before, widened by the error of the same extrapolation "
                    "on the last block before the resume.")


def no_resumes() -> Markdown:
    """Said when the run has a single launch."""
    return Markdown("No resume point: every logged step comes from one launch.")


def diagnostics_for(analysis: Any, name: str) -> list[Any]:
    """The diagnostics that concern metric ``name``."""
    out = []
    for d in analysis.diagnostics:
        if name in DIAGNOSTIC_METRICS.get(d.id, ()) or name in d.message or name in json.dumps(d.evidence, default=str):
            out.append(d)
    return out


def metric_text(analysis: Any, name: str) -> Markdown:
    """Observations (numbers of the analysis) and meaning of one metric."""
    m = analysis.metrics[name]
    obs = [f"Logged {m.count} times from step {m.first_step} to {m.latest_step}"
           + (f", {m.nonfinite} of them non-finite." if m.nonfinite else ".")]
    if m.latest is not None:
        change = f" ({m.change_pct:+.1f}%)" if m.change_pct is not None else ""
        obs.append(f"First {num(m.first)}, latest {num(m.latest)}{change}; range {num(m.min)} to {num(m.max)}.")
    t = m.trend
    if t is not None:
        obs.append(f"Over the last {t.n} entries (steps {t.first_step}-{t.last_step}) the mean is "
                   f"{num(m.window_mean, '.4g')} with noise {num(m.window_sigma, '.2g')}; the fitted slope is "
                   f"{t.slope_per_1k_steps:+.3g} per 1k steps (p={t.p_value:.2g}, "
                   f"{'distinguishable' if t.significant else 'not distinguishable'} from noise).")
    obs.append(f"Status {md.bold(m.status)}: {esc(m.status_reason)}.")
    if len(m.phases) > 1:
        parts = [f"{esc(p)} phase mean {num(s.get('mean'), '.4g')} over {s.get('n')} entries"
                 for p, s in m.phases.items() if s.get("n")]
        if parts:
            obs.append("By phase: " + "; ".join(parts) + ".")
    for d in diagnostics_for(analysis, name):
        obs.append(f"Finding {md.code(d.id)} ({esc(SEVERITY_MARK.get(d.severity, d.severity))}): {esc(d.message)}")
    meaning = MEANING.get(name, "A quantity the training log records.")
    return Markdown("\n".join(f"- {o}" for o in obs) + f"\n\n*What it is:* {meaning}")


def decomposition_text(analysis: Any) -> Markdown:
    """The latest decomposition of the total loss and the largest residual."""
    d = analysis.decomposition
    fin = d.dropna(subset=["residual"]) if len(d) else d
    if not len(fin):
        return Markdown("The total loss cannot be taken apart: the log lacks nll_loss, kl_loss or the weights "
                        f"(kl_weight {num(analysis.kl_weight)}).")
    last = fin.iloc[-1]
    rows = [[f"{c}", num(last[c])] for c in ("nll_loss", "kl_term", "gan_term", "reconstructed_total",
                                              "logged_total", "residual")]
    return Markdown(f"total = nll_loss + kl_weight x kl_loss + d_weight x disc_factor x g_loss, with kl_weight "
                    f"{num(analysis.kl_weight)} ({analysis.kl_weight_source}). At step {int(last['step'])}:\n\n"
                    + table(["term", "value"], rows)
                    + f"\n\nLargest |residual| over {len(fin)} entries: {num(fin['residual'].abs().max(), '.3g')} "
                    "(rounding of the printed values; a large residual means the formula or weights differ).")


def phase_status(analysis: Any) -> Markdown:
    """Discriminator start, its first logged activation, GAN-phase progress, and the phases' spans."""
    a = analysis
    rows = [["disc_start (config)", a.disc_start if a.disc_start is not None else "not in the config"],
            ["first logged step with disc_factor > 0", a.disc_first_logged_step
             if a.disc_first_logged_step is not None else "none yet"],
            ["progress through the GAN phase", pct(a.gan_phase_progress)]]
    for p in a.phases:
        rows.append([Md(f"phase {md.code(p.name)}"), f"steps {p.first_step} .. {p.last_step}, {p.entries} entries"])
    return Markdown(table(["", "value"], rows))


def diagnostics(analysis: Any) -> Markdown:
    """Every finding with its severity, sentence and evidence."""
    if not analysis.diagnostics:
        return Markdown("No diagnostic rule fired.")
    order = {"critical": 0, "warning": 1, "info": 2}
    parts = []
    for d in sorted(analysis.diagnostics, key=lambda d: order.get(d.severity, 3)):
        ev = "; ".join(f"{k} = {_evidence(v)}" for k, v in d.evidence.items())
        parts.append(f"- {md.bold(SEVERITY_MARK.get(d.severity, d.severity))} {md.code(d.id)}: {esc(d.message)}"
                     + (f"<br>*Evidence:* {esc(ev)}" if ev else ""))
    return Markdown("\n".join(parts))


def _evidence(v: Any) -> str:
    if isinstance(v, float):
        return num(v, ".4g")
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=lambda x: num(x, ".4g") if isinstance(x, float) else str(x))[:300]
    return str(v)


def recommendations(analysis: Any) -> Markdown:
    """What to do next: one line per diagnostic that has a recommendation."""
    if not analysis.recommendations:
        return Markdown("No diagnostic calls for a change; keep training to `train_num_steps` and evaluate on "
                        "held-out maps.")
    return Markdown("\n".join(f"{i}. {esc(r)}" for i, r in enumerate(analysis.recommendations, 1)))


def reconstruction_text(result: Any) -> Markdown:
    """Evaluation numbers of a checkpoint as tables."""
    def rows(stats: dict) -> list[list[str]]:
        return [[k, num(v.get("mean"), ".4g"), num(v.get("median"), ".4g"), num(v.get("p5"), ".4g"),
                 num(v.get("p95"), ".4g")] for k, v in stats.items()]
    h, w = result.image_size
    head = (f"Checkpoint {md.code(result.checkpoint)} ({'EMA' if result.use_ema else 'model'} weights, posterior "
            f"mean) on {result.transmitters} transmitters of {result.maps} {esc(result.data)} {esc(result.split)} maps at "
            f"{h}x{w}: "
            f"{result.seconds_per_map * 1e3:.1f} ms per map on {esc(result.device)}. Maps are compared in \\[0, 1\\]."
            "\n\n" + "".join(esc(line) + "\n\n" for line in result.scope_lines()))  # protocol, training maps left out
    cols = ["metric", "mean", "median", "p5", "p95"]
    lat = result.latent
    latent = (f"\n\nLatent {esc(lat.get('shape'))}: scale_factor = 1/std = {num(lat.get('scale_factor'), '.4g')} "
              "(the factor the diffusion stage multiplies latents by).") if lat else ""
    return Markdown(head + "**All pixels**\n\n" + table(cols, rows(result.metrics)) + "\n\n**Street pixels only**"
                    "\n\n" + table(cols, rows(result.metrics_street)) + latent)


def no_checkpoint() -> Markdown:
    """Said when no checkpoint was given."""
    return Markdown("No checkpoint given, so no reconstruction was measured. Render again with "
                    "`-p checkpoint PATH/model-N.pt` to add NMSE, RMSE, SSIM and PSNR on held-out maps.")


def appendix(run: Any, analysis: Any, params: dict | None = None) -> Markdown:
    """Sources, segments, skipped lines by reason, thresholds, parameters and the recovered config."""
    parts = ["**Sources:** " + ", ".join(md.code(s) for s in run.sources)]
    segs = run.segments
    if len(segs):
        cols = [c for c in ("segment", "file", "kind", "first_step", "last_step", "n_rows", "start_time")
                if c in segs.columns]
        parts.append("**Segments**\n\n" + table(cols, segs[cols].astype(str).values.tolist()))
    sk = analysis.skipped
    if sk["count"]:
        parts.append(f"**Skipped lines: {sk['count']}**\n\n" + table(["reason", "lines"], sorted(sk["reasons"].items())))
    else:
        parts.append("**Skipped lines: 0** (every line of the sources was read).")
    th = vars(analysis.thresholds)
    parts.append("**Thresholds:** " + ", ".join(esc(f"{k}={v}") for k, v in th.items()))
    if params:
        parts.append("**Notebook parameters:** " + ", ".join(esc(f"{k}={v!r}") for k, v in params.items()))
    cfg = run.config
    if cfg:
        import yaml
        dump = yaml.safe_dump(_plain(cfg), sort_keys=False, default_flow_style=None, width=100)
        parts.append("**Config recovered from the log**\n\n" + md.fenced(dump, "yaml"))
    else:
        parts.append("**Config:** none found in the log.")
    return Markdown("\n\n".join(parts))


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    if isinstance(x, Path):
        return str(x)
    return str(x)


def training_settings(config: Any, max_steps: int | None, results_folder: str | Path | None) -> Markdown:
    """The main settings of a training launch (a Config) as a table."""
    c = config
    dd, lc, tr = c.model.ddconfig, c.model.lossconfig, c.trainer
    rows = [["results folder", md.code(results_folder or tr.results_folder)],
            ["steps", f"to {max_steps if max_steps is not None else tr.train_num_steps} of train_num_steps "
                      f"{tr.train_num_steps}"],
            ["data", f"{c.data.name}, {c.data.image_size}x{c.data.image_size}, batch {c.data.batch_size}"],
            ["model", f"ch {dd.ch}, ch_mult {list(dd.ch_mult)}, z_channels {dd.z_channels}, embed_dim {c.model.embed_dim}"],
            ["learning rate", f"{tr.lr:g} decaying to {tr.min_lr:g}"],
            ["discriminator", f"starts at step {lc.disc_start}, disc_weight {lc.disc_weight:g}"],
            ["kl_weight", f"{lc.kl_weight:g}"],
            ["checkpoints", f"every {tr.save_and_sample_every} steps; log every {tr.log_freq} steps"]]
    return Markdown(table(["setting", "value"], rows))


def _when(value: Any) -> str:
    """A checkpoint's written_at (unix seconds or ISO text) as 'YYYY-MM-DD HH:MM:SS'."""
    import datetime as dt

    if isinstance(value, (int, float)) and math.isfinite(value):
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, str) and value:
        return value.replace("T", " ")[:19]
    return "-"


def checkpoint_table(df: pd.DataFrame) -> Markdown:
    """The inspect table (checkpoint.inspect_checkpoints) as Markdown."""
    if df is None or not len(df):
        return Markdown("No checkpoint found.")
    rows = []
    for r in df.itertuples(index=False):
        when = _when(r.written_at)
        rows.append([md.code(Path(str(r.path)).name), r.milestone, r.step, when, f"{int(r.bytes) / 1e6:.1f} MB",
                     r.format, r.integrity, r.resume])
    return Markdown(table(["file", "milestone", "step", "written", "size", "format", "integrity", "resume"], rows))
