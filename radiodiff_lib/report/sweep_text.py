"""Markdown of a checkpoint sweep, written from its JSON (``SweepResult.to_json()`` or ``sweep.json``).

Every number comes from the sweep; file names, paths and config values are data and go through
``report.markdown``. Each function returns an ``IPython.display.Markdown``.
"""
from __future__ import annotations

from pathlib import Path
from IPython.display import Markdown

from ..formatting import num
from ..vocabulary import METRIC_NAMES, SWEEP_METRICS
from . import markdown as md
from .markdown import Md, table

PRECISION = {"no": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast"}


def interval(d: dict | None, fmt: str = ".4g") -> str:
    """``mean [low, high]``, or a dash."""
    if not d:
        return "-"
    return f"{num(d['mean'], fmt)} [{num(d['low'], fmt)}, {num(d['high'], fmt)}]"


def name(path: str | None) -> str:
    """A checkpoint's file name."""
    return Path(path).name if path else "-"


def _candidate(payload: dict, path: str | None, weights: str | None) -> dict | None:
    return next((c for c in payload["checkpoints"] if c["path"] == path and c["weights"] == weights), None)


def title(payload: dict, run: str) -> Markdown:
    """What was swept: the run, the items, the settings."""
    n_ok = sum(c["status"] == "ok" for c in payload["checkpoints"])
    note = f" {md.text(payload['precision_note'])}." if payload.get("precision_note") else ""
    left_out = payload.get("excluded_train_maps") or []
    excluded = (f" The {len(left_out)} map(s) of the split the run trained on are left out: "
                f"{md.text(', '.join(str(m) for m in left_out))}.") if left_out else ""
    return Markdown(
        f"Run {md.code(run)}: {len(payload['checkpoints'])} candidate(s), {n_ok} scored, each on the same "
        f"{payload['transmitters']} items ({payload['maps']} maps) of the {md.text(payload['split'])} split "
        f"({md.text(payload['protocol'])} protocol) of {md.code(payload['data'])}; "
        f"{md.text(payload['metric'].upper())} decides; forward in "
        f"{PRECISION.get(payload['precision'], md.text(payload['precision']))} on {md.text(payload['device'])}.{note}"
        f"\n\nTraining maps of the run: {md.text(payload.get('training_maps') or 'unknown')}.{excluded}")


def verdict(payload: dict) -> Markdown:
    """The best checkpoint, the set indistinguishable from it, the earliest of that set, and the choice."""
    if payload["best"] is None:
        return Markdown("No checkpoint could be scored, so there is no verdict (see the table for the reasons).")
    metric, level = payload["metric"], payload.get("level", 0.95)
    best = _candidate(payload, payload["best"], payload["best_weights"])
    early = _candidate(payload, payload["earliest_indistinguishable"], payload["earliest_weights"])
    same = [f"{md.code(name(p))} ({md.text(w)})"
            for p, w in zip(payload["indistinguishable"], payload["indistinguishable_weights"])]
    chosen = _candidate(payload, payload["chosen"], payload["chosen_weights"])
    lines = [
        f"- **Best** by mean {METRIC_NAMES[metric]}: {md.code(name(best['path']))} ({md.text(best['weights'])} "
        f"weights, step {best['step']}): {interval(best[metric])} over {payload['maps']} maps.",
        f"- **Indistinguishable from it** ({level:.0%} interval of the paired difference holds 0): "
        f"{', '.join(same)}.",
        f"- **Earliest of them**: {md.code(name(early['path']))} (step {early['step']}), difference to the best "
        f"{interval(early['diff_to_best'], '.3g')}: the cheaper choice, and how long the run needed to train.",
        f"- **Handed off** ({md.text(payload['choose'])}): {md.code(name(chosen['path']))} "
        f"({md.text(chosen['weights'])} weights).",
    ]
    method = ("Intervals: a cluster bootstrap over maps (a map's transmitters resampled together; "
              f"{payload['bootstrap']['draws']} draws, seed {payload['bootstrap']['seed']}). The best is picked on "
              "these same maps, so its own mean is slightly optimistic; the test figures below are not.")
    # the sweep's notes: items left out of the comparison, training maps among the scored ones, the test sets
    caveats = [f"- **Note:** {md.text(n)}" for n in payload.get("notes") or []]
    return Markdown("\n".join(lines) + "\n\n" + method + ("\n\n" + "\n".join(caveats) if caveats else ""))


def candidates_table(payload: dict) -> Markdown:
    """Every candidate: step, status, each metric with its interval and the difference to the best."""
    best = (payload["best"], payload.get("best_weights"))
    same = set(zip(payload["indistinguishable"], payload.get("indistinguishable_weights") or []))
    rows = []
    for c in payload["checkpoints"]:
        key = (c["path"], c["weights"])
        mark = "best" if key == best else ("indistinguishable" if key in same else "")
        status = c["status"] if c["status"] == "ok" else "skipped: " + c["status"]
        rows.append([md.code(name(c["path"])), c["weights"], "-" if c["step"] is None else c["step"], status,
                     *[interval(c.get(m)) for m in SWEEP_METRICS], interval(c.get("diff_to_best"), ".3g"), mark])
    headers = ["checkpoint", "weights", "step", "status", *[METRIC_NAMES[m] for m in SWEEP_METRICS],
               f"{payload['metric'].upper()} minus best", "verdict"]
    return Markdown(table(headers, rows))


def confirmation(payload: dict) -> Markdown:
    """The handed-off checkpoint on each labelled test set."""
    if not payload.get("confirmation"):
        return Markdown("Not confirmed on test maps (no checkpoint was chosen).")
    rows = [[Md(md.bold(c["label"])), c["maps"], c["transmitters"], *[interval(c[m]) for m in SWEEP_METRICS]]
            for c in payload["confirmation"]]
    return Markdown(f"{md.code(name(payload['chosen']))} ({md.text(payload['chosen_weights'])} weights) on maps "
                    "no checkpoint was chosen on:\n\n"
                    + table(["set", "maps", "items", *[METRIC_NAMES[m] for m in SWEEP_METRICS]], rows))


def latents(payload: dict) -> Markdown:
    """The scale factor with its interval, and per channel mean, std and the near-zero flags."""
    lat = payload.get("latent")
    if not lat:
        return Markdown("No latent statistics (no checkpoint was chosen).")
    sf = lat["scale_factor"]
    rows = [[c["channel"], num(c["mean"], ".4g"), num(c["std"], ".4g"), num(c["mode_std"], ".4g"),
             "yes" if c["near_zero"] else "", "yes" if c["uninformative"] else ""] for c in lat["channels"]]
    flagged = [c["channel"] for c in lat["channels"] if c["near_zero"] or c["uninformative"]]
    warn = (f"\n\n**Channels {flagged} barely vary**: they carry little of the map, and a channel whose sample std "
            "is near 0 would be blown up by 1/std.") if flagged else ""
    return Markdown(
        f"**scale_factor = 1 / std = {num(sf['value'], '.6g')}** over {lat['maps']} {md.text(lat['split'])} maps "
        f"({lat['items']} items, posterior samples as the second stage encodes them); two disjoint halves of the "
        f"maps give {num(sf['low'], '.6g')} .. {num(sf['high'], '.6g')}.\n\n"
        + table(["channel", "mean", "std (samples)", "std of the posterior mean", "std near 0", "uninformative"],
                rows) + warn)


def handoff(payload: dict, handoff_text: str | None) -> Markdown:
    """Where ``handoff.yaml`` is, what it holds, and what the stage-2 config check found."""
    if not payload.get("handoff"):
        return Markdown("No hand-off written (no checkpoint was chosen).")
    parts = [f"Merge {md.code(payload['handoff'])} into the second stage's config (RadioDiff's "
             "`configs/radio_train.yaml`): it names the VAE and sets the measured scale so that "
             "`scale_by_std: True` with `default_scale: True` uses it as written."]
    if payload.get("first_stage_copy"):
        parts.append(f"The chosen weights were written in RadioDiff's layout to {md.code(payload['first_stage_copy'])} "
                     "(both `model` and `ema` hold them: the second stage loads `ema` when present).")
    if handoff_text:
        parts.append(md.fenced(handoff_text, "yaml"))
    stage2 = payload.get("stage2")
    if stage2:
        rows = [[md.code(d["key"]), md.code(d["config"]), md.code(d["handoff"])] for d in stage2["differences"]]
        parts.append(f"**{md.code(stage2['source'])} beside the hand-off**: {len(rows)} key(s) differ; merged config "
                     f"written to {md.code(stage2['merged_config'])}.")
        if rows:
            parts.append(table(["key", "in the config", "hand-off"], rows))
        parts += [f"- **Warning:** {md.text(w)}" for w in stage2["warnings"]]
    else:
        parts.append("No second-stage config given: render with `-p stage2_config radio_train.yaml` (or "
                     "`radiodiff sweep --stage2-config`) to check one against the hand-off.")
    return Markdown("\n\n".join(parts))


def appendix(payload: dict, params: dict | None = None) -> Markdown:
    """Skipped candidates, timings, the notebook parameters."""
    skipped = [[md.code(name(c["path"])), c["weights"], c["status"]] for c in payload["checkpoints"]
               if c["status"] != "ok"]
    parts = [f"**Skipped: {len(skipped)}**" + ("\n\n" + table(["checkpoint", "weights", "reason"], skipped)
                                                   if skipped else " (every checkpoint was scored).")]
    cached = sum(bool(c.get("cached")) for c in payload["checkpoints"])
    t = payload.get("timings") or {}
    handoff = (" (and the chosen one's test confirmation and latent statistics)" if payload.get("handoff_cached")
               else "")
    parts.append(f"**Cache:** {cached} of {len(payload['checkpoints'])} candidates read from the cache{handoff}; "
                 + ", ".join(f"{md.text(k)} {num(v, '.3g')}" for k, v in t.items()))
    if params:
        parts.append("**Notebook parameters:** " + ", ".join(md.text(f"{k}={v!r}") for k, v in params.items()))
    return Markdown("\n\n".join(parts))


def analyze_verdict(payload: dict, where: str) -> Markdown:
    """The sweep's verdict for a run's analysis report: which checkpoint, how sure, the scale."""
    lat = payload.get("latent") or {}
    sf = lat.get("scale_factor")
    scale = (f" Its latent scale_factor is {num(sf['value'], '.6g')} (halves of the maps {num(sf['low'], '.6g')} .. "
             f"{num(sf['high'], '.6g')}); hand-off in {md.code(payload['handoff'])}.") if sf else ""
    return Markdown(f"From the sweep in {md.code(where)}:\n\n" + verdict(payload).data + scale)


def no_sweep() -> Markdown:
    """Said in a run's analysis report when no sweep was given."""
    return Markdown("No sweep given: run `radiodiff sweep RUN` and render again with `-p sweep RUN/sweep` to add "
                    "which checkpoint to hand to the second stage, with its interval over maps.")
