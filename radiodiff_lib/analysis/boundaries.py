"""Launch boundaries told apart: a resume, a restart (another experiment) or a crash-and-relaunch.

Rule for the boundary where launch L (a stitched segment) follows launch P, in this order:
- restart: L's config changes an aspect in ``configs.RESTART_ASPECTS`` (train_num_steps, data set,
  simulation, first-stage checkpoint, fine-tune source, architecture), whatever step L starts at; or
  L starts again at or before P's first step and the logs hold no config of one of them (nothing says
  it is the same experiment).
- crash-and-relaunch: the same experiment, and L starts at or before P's first logged step: nothing
  P logged is continued (P stopped, and the experiment was launched again from where P began).
- resume: the same experiment, L starts after P's first step: it continues from a checkpoint; the
  continuity (jump) test applies.
The analysed experiment begins at the last restart: the rows of every launch before it are set
aside (kept, shown, not analysed), and so is a crash-and-relaunch's stopped launch (the reader has
already superseded its rows). Each set-aside launch is compared with the launch after it on the
main loss over the steps both logged (medians), so a 13x jump between two experiments is named.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..config_dict import config_diff
from ..logs import Run
from ..vocabulary import LDM_TOTAL_LOSS, LOSS_SIMPLE, REC_LOSS, TOTAL_LOSS
from .configs import RESTART_ASPECTS, aspect_of
from .diagnostics import Diagnostic
from .launches import file_errors
from .structure import Resume, all_rows, seconds_between

RESUME, RESTART, RELAUNCH = "resume", "restart", "crash-and-relaunch"
KINDS = (RESUME, RESTART, RELAUNCH)
MAIN_LOSSES = (REC_LOSS, LOSS_SIMPLE, LDM_TOTAL_LOSS, TOTAL_LOSS)  # the first one a run logs is compared
LEVEL_ENTRIES = 10  # entries whose median is a launch's level when the launches share no step

NO_JUMP_TEST = {
    RESTART: "not run: a restart is another experiment, not a continuation of the launch before",
    RELAUNCH: "not run: the relaunch starts again where the stopped launch began, so nothing it logged is continued",
}


def config_changes(before: dict | None, after: dict | None) -> list[dict]:
    """The flattened config keys two launches differ in: key, value before and after, the aspect it sets."""
    return [{"key": d["key"], "before": d["values"][0], "after": d["values"][1], "aspect": aspect_of(d["key"])}
            for d in config_diff([before, after])]


def boundary_kind(before: dict | None, after: dict | None, step: int, previous_first: int | None,
                  changes: list[dict]) -> str:
    """The kind of a boundary by the module rule."""
    if any(c["aspect"] in RESTART_ASPECTS for c in changes):
        return RESTART
    again = previous_first is None or step <= previous_first
    if not again:
        return RESUME
    return RESTART if before is None or after is None else RELAUNCH


def main_loss(columns: Any) -> str | None:
    """The loss a boundary's level comparison uses: rec_loss, else loss_simple, else the total."""
    return next((m for m in MAIN_LOSSES if m in columns), None)


def launch_boundaries(run: Run) -> list[Resume]:
    """Every segment boundary after the first, in segment order, with its kind, config changes and the
    launches it sets aside (continuity is filled in later, for resumes only)."""
    rows = all_rows(run)
    if "segment" not in rows.columns or rows.empty:
        return []
    segs = run.segments
    seg_tab = segs.set_index("segment") if "segment" in segs.columns else None
    ids = sorted(int(s) for s in rows["segment"].dropna().unique())
    configs = run.configs if len(run.configs) > max(ids) else None
    out: list[Resume] = []
    aside: set[int] = set()
    for prev_id, seg_id in zip(ids, ids[1:]):
        mine, prev = rows[rows["segment"] == seg_id], rows[rows["segment"] == prev_id]
        step = int(mine["step"].min())
        before_cfg = configs[prev_id] if configs else run.config
        after_cfg = configs[seg_id] if configs else run.config
        changes = config_changes(before_cfg, after_cfg) if configs else []
        prev_first = int(prev["step"].min()) if len(prev) else None
        kind = boundary_kind(before_cfg if configs else None, after_cfg if configs else None, step, prev_first,
                             changes)
        replayed = rows[(rows["segment"] < seg_id) & (rows["step"] >= step)]
        r = Resume(index=len(out), segment=seg_id, step=step,
                   previous_last_step=int(prev["step"].max()) if len(prev) else None,
                   replayed_steps=int(replayed["step"].nunique()),
                   replayed_range=(int(replayed["step"].min()), int(replayed["step"].max())) if len(replayed) else None,
                   gap_seconds=_gap(seg_tab, prev_id, seg_id, prev, mine),
                   file=str(mine["file"].iloc[0]) if "file" in mine.columns and len(mine) else None,
                   kind=kind, config_changes=changes, configs_logged=configs is not None)
        if kind != RESUME:
            r.jump_test = NO_JUMP_TEST[kind]
            dropped = [k for k in ids if k < seg_id and k not in aside] if kind == RESTART else [prev_id]
            aside.update(dropped)
            r.set_aside = [_launch(run, rows, k, kind, step) for k in dropped]
            r.level_change = level_change(prev, mine)
        out.append(r)
    return out


