"""Markdown for the report notebooks, written from an Analysis (or an EvalResult); no analysis of its own.

Each public function returns an ``IPython.display.Markdown`` whose ``.data`` is the text, so a
notebook cell that ends with the call shows it, and tests can read the string. Numbers, verdicts
and sentences all come from ``analysis.analyze``; this module only lays them out.
"""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
from IPython.display import Markdown

from ..analysis import (
    advice, boundary_sentence, by_severity, checkpoint_milestone, constant_throughout, headline, lr_sentence,
    provenance_sentence, severity_word,
)
from ..formatting import duration, num, pct
from ..vocabulary import (
    D_WEIGHT, DISC_FACTOR, DISC_LOSS, G_LOSS, KL_LOSS, LDM_TOTAL_LOSS, LOGITS_FAKE, LOGITS_REAL, LOGVAR, LOSS_SIMPLE,
    LOSS_VLB, LR, NLL_LOSS, REC_LOSS, STAGE_LDM, STAGE_TITLES, TOTAL_LOSS,
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
    LR: "Learning rate of the autoencoder optimizer at that step (the discriminator's follows the same "
        "schedule): lr x max((1 - step / train_num_steps) ** 0.95, min_lr) in train_vae.py, min_lr a floor on the "
        "multiplier. RadioDiff's text log prints it with 5 decimals, so below 1e-5 the printed value says little.",
}
# The second stage's quantities (train_cond_ldm.py, ddm_const_sde.py).
MEANING_LDM = {
    LOSS_SIMPLE: "The denoising loss of the latent diffusion U-Net: the error of its two predictions (the drift C and "
        "the noise), L2 plus L1 halved when use_l1, averaged per latent element. The number that says how well the "
        "second stage learns; noisy from step to step because each batch draws its own diffusion times.",
    LOSS_VLB: "The reconstruction term of the predicted latent x0, weighted by -log(t) / 2; 0 throughout when it is "
        "weighted off, as in RadioDiff's radio configs.",
    LDM_TOTAL_LOSS: "What the optimizer minimises: loss_simple plus loss_vlb per element. With "
        "gradient_accumulate_every above 1 the text log's value adds up running totals and over-counts.",
    LR: "Learning rate of the diffusion U-Net's optimizer (AdamW) at that step: lr x max((1 - step / "
        "train_num_steps) ** 0.96, min_lr) in train_cond_ldm.py, min_lr a floor on the multiplier. The text log "
        "prints it with 5 decimals; the TensorBoard Learning_Rate is exact (and the next step's).",
}


def meaning(analysis: Any, name: str) -> str:
    """What a logged quantity is, for this run's stage."""
    if getattr(analysis, "stage", None) == STAGE_LDM and name in MEANING_LDM:
        return MEANING_LDM[name]
    return MEANING.get(name, "A quantity the training log records.")

# Which metric a diagnostic is about (to show it beside that metric's figure).
DIAGNOSTIC_METRICS = {
    "adaptive_weight_saturated": (D_WEIGHT,),
    "discriminator_not_trained": (DISC_LOSS, LOGITS_REAL, LOGITS_FAKE),
    "adversarial_term_dominates_total": (TOTAL_LOSS, G_LOSS),
    "logvar_frozen": (LOGVAR,),
    "lr_not_logged": (LR,),
    "lr_decayed": (LR,),
    "reconstruction_target_met": (REC_LOSS,),
    "reconstruction_target_not_met": (REC_LOSS,),
}


# A sentence of the analysis quotes names from the log: it is data, shown as literal text
# (d_weight*disc_factor*g_loss stays as written). Every name, path and value below goes through
# report.markdown the same way; ``table`` escapes any cell the report did not mark as its own Markdown.
esc = md.text


def run_name(run: Any) -> str:
    """The folder the run's files share (or the one file), as the title names the run."""
    paths = [Path(p) for p in run.sources]
    if not paths:
        return "(no source)"
    if len(paths) == 1:
        return str(paths[0].parent if paths[0].name else paths[0])
    try:
        return os.path.commonpath([str(p.parent) for p in paths]) or str(paths[0].parent)
    except ValueError:  # paths on different drives
        return str(paths[0].parent)


