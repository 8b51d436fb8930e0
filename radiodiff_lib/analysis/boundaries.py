"""The launches of a run: each boundary told apart (a resume, a restart: another experiment, or a
crash-and-relaunch), what is set aside, the launches that never logged a step, the speed within launches.

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

Launches without a step (``crashed_launches``): a text log segment (a config record, or a file of its
own) with no step row crashed before its first logged step. Its traceback lines are the lines of its
file that the reader skipped as ``traceback``; the last of them that names an exception is quoted.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from ..logs import Run
from ..vocabulary import KIND_EVENTS
from .configs import RESTART_ASPECTS, LoggedConfigs
from .diagnostics import Diagnostic
from .stats import main_loss
from .structure import Resume

RESUME, RESTART, RELAUNCH = "resume", "restart", "crash-and-relaunch"
KINDS = (RESUME, RESTART, RELAUNCH)
LEVEL_ENTRIES = 10  # entries whose median is a launch's level when the launches share no step

NO_JUMP_TEST = {
    RESTART: "not run: a restart is another experiment, not a continuation of the launch before",
    RELAUNCH: "not run: the relaunch starts again where the stopped launch began, so nothing it logged is continued",
}
_ERROR_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Interrupt|Exit)\b")


def boundary_kind(before: dict | None, after: dict | None, step: int, previous_first: int | None,
                  changes: list[dict]) -> str:
    """The kind of a boundary by the module rule."""
    if any(c["aspect"] in RESTART_ASPECTS for c in changes):
        return RESTART
    again = previous_first is None or step <= previous_first
    if not again:
        return RESUME
    return RESTART if before is None or after is None else RELAUNCH


def launch_boundaries(run: Run, rows: pd.DataFrame, configs: LoggedConfigs) -> list[Resume]:
    """Every segment boundary after the first of ``rows`` (the run's current and superseded rows), in segment
    order, with its kind, config changes and the launches it sets aside (continuity is filled in later, for
    resumes only)."""
    if "segment" not in rows.columns or rows.empty:
        return []
    segs = run.segments
    seg_tab = segs.set_index("segment") if "segment" in segs.columns else None
    ids = sorted(int(s) for s in rows["segment"].dropna().unique())
    per_launch = bool(configs.logged)
    out: list[Resume] = []
    aside: set[int] = set()
    for prev_id, seg_id in zip(ids, ids[1:]):
        mine, prev = rows[rows["segment"] == seg_id], rows[rows["segment"] == prev_id]
        step = int(mine["step"].min())
        changes = configs.changes.get(seg_id, [])
        prev_first = int(prev["step"].min()) if len(prev) else None
        kind = boundary_kind(configs.logged.get(prev_id), configs.logged.get(seg_id), step, prev_first, changes)
        replayed = rows[(rows["segment"] < seg_id) & (rows["step"] >= step)]
        r = Resume(index=len(out), segment=seg_id, step=step,
                   previous_last_step=int(prev["step"].max()) if len(prev) else None,
                   replayed_steps=int(replayed["step"].nunique()),
                   replayed_range=(int(replayed["step"].min()), int(replayed["step"].max())) if len(replayed) else None,
                   gap_seconds=_gap(seg_tab, prev_id, seg_id, prev, mine),
                   file=str(mine["file"].iloc[0]) if "file" in mine.columns and len(mine) else None,
                   kind=kind, config_changes=changes, configs_logged=per_launch)
        if kind != RESUME:
            r.jump_test = NO_JUMP_TEST[kind]
            dropped = [k for k in ids if k < seg_id and k not in aside] if kind == RESTART else [prev_id]
            aside.update(dropped)
            r.set_aside = [_launch(run, rows, k, kind, step) for k in dropped]
            r.level_change = level_change(prev, mine, run.stage)
        out.append(r)
    return out


def experiment_segment(boundaries: list[Resume]) -> int | None:
    """The first segment of the analysed experiment (the last restart's), or None when there is none."""
    restarts = [b.segment for b in boundaries if b.kind == RESTART]
    return restarts[-1] if restarts else None


def set_aside_rows(run: Run, set_aside: list[dict]) -> pd.DataFrame:
    """Every row (current or superseded) of the launches set aside, for figures that show them apart."""
    rows = run.all_rows()
    segs = [s["segment"] for s in set_aside]
    if not segs or "segment" not in rows.columns:
        return rows.iloc[:0]
    return rows[rows["segment"].isin(segs)].sort_values(["segment", "step"], kind="stable")


def set_aside_launches(boundaries: list[Resume]) -> list[dict]:
    """Every launch set aside by a restart or a crash-and-relaunch, in segment order."""
    return sorted((s for b in boundaries for s in b.set_aside), key=lambda s: s["segment"])


def rows_of(rows: pd.DataFrame, launches: list[dict]) -> int:
    """How many of ``rows`` the given launches logged."""
    if not launches or "segment" not in rows.columns:
        return 0
    return int(rows["segment"].isin([x["segment"] for x in launches]).sum())


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


def level_change(before: pd.DataFrame, after: pd.DataFrame, stage: str) -> dict | None:
    """The main loss (``stats.main_loss``) of two launches: medians over the steps both logged (else the last
    and first LEVEL_ENTRIES entries), and their ratio after / before."""
    name = main_loss(stage, [c for c in before.columns if c in after.columns])
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


def seconds_between(t0: Any, t1: Any) -> float | None:
    """Seconds from t0 to t1, None when either is missing."""
    if t0 is None or t1 is None or pd.isna(t0) or pd.isna(t1):
        return None
    return float((pd.Timestamp(t1) - pd.Timestamp(t0)).total_seconds())


def steps_per_hour(rows: pd.DataFrame) -> float | None:
    """Speed from timestamps within each segment only (the gaps between launches do not count); None
    when no segment spans time and steps."""
    if "time" not in rows.columns or "segment" not in rows.columns or rows.empty:
        return None
    d_steps = d_secs = 0.0
    for _, g in rows.dropna(subset=["time"]).groupby("segment"):
        if len(g) < 2:
            continue
        secs = seconds_between(g["time"].min(), g["time"].max())
        if secs and secs > 0:
            d_steps += float(g["step"].max() - g["step"].min())
            d_secs += secs
    return d_steps / d_secs * 3600.0 if d_secs > 0 and d_steps > 0 else None


def crashed_launches(run: Run) -> list[dict]:
    """Every text launch without a step row: file, start time, traceback lines, last error line."""
    launches = run.launches
    if not len(launches):
        return []
    out = []
    dead = launches[(launches["kind"] != KIND_EVENTS) & (launches["n_rows"] == 0)]
    for rec in dead.itertuples(index=False):
        n, error = file_errors(run, rec.file)
        if not rec.has_config and not n:
            continue  # neither a config nor a traceback: a stray file, not a launch
        out.append({"file": rec.file, "start_time": None if pd.isna(rec.start_time) else pd.Timestamp(rec.start_time),
                    "traceback_lines": n, "last_error": error})
    return out


def file_errors(run: Run, file: str) -> tuple[int, str | None]:
    """(traceback lines the reader skipped in ``file``, the last of them that names an exception)."""
    lines = [s for s in run.skipped if s.file == file and s.line > 0 and s.reason == "traceback"]
    errors = [s.text.strip() for s in lines if _ERROR_LINE.match(s.text)]
    return len(lines), errors[-1] if errors else None


def launch_diagnostics(crashed: list[dict]) -> list[Diagnostic]:
    """One warning per launch that never logged a step."""
    out = []
    for c in crashed:
        when = f" (started {c['start_time']:%Y-%m-%d %H:%M:%S})" if c["start_time"] is not None else ""
        msg = f"The launch logged in {c['file']}{when} never logged a step: it stopped at start-up"
        if c["traceback_lines"]:
            msg += f"; its log holds {c['traceback_lines']} traceback line(s)"
            msg += f', the last error: "{c["last_error"]}"' if c["last_error"] else ""
        else:
            msg += "; its log holds no traceback"
        out.append(Diagnostic("launch_without_steps", "warning", msg + ".", dict(c)))
    return out