def experiment_segment(boundaries: list[Resume]) -> int | None:
    """The first segment of the analysed experiment (the last restart's), or None when there is none."""
    restarts = [b.segment for b in boundaries if b.kind == RESTART]
    return restarts[-1] if restarts else None


def set_aside_rows(run: Run, set_aside: list[dict]) -> pd.DataFrame:
    """Every row (current or superseded) of the launches set aside, for figures that show them apart."""
    rows = all_rows(run)
    segs = [s["segment"] for s in set_aside]
    if not segs or "segment" not in rows.columns:
        return rows.iloc[:0]
    return rows[rows["segment"].isin(segs)].sort_values(["segment", "step"], kind="stable")


def set_aside_launches(boundaries: list[Resume]) -> list[dict]:
    """Every launch set aside by a restart or a crash-and-relaunch, in segment order."""
    return sorted((s for b in boundaries for s in b.set_aside), key=lambda s: s["segment"])


def _launch(run: Run, rows: pd.DataFrame, seg: int, kind: str, boundary_step: int) -> dict:
    """What the report says of a set-aside launch: its file, steps, entries, and how its log ends."""
    mine = rows[rows["segment"] == seg]
    file = str(mine["file"].iloc[0]) if "file" in mine.columns and len(mine) else None
    lines, error = file_errors(run, file) if file is not None and _one_launch(rows, file) else (0, None)
    return {"segment": seg, "file": file, "first_step": int(mine["step"].min()) if len(mine) else None,
            "last_step": int(mine["step"].max()) if len(mine) else None, "entries": int(mine["step"].nunique()),
            "reason": kind, "boundary_step": boundary_step, "traceback_lines": lines, "last_error": error}


def _one_launch(rows: pd.DataFrame, file: str) -> bool:
    """True when the file holds one launch only, so its traceback lines are that launch's."""
    return rows.loc[rows["file"] == file, "segment"].nunique() == 1


def level_change(before: pd.DataFrame, after: pd.DataFrame) -> dict | None:
    """The main loss of two launches: medians over the steps both logged (else the last and first
    LEVEL_ENTRIES entries), and their ratio after / before."""
    name = main_loss([c for c in before.columns if c in after.columns])
    if name is None:
        return None
    b, a = _finite(before, name), _finite(after, name)
    if b.empty or a.empty:
        return None
    lo, hi = max(b["step"].min(), a["step"].min()), min(b["step"].max(), a["step"].max())
    bs, as_ = b[(b["step"] >= lo) & (b["step"] <= hi)], a[(a["step"] >= lo) & (a["step"] <= hi)]
    shared = len(bs) > 0 and len(as_) > 0
    if not shared:
        bs, as_ = b.tail(LEVEL_ENTRIES), a.head(LEVEL_ENTRIES)
    vb, va = float(np.median(bs[name])), float(np.median(as_[name]))
    return {"metric": name, "before": vb, "after": va, "ratio": va / vb if vb > 0 and va > 0 else None,
            "over": "shared steps" if shared else "adjacent entries",
            "steps": [int(lo), int(hi)] if shared else None, "entries": [int(len(bs)), int(len(as_))]}


