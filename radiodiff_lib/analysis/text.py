"""Words and JSON for an Analysis: summary sentences, the terminal summary, to_json.

Every sentence is computed from the numbers of the Analysis; none praises a run (no "excellent",
no "converging"): it states values, slopes with their p-values, and the diagnostics' findings.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from ..formatting import duration, num, to_jsonable
from ..vocabulary import KIND_EVENTS, LDM_TOTAL_LOSS, LOSS_SIMPLE, REC_LOSS, STAGE_LDM, TOTAL_LOSS
from .boundaries import RESTART, RESUME, describe_changes, describe_launch, describe_level
from .diagnostics import by_severity, headline


def summary_sentences(a: Any) -> list[str]:
    """Plain sentences, each computed from the analysis numbers."""
    if a.entries == 0:
        return ["The run has no logged steps to analyse."]
    aside = a.set_aside_rows
    out = [f"Analysed {a.entries} logged steps from step {a.first_step} to step {a.latest_step} in "
           f"{a.segments} segment(s); {a.superseded_rows} superseded row(s) re-logged by a later launch "
           f"are kept aside and not counted" + (f", nor are the {aside} row(s) of set-aside launches" if aside else "")
           + "."]
    for part in (_findings, _provenance, _set_aside, _stage, _sources, _progress, _gan_phase, _lr_schedule,
                 _main_losses, _negative_total, _boundaries, _skipped):
        out += part(a)
    return out


def provenance_sentence(a: Any) -> str | None:
    """Where the run began, when its logs do not begin at step 0 (None when they do)."""
    st = a.run_start
    step = st.get("step")
    if not step:
        return None
    s = f"The logs begin at step {step:,}, not 0"
    m, every = st.get("resumed_from_milestone"), st.get("save_and_sample_every")
    if m is not None and st.get("source") == "config":
        s += (f": the run was resumed from {st['checkpoint']} (resume_milestone {m} x save_and_sample_every "
              f"{every:,} = step {st['milestone_step']:,})")
    elif m is not None:
        s += (f": it was resumed from {st['checkpoint']} (step {step:,} = milestone {m} x save_and_sample_every "
              f"{every:,}; inferred, the config names resume_milestone {num(st.get('config_resume_milestone'))})")
    else:
        s += ": it was resumed from a checkpoint the config does not name"
    if st.get("enable_resume") is not None:
        s += f"; enable_resume {st['enable_resume']}"
    earlier = st.get("earlier_steps_logged") or 0
    s += (f". {earlier} logged step(s) before it are in these logs (set aside)" if earlier else
          f". The logs of the steps before {step:,} are not here: every first value, start level and change "
          f"below starts at step {step:,}")
    return s + "."


def _provenance(a: Any) -> list[str]:
    s = provenance_sentence(a)
    return [s] if s else []


def _set_aside(a: Any) -> list[str]:
    aside = a.set_aside
    if not aside:
        return []
    return [f"{len(aside)} earlier launch(es) are set aside, not analysed: "
            + "; ".join(f"{describe_launch(x)}, before the {x['reason']} at step {x['boundary_step']:,}" for x in aside)
            + "."]


def _progress(a: Any) -> list[str]:
    if a.total_steps:
        s = (f"The latest step {a.latest_step} is {a.progress:.1%} of train_num_steps {a.total_steps} "
             f"(from the {a.total_steps_source})")
        if a.at_last_log_point:
            return [s + f"; it is the last step the log can show (one entry every {a.log_interval} steps, training "
                    f"ends after step {a.total_steps - 1}), so the log cannot tell whether the "
                    f"{a.total_steps - 1 - a.latest_step} step(s) after it ran."]
        if a.steps_per_hour:
            s += f"; at {a.steps_per_hour:,.0f} steps per hour about {duration(a.time_left)} remain"
        return [s + "."]
    if a.steps_per_hour:
        return [f"Training ran at {a.steps_per_hour:,.0f} steps per hour; the total number of steps is "
                f"unknown (no train_num_steps in the config, no /TOTAL on the step lines, no total_steps given)."]
    return []


def _stage(a: Any) -> list[str]:
    if a.stage != STAGE_LDM:
        return []
    st = a.stage_settings
    ckpt = st.get("first_stage_ckpt")
    s = ("This is a second-stage run (train_cond_ldm.py: latent diffusion on a trained VAE): no GAN phase; "
         f"first-stage checkpoint {ckpt or 'not named in the config'}")
    if st.get("first_stage_milestone") is not None:
        s += (f" (milestone {st['first_stage_milestone']} of the first-stage run: step {st['first_stage_milestone']} "
              "x that run's save_and_sample_every)")
    scale = st.get("scale")
    s += f"; {scale['words']}" if scale else ""
    s += f"; the EMA starts at step {st['ema_start']} (ema_update_after_step)" if st.get("ema_start") is not None else ""
    return [s + "."]


def _sources(a: Any) -> list[str]:
    used = [s for s in a.sources if s.get("rows_used")]
    kinds = sorted({s["kind"] for s in used})
    if len(kinds) < 2:
        return []
    dup = sum(s["rows_duplicate"] for s in used if s["kind"] != KIND_EVENTS)
    s = (f"Rows merged from {len(used)} file(s) of {len(kinds)} kinds ({', '.join(kinds)}): {dup} step(s) logged "
         "by both sources are one row each")
    n = sum(d["count"] for d in a.disagreements)
    s += (f"; {n} value(s) disagree beyond the text's printed precision (the events' value is kept)" if n
          else "; every value logged by both agrees within the text's printed precision")
    return [s + "."]


def lr_sentence(lr: dict | None) -> str | None:
    """The LR as logged and, where the log lost its digits, as reconstructed from the config."""
    if not lr:
        return None
    s = (f"The logged LR goes from {lr['first']:.6g} at step {lr['first_step']} to {lr['latest']:.6g} at step "
         f"{lr['latest_step']} (smallest {lr['min']:.6g}), read from {lr['source']}")
    rec = lr.get("reconstructed")
    if rec:
        agree = ("it agrees with every printed value to the 5th decimal" if rec["agrees_with_log"] else
                 f"it differs from the printed values by up to {rec['max_abs_difference']:.3g}, more than their "
                 "rounding: this run's trainer computes its LR otherwise, and the reconstruction is not used")
        s += (f"; reconstructed from the config as {rec['formula']}, it is {rec['first']:.3g} at the first logged "
              f"step and {rec['latest']:.3g} at step {rec['latest_step']:,} ({agree})")
    return s + "."


def _lr_schedule(a: Any) -> list[str]:
    s = lr_sentence(a.lr_schedule)
    return [s] if s else []


def _gan_phase(a: Any) -> list[str]:
    if a.disc_start is None:
        if a.disc_first_logged_step is None:
            return []
        return [f"disc_factor is first above 0 at logged step {a.disc_first_logged_step} (no disc_start in "
                f"the config)."]
    s = f"The GAN phase starts at disc_start {a.disc_start} (config)"
    if a.disc_first_logged_step is not None:
        s += f"; disc_factor is first above 0 at logged step {a.disc_first_logged_step}"
    else:
        s += "; no logged step has disc_factor above 0 yet"
    if a.gan_phase_progress is not None:
        s += f"; the run is {a.gan_phase_progress:.1%} through the GAN phase"
    return [s + "."]


def _main_losses(a: Any) -> list[str]:
    out = []
    for k in (REC_LOSS, TOTAL_LOSS, LOSS_SIMPLE, LDM_TOTAL_LOSS):
        m = a.metrics.get(k)
        if m is None or m.latest is None:
            continue
        s = f"{k} is {num(m.latest, '.6g')} at step {m.latest_step}"
        s += (f"; its level went from {num(m.start_level, '.4g')} to {num(m.end_level, '.4g')} (medians of the first "
              f"and last {m.level_n} entries" + (f", {m.change_pct:+.1f}%)" if m.change_pct is not None else ")"))
        t = m.trend
        if t is not None:
            s += (f"; over the last {t.n} entries its slope is {t.slope_per_1k_steps:+.4g} per 1k steps "
                  f"(p={t.p_value:.3g}, {'distinguishable' if t.significant else 'not distinguishable'} from noise)")
        out.append(s + f"; status: {m.status}.")
    return out


def _negative_total(a: Any) -> list[str]:
    tot = a.metrics.get(TOTAL_LOSS)
    if tot is None or tot.latest is None or not np.isfinite(tot.latest) or tot.latest >= 0 or not len(a.decomposition):
        return []
    last = a.decomposition.dropna(subset=["logged_total"]).iloc[-1]
    rest = last["nll_loss"] + (0.0 if pd.isna(last["kl_term"]) else last["kl_term"])
    gan = last["gan_term"]
    if np.isfinite(gan) and gan < 0 < rest:
        return [f"The total loss is negative ({last['logged_total']:.6g} at step {int(last['step'])}) "
                f"because the GAN term contributes {gan:.6g} against {rest:.6g} from reconstruction "
                f"and KL; a negative total is not a better model."]
    if np.isfinite(rest):
        return [f"The total loss is negative ({last['logged_total']:.6g} at step {int(last['step'])}): "
                f"nll_loss plus the KL term is {rest:.6g} and the GAN term {num(gan, '.6g')}."]
    return []


def boundary_sentence(r: Any) -> str:
    """One launch boundary in words: its kind, what changed, what is set aside, the jump test or why not."""
    if r.kind == RESUME:
        ck = f" (from {r.checkpoint})" if r.checkpoint else ""
        s = (f"Resume at step {r.step:,}{ck}: {r.replayed_steps} logged step(s) replayed, wall-clock gap "
             f"{duration(r.gap_seconds)}")
        if r.config_changes:
            s += f"; resumed with {describe_changes(r.config_changes)}"
        if r.jump_test:
            return s + f"; jump test {r.jump_test}."
        jumps = [k for k, v in r.continuity.items() if v == "jump"]
        untested = [k for k, v in r.continuity.items() if v == "insufficient data"]
        s += f"; jump in {', '.join(jumps)}" if jumps else "; no jump in the metrics tested"
        if untested:
            ev = [r.evidence[k] for k in untested if "needed_before" in r.evidence.get(k, {})]
            why = (f" ({min(e['n_before'] for e in ev)} entries before the resume in their phase, "
                   f"{ev[0]['needed_before']} needed)" if ev else "")
            s += f"; not tested: {', '.join(untested)}{why}"
        return s + "."
    what = "Restart" if r.kind == RESTART else "Crash-and-relaunch"
    why = describe_changes(r.config_changes) if r.config_changes else (
        "no config logged per launch" if not r.configs_logged else "same config")
    s = (f"{what} at step {r.step:,} ({r.file}): {why}; set aside: "
         + "; ".join(describe_launch(x) for x in r.set_aside))
    level = describe_level(r.level_change)
    s += f"; {level}" if level else ""
    return s + f"; jump test {r.jump_test}."


def _boundaries(a: Any) -> list[str]:
    return [boundary_sentence(r) for r in a.resumes]


def _skipped(a: Any) -> list[str]:
    if not a.skipped["count"]:
        return []
    return [f"{a.skipped['count']} log line(s) were skipped: "
            + ", ".join(f"{n} {r}" for r, n in a.skipped["reasons"].items()) + "."]


def _findings(a: Any) -> list[str]:
    crit = [headline(d) for d in a.diagnostics if d.severity == "critical"]
    warn = [headline(d) for d in a.diagnostics if d.severity == "warning"]
    return [f"{len(crit)} critical finding(s){': ' + '; '.join(crit) if crit else ''}; "
            f"{len(warn)} warning(s){': ' + '; '.join(warn) if warn else ''}."]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))


def summary_text(a: Any) -> str:
    """Terminal table of the metrics, then the sentences, diagnostics and recommendations."""
    head = ["metric", "start", "end", "latest", "min", "max", "change %", "slope/1k (p)", "status"]
    rows = []
    for k, m in a.metrics.items():
        t = m.trend
        slope = f"{t.slope_per_1k_steps:+.3g} ({t.p_value:.2g})" if t is not None else "-"
        rows.append([k, num(m.start_level, ".6g"), num(m.end_level, ".6g"), num(m.latest, ".6g"), num(m.min, ".6g"),
                     num(m.max, ".6g"), num(m.change_pct, "+.1f") if m.change_pct is not None else "-", slope,
                     m.status])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    lines = [_row(head, widths), _row(["-" * w for w in widths], widths)] + [_row(r, widths) for r in rows]
    n = max((m.level_n for m in a.metrics.values()), default=0)
    lines += [f"start / end: medians of the first / last {n} entries of each metric (fewer on a short metric); "
              "change % is end vs start.", "", *a.summary_sentences, ""]
    lines.append(f"Diagnostics ({len(a.diagnostics)}):" if a.diagnostics else "Diagnostics: none.")
    for d in by_severity(a.diagnostics):
        lines.append(f"  [{d.severity.upper()}] {d.id}: {d.message}")
    if a.recommendations:
        lines += ["", "Recommendations:"] + [f"  - {r}" for r in a.recommendations]
    return "\n".join(lines)


def _trend_json(t: Any) -> dict | None:
    if t is None:
        return None
    d = dataclasses.asdict(t)
    d["slope_per_1k_steps"] = t.slope_per_1k_steps
    d["direction"] = "none" if not t.significant else ("down" if t.slope_per_step < 0 else "up")
    return d


def _metric_json(m: Any) -> dict:
    """Every field of a MetricStats but its name (the key it is stored under), its trend with the derived fields."""
    out = {f.name: getattr(m, f.name) for f in dataclasses.fields(m) if f.name != "name"}
    out["trend"] = _trend_json(m.trend)
    return out


def to_json(a: Any) -> dict:
    """The whole analysis as JSON-serialisable data: headline numbers, metrics, phases, resumes,
    decomposition, diagnostics, sentences, skipped lines and thresholds."""
    metrics = {k: _metric_json(m) for k, m in a.metrics.items()}
    dec = a.decomposition
    fin = dec.dropna(subset=["residual"]) if len(dec) else dec
    out = {
        "entries": a.entries, "first_step": a.first_step, "latest_step": a.latest_step,
        "total_steps": a.total_steps, "total_steps_source": a.total_steps_source, "progress": a.progress,
        "log_interval": a.log_interval, "at_last_log_point": a.at_last_log_point,
        "steps_per_hour": a.steps_per_hour, "time_left_seconds": a.time_left,
        "disc_start": a.disc_start, "disc_first_logged_step": a.disc_first_logged_step,
        "gan_phase_progress": a.gan_phase_progress, "segments": a.segments, "superseded_rows": a.superseded_rows,
        "metrics": metrics,
        "phases": [{"name": p.name, "first_step": p.first_step, "last_step": p.last_step, "entries": p.entries}
                   for p in a.phases],
        "resumes": [{"step": r.step, "segment": r.segment, "kind": r.kind, "replayed_steps": r.replayed_steps,
                     "replayed_range": r.replayed_range, "gap_seconds": r.gap_seconds, "file": r.file,
                     "checkpoint": r.checkpoint, "config_changes": r.config_changes, "jump_test": r.jump_test,
                     "set_aside": r.set_aside, "level_change": r.level_change,
                     "continuity": r.continuity, "continuity_evidence": r.evidence} for r in a.resumes],
        "run_start": a.run_start, "set_aside": a.set_aside, "experiment_segment": a.experiment_segment,
        "decomposition": {"kl_weight": a.kl_weight, "kl_weight_source": a.kl_weight_source,
                          "entries": int(len(fin)),
                          "max_abs_residual": float(fin["residual"].abs().max()) if len(fin) else None,
                          "latest": fin.iloc[-1].to_dict() if len(fin) else None},
        "diagnostics": [{"id": d.id, "severity": d.severity, "headline": headline(d), "message": d.message,
                         "evidence": d.evidence} for d in a.diagnostics],
        "recommendations": a.recommendations, "summary_sentences": a.summary_sentences,
        "skipped": {"count": a.skipped["count"], "reasons": a.skipped["reasons"]},
        "thresholds": a.thresholds,
        "stage": a.stage,
        "sources": [{k: s.get(k) for k in ("path", "kind", "used_for", "rows_read", "rows_used", "rows_duplicate",
                                           "rows_disagreeing")} for s in a.sources],
        "disagreements": a.disagreements, "crashed_launches": a.crashed_launches, "lr_schedule": a.lr_schedule,
        "stage_settings": a.stage_settings,
        "config_unknown_keys": [k for k, _ in a.config_unknown],
    }
    return to_jsonable(out)