def title(run: Any, analysis: Any) -> Markdown:
    """The stage and the run as the report's title; what was read; where the run began and what is set aside."""
    a = analysis
    folder = run_name(run)
    head = f"# {STAGE_TITLES.get(a.stage, 'Run')} {md.code(Path(folder).name or folder)}"
    kinds = sorted({s["kind"] for s in a.sources if s.get("rows_used")})
    files = f"{len(run.sources)} file(s)" + (f": {', '.join(kinds)}" if kinds else "")
    lines = [head, f"**Read from** {md.code(folder)} ({esc(files)}; section 13 lists them): {a.entries} logged "
                   f"steps from step {a.first_step} to {a.latest_step}, {a.segments} launch segment(s)."]
    start = provenance_sentence(a)
    if start:
        lines.append(f"**Where the run began:** {esc(start)}")
    if a.set_aside:
        lines.append(f"**Set aside:** {len(a.set_aside)} earlier launch(es) that are not this experiment's "
                     "(section 4); every number below is of the analysed launches only.")
    return Markdown("\n\n".join(lines))


_SENTENCE_END = re.compile(r"(?<=\.)\s+(?=[A-Z])")


def first_sentence(text: str) -> str:
    """The first sentence of a finding's message (the verdict box keeps warnings to one)."""
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def verdict_box(analysis: Any) -> Markdown:
    """Critical findings first, in words and whole, then warnings in one sentence each; the info findings named
    (section 9 has them all with their evidence)."""
    diags = by_severity(analysis.diagnostics)
    crit = [d for d in diags if d.severity == "critical"]
    warn = [d for d in diags if d.severity == "warning"]
    info = [d for d in diags if d.severity not in ("critical", "warning")]
    count = (f"{len(crit) or 'no'} critical finding{'' if len(crit) == 1 else 's'}, "
             f"{len(warn) or 'no'} warning{'' if len(warn) == 1 else 's'}")
    lines = [f"> **Verdict: {count}.**"]
    if not crit:
        lines.append(">\n> No critical finding: no rule that marks a run as broken fired on these logs.")
    for d in crit:
        lines.append(f">\n> - **{severity_word(d)}: {esc(headline(d))}.** {esc(d.message)}")
    for d in warn:  # one sentence each: section 9 has the rest
        lines.append(f">\n> - **{severity_word(d)}: {esc(headline(d))}.** {esc(first_sentence(d.message))}")
    if info:
        lines.append(">\n> Notes (section 9): " + " ".join(f"{esc(headline(d))}." for d in info))
    return Markdown("\n".join(lines))


def summary(analysis: Any) -> Markdown:
    """The analysis' summary sentences as a list."""
    return Markdown("\n".join(f"- {esc(s)}" for s in analysis.summary_sentences))


def key_statistics(analysis: Any) -> Markdown:
    """Latest, start and end levels and their change, range, window mean and noise, trend and status of every
    metric that moves; the constant ones in one small table after it."""
    rows = []
    moving = [(k, m) for k, m in analysis.metrics.items() if not constant_throughout(m, analysis.lr_schedule)]
    for name, m in moving:
        t = m.trend
        trend = f"{t.slope_per_1k_steps:+.3g}/1k (p={t.p_value:.2g})" if t is not None else "-"
        window = (f"{num(m.window_mean, '.4g')} ± {num(m.window_sigma, '.2g')}"
                  if m.window_mean is not None else "-")
        rows.append([md.code(name), f"{num(m.latest)} @ {m.latest_step}",
                     f"{num(m.start_level, '.4g')} → {num(m.end_level, '.4g')}",
                     num(m.change_pct, "+.1f") if m.change_pct is not None else "-",
                     f"{num(m.min, '.4g')} .. {num(m.max, '.4g')}", window, trend, md.bold(m.status)])
    n = max((m.level_n for _, m in moving), default=analysis.thresholds.level_n)
    text = table(["metric", "latest @ step", f"start → end (medians of {n})", "change %", "range",
                  "window mean ± spread", "slope", "status"], rows)
    const = constant_table(analysis)
    return Markdown(text + f"\n\nStart and end are the medians of the first and last {n} logged entries of each "
                    "metric (fewer on a metric logged fewer than three times that), so one noisy point does not set "
                    "the change; the first entry is that of the analysed launches"
                    + (f", from step {analysis.first_step:,}" if analysis.first_step else "") + ". "
                    f"The window is the last {analysis.thresholds.window} logged entries (all of them when "
                    "there are fewer); the slope is fitted over it. "
                    "Status rules (first that applies): not logged, non-finite, insufficient data, "
                    "constant, unstable (point-to-point noise, from second differences, above "
                    f"{analysis.thresholds.unstable_cv:g} x the level), flat (slope not distinguishable from noise), "
                    "improving/worsening (rec_loss, nll_loss), falling/rising (others). "
                    "The ± is the window's spread, 1.4826 x MAD."
                    + (f"\n\n{const.data}" if const is not None else ""))


