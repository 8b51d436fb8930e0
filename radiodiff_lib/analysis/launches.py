"""Launches that never logged a step: a run that crashed at start-up (either stage).

A launch is a text log segment (a config record, or a file of its own); one with no step row
crashed before its first logged step. Its traceback lines are the lines of its file that the
reader skipped as ``traceback``; the last of them that names an exception is quoted.
"""
from __future__ import annotations

import re

import pandas as pd

from ..logs import Run
from .diagnostics import Diagnostic

_ERROR_LINE = re.compile(r"^\s*[\w.]*(Error|Exception|Interrupt|Exit)\b")


def crashed_launches(run: Run) -> list[dict]:
    """Every text launch without a step row: file, start time, traceback lines, last error line."""
    launches = run.launches
    if not len(launches):
        return []
    out = []
    dead = launches[(launches["kind"] != "tensorboard") & (launches["n_rows"] == 0)]
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