def _finite(rows: pd.DataFrame, name: str) -> pd.DataFrame:
    v = rows[name].to_numpy(dtype=float)
    return rows[np.isfinite(v)].sort_values("step")


def _gap(seg_tab: pd.DataFrame | None, prev_id: int, seg_id: int, prev: pd.DataFrame,
         mine: pd.DataFrame) -> float | None:
    """Wall-clock seconds from the end of one segment to the start of the next (segment table first)."""
    if seg_tab is not None and {"start_time", "end_time"} <= set(seg_tab.columns) \
            and prev_id in seg_tab.index and seg_id in seg_tab.index:
        g = seconds_between(seg_tab.at[prev_id, "end_time"], seg_tab.at[seg_id, "start_time"])
        if g is not None:
            return g
    if "time" in prev.columns and len(prev) and len(mine):
        return seconds_between(prev["time"].max(), mine["time"].min())
    return None


def describe_changes(changes: list[dict], limit: int = 5) -> str:
    """The changed config keys as 'key before -> after', the experiment-defining ones first."""
    if not changes:
        return "no config key changed"
    ordered = sorted(changes, key=lambda c: c["aspect"] not in RESTART_ASPECTS)
    parts = [f"{c['key']} {_short(c['before'])} -> {_short(c['after'])}" for c in ordered[:limit]]
    more = len(changes) - limit
    return "; ".join(parts) + (f"; and {more} more key(s)" if more > 0 else "")


def _short(v: Any) -> str:
    s = "absent" if v is None else repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def describe_level(lc: dict | None) -> str:
    """The main loss of the set-aside launch against the launch after it, in words."""
    if not lc:
        return ""
    where = (f"on the steps both logged ({lc['steps'][0]:,}..{lc['steps'][1]:,})" if lc["over"] == "shared steps"
             else "at the boundary (medians of the last and first entries)")
    ratio = f" ({lc['ratio']:.3g}x)" if lc["ratio"] is not None else ""
    return (f"{where} the median {lc['metric']} is {lc['after']:.4g} in the new launch against {lc['before']:.4g} "
            f"in the set-aside one{ratio}")


def describe_launch(s: dict) -> str:
    """A set-aside launch in words: file, steps, entries, how its log ends."""
    steps = f"steps {s['first_step']:,}..{s['last_step']:,}" if s["first_step"] is not None else "no step"
    end = (f"; its log ends with a traceback: {s['last_error']}" if s["last_error"] else
           "; its log holds a traceback" if s["traceback_lines"] else "")
    return f"{s['file']} ({steps}, {s['entries']} entries{end})"


def boundary_diagnostics(boundaries: list[Resume]) -> list[Diagnostic]:
    """restart_in_folder (warning) per restart; launch_relaunched (warning when the stopped launch's log
    ends with a traceback, else info) per crash-and-relaunch."""
    out = []
    for b in boundaries:
        if b.kind == RESUME:
            continue
        aside = "; ".join(describe_launch(s) for s in b.set_aside)
        level = describe_level(b.level_change)
        ev = {"step": b.step, "file": b.file, "kind": b.kind, "config_changes": b.config_changes,
              "set_aside": b.set_aside, "level_change": b.level_change}
        if b.kind == RESTART:
            why = describe_changes(b.config_changes) if b.configs_logged and b.config_changes else \
                "no config is logged per launch, and it starts again at or before the launch before it"
            msg = (f"The launch in {b.file} starting at step {b.step:,} is another experiment ({why}). The report "
                   f"analyses it alone; set aside: {aside}.")
            msg += f" Across the boundary, {level}." if level else ""
            out.append(Diagnostic("restart_in_folder", "warning", msg, ev))
        else:
            changed = f", with {describe_changes(b.config_changes)}" if b.config_changes else ""
            msg = (f"A launch stopped and the same experiment was launched again from step {b.step:,} in {b.file}"
                   f"{changed}; the stopped launch is set aside: {aside}.")
            msg += f" Across the boundary, {level}." if level else ""
            crashed = any(s["traceback_lines"] for s in b.set_aside)
            out.append(Diagnostic("launch_relaunched", "warning" if crashed else "info", msg, ev))
    return out