def constant_metrics(analysis: Any) -> list[str]:
    """Metrics with one and the same value in every logged entry (no figure of their own); an LR printed as 0 that
    the config reconstructs is drawn instead."""
    return [k for k, m in analysis.metrics.items() if constant_throughout(m, analysis.lr_schedule)]


def constant_table(analysis: Any) -> Markdown | None:
    """The metrics that never change, one row each, and what that means (None when there is none)."""
    names = constant_metrics(analysis)
    if not names:
        return None
    rows = []
    for k in names:
        m = analysis.metrics[k]
        note = "; ".join(esc(headline(d)) for d in diagnostics_for(analysis, k)) or "-"
        rows.append([md.code(k), num(m.latest, ".6g"), m.count, f"{m.first_step} .. {m.latest_step}", Md(note)])
    return Markdown("**Constant over the whole run** (no figure: the value is all there is to see)\n\n"
                    + table(["metric", "value", "entries", "steps", "finding"], rows))


def progress(analysis: Any) -> Markdown:
    """How far the run is, how fast, and what each launch boundary is (where the run began is in the title)."""
    a = analysis
    total = f"{a.total_steps} (from the {a.total_steps_source})" if a.total_steps else \
        Md("unknown: give `total_steps` (the log's config has no train_num_steps)")
    kinds = [r.kind for r in a.resumes]
    rows = [["logged steps analysed", a.entries], ["steps", f"{a.first_step} .. {a.latest_step}"],
            ["train_num_steps", total], ["progress", pct(a.progress)],
            ["speed", f"{a.steps_per_hour:,.0f} steps/hour" if a.steps_per_hour else "unknown"],
            ["time left at that speed", "unknown: the latest entry is the log's last before train_num_steps"
             if a.at_last_log_point else duration(a.time_left) if a.time_left is not None else "unknown"],
            ["launch segments", a.segments]]
    rows += [[f"{k}s", kinds.count(k)] for k in ("resume", "restart", "crash-and-relaunch") if k in kinds or k == "resume"]
    rows += [["launches set aside", len(a.set_aside)],
             ["superseded rows (re-logged by a later launch)", a.superseded_rows]]
    parts = [table(["", "value"], rows)]
    if a.resumes:
        parts.append("\n".join(f"- {esc(boundary_sentence(r))}" for r in a.resumes))
    elif not provenance_sentence(a):
        parts.append("The log holds a single launch: no resume.")
    else:  # the run began before its logs (the title says where): resumed, but not within them
        parts.append("The logs hold a single launch: no resume within them.")
    return Markdown("\n\n".join(parts))


def resume_text(analysis: Any, index: int) -> Markdown:
    """One launch boundary: its kind; for a resume, replayed steps, gap and each metric's continuity evidence;
    for a restart or relaunch, the config keys that changed and the launches set aside."""
    r = analysis.resumes[index]
    if r.kind != "resume":
        return _set_aside_text(r)
    replay = (f"{r.replayed_steps} logged step(s) replayed ({r.replayed_range[0]}..{r.replayed_range[1]}, "
              "earlier values kept as superseded rows)" if r.replayed_steps and r.replayed_range else "no step replayed")
    ck = f" from {md.code(r.checkpoint)}" if r.checkpoint else ""
    head = (f"### Resume at step {r.step}\n\nSegment {r.segment} resumes{ck} at step {r.step} after the previous "
            f"launch last logged step {r.previous_last_step}; {replay}; wall-clock gap "
            f"{duration(r.gap_seconds)}. File: {md.code(r.file)}.\n\n")
    if r.config_changes:
        head += _changes_table(r.config_changes, "Resumed with these config keys changed (none makes it another "
                                                   "experiment)") + "\n\n"
    if r.jump_test:
        head += f"Jump test {esc(r.jump_test)}.\n\n"
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
                    "on the last block before the resume. \"insufficient data\": too few entries before the resume "
                    "(in the metric's phase) to extrapolate and check the extrapolation; such a metric is not tested.")


def _changes_table(changes: list[dict], caption: str) -> str:
    rows = [[md.code(c["key"]), "absent" if c["before"] is None else repr(c["before"]),
             "absent" if c["after"] is None else repr(c["after"]), c["aspect"] or "-"] for c in changes]
    return f"**{caption}**\n\n" + table(["config key", "before", "after", "aspect"], rows)


def _set_aside_text(r: Any) -> Markdown:
    """A restart or a crash-and-relaunch: why, what changed, which launches are set aside, no jump test."""
    what = "Restart" if r.kind == "restart" else "Crash-and-relaunch"
    meaning_ = ("another experiment: the report analyses it, and the launches before it are set aside (not in any "
                "statistic)" if r.kind == "restart" else
                "the same experiment launched again from where the stopped launch began: the stopped launch is set "
                "aside")
    parts = [f"### {what} at step {r.step}", f"Segment {r.segment} ({md.code(r.file)}) starts at step {r.step}: "
             f"{meaning_}. Jump test {esc(r.jump_test)}."]
    if r.config_changes:
        parts.append(_changes_table(r.config_changes, "Config keys that changed"))
    elif not r.configs_logged:
        parts.append("No config is logged per launch, so nothing says the two launches are one experiment.")
    rows = [[md.code(x["file"]), f"{x['first_step']} .. {x['last_step']}", x["entries"],
             esc(x["last_error"]) if x["last_error"] else ("traceback" if x["traceback_lines"] else "no error logged")]
            for x in r.set_aside]
    parts.append("**Set aside**\n\n" + table(["file", "steps", "entries", "how its log ends"], rows))
    lc = r.level_change
    if lc:
        where = (f"over the steps both logged ({lc['steps'][0]}..{lc['steps'][1]})" if lc["over"] == "shared steps"
                 else "at the boundary (medians of the last and first entries)")
        ratio = f", {lc['ratio']:.3g}x" if lc["ratio"] is not None else ""
        parts.append(f"Median {md.code(lc['metric'])} {where}: {num(lc['before'], '.4g')} in the set-aside launch, "
                     f"{num(lc['after'], '.4g')} in this one{ratio}.")
    return Markdown("\n\n".join(parts))


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
        change = f", {m.change_pct:+.1f}%" if m.change_pct is not None else ""
        obs.append(f"Level {num(m.start_level)} at the start and {num(m.end_level)} at the end (medians of the first "
                   f"and last {m.level_n} entries{change}); latest {num(m.latest)}; range {num(m.min)} to "
                   f"{num(m.max)}.")
    if name == LR:
        lr = lr_sentence(analysis.lr_schedule)
        if lr:
            obs.append(esc(lr) + (" Dashed in the figure." if (analysis.lr_schedule or {}).get("reconstructed") else ""))
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
        obs.append(f"Finding {esc(headline(d))} ({md.code(d.id)}, {esc(severity_word(d))}): "
                   f"{esc(d.message)}")
    return Markdown("\n".join(f"- {o}" for o in obs) + f"\n\n*What it is:* {meaning(analysis, name)}")


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
    parts = []
    for d in by_severity(analysis.diagnostics):
        ev = "; ".join(f"{k} = {_evidence(v)}" for k, v in d.evidence.items())
        parts.append(f"- {md.bold(severity_word(d))} {md.bold(headline(d))} ({md.code(d.id)}): "
                     f"{esc(d.message)}" + (f"<br>*Evidence:* {esc(ev)}" if ev else ""))
    return Markdown("\n".join(parts))


def _evidence(v: Any) -> str:
    if isinstance(v, float):
        return num(v, ".4g")
    if isinstance(v, (dict, list)):
        return json.dumps(v, default=lambda x: num(x, ".4g") if isinstance(x, float) else str(x))[:300]
    return str(v)


def recommendations(analysis: Any) -> Markdown:
    """What to do next: one line per diagnostic that has a recommendation, by severity (the analysis' order)."""
    todo = advice(analysis.diagnostics)
    if not todo:
        return Markdown("No diagnostic calls for a change; keep training to `train_num_steps` and evaluate on "
                        "held-out maps.")
    lines = []
    for i, (d, what) in enumerate(todo, 1):
        lines.append(f"{i}. **{esc(severity_word(d))}: {esc(headline(d))}** ({md.code(d.id)}): {esc(what)}")
    return Markdown("\n".join(lines))


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
    latent = (f"\n\nLatent {esc(lat.get('shape'))}: 1/std of the latents over these maps = "
              f"{num(lat.get('scale_factor'), '.4g')}. RadioDiff's second stage measures its scale_factor this way "
              "(from its first batch alone) only with scale_by_std and default_scale false; with default_scale true "
              "it uses the scale_factor written in its config.") if lat else ""
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


def sources(run: Any, analysis: Any) -> Markdown:
    """Which file was read as what and used for what, with its rows; and the disagreements found."""
    rows = [[md.text(s["path"]), md.text(s["kind"]), md.text(s["used_for"]), _n(s.get("rows_read")), _n(s["rows_used"]),
             _n(s["rows_duplicate"]), _n(s["rows_disagreeing"])] for s in analysis.sources]
    out = "**Files and what each was used for**\n\n" + table(
        ["file", "kind", "used for", "rows read", "rows used", "rows in both sources", "rows disagreeing"], rows)
    for d in analysis.disagreements:
        ex = "; ".join(f"step {x['step']}: text {num(x['text'], '.6g')}, events {num(x['events'], '.6g')}"
                       for x in d["examples"])
        out += (f"\n\n- **{d['count']} disagreement(s)** in {md.text(d['metric'])} between {md.text(d['text_file'])} and "
                f"{md.text(d['events_file'])} (the events' value is kept): {ex}.")
    if analysis.disagreements:
        out += ("\n\nWith `gradient_accumulate_every` above 1 the second stage's text `total_loss` adds up running "
                "totals and its events hold the last micro-batch's share, so they legitimately differ.")
    if analysis.total_steps_source == "step lines":
        out += "\n\nThe total number of steps comes from the step lines' `/TOTAL` (no config in the log)."
    return Markdown(out)


def _n(x: Any) -> str:
    return "-" if x is None else str(x)


def second_stage(analysis: Any) -> Markdown:
    """The second stage's settings (the latent scale as RadioDiff applies it), its LR schedule as logged and
    reconstructed, and its config (unknown keys shown)."""
    st, lr = analysis.stage_settings, analysis.lr_schedule
    ckpt = st.get("first_stage_ckpt")
    milestone = st.get("first_stage_milestone")
    scale = st.get("scale") or {}
    flags = ", ".join(f"{k} {st.get(k)!r}" for k in ("scale_by_std", "default_scale", "scale_by_softsign"))
    rows = [["first-stage checkpoint", md.text(ckpt or "not in the config")
             + (md.text(f" (milestone {milestone}: step {milestone} x the first stage's save_and_sample_every)")
                if milestone is not None else "")],
            ["fine-tune source (finetune.ckpt_path)", md.text(st.get("finetune_ckpt") or "none")
             + (md.text(f" (milestone {ft[0]})") if (ft := checkpoint_milestone(st.get("finetune_ckpt") or "")) else "")],
            ["latent scale", md.text(f"{scale.get('words', '-')} ({flags}, scale_factor {num(st.get('scale_factor'), '.6g')})")],
            ["EMA starts at (ema_update_after_step)", st.get("ema_start") if st.get("ema_start") is not None else "-"],
            ["EMA updated every", md.text(st.get("ema_every")) if st.get("ema_every") is not None else "-"]]
    if lr:
        rows.append(["LR", md.text(lr_sentence(lr))])
    out = ("A second-stage run (latent diffusion on a trained VAE): no GAN phase and no loss decomposition.\n\n"
           + table(["setting", "value"], rows))
    if analysis.config_known or analysis.config_unknown:
        out += "\n\n**Config keys of the second stage's schema**\n\n" + table(
            ["key", "value", "meaning"], [[md.text(k), md.text(v), m] for k, v, m in analysis.config_known])
        if analysis.config_unknown:
            out += "\n\n**Keys the schema does not know** (kept as logged)\n\n" + table(
                ["key", "value"], [[md.text(k), md.text(v)] for k, v in analysis.config_unknown])
    return Markdown(out)


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
