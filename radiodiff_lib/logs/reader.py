"""Read training logs into one tidy DataFrame: RadioDiff text logs, our metrics.jsonl / train.log,
TensorBoard event files; stitch a launch and its resumes; follow a live run incrementally.

Which files of a results folder are read, and as what: ``sources.py`` (every source by default:
metrics.jsonl, the ``*.log`` files and the event files below the folder; ``source=`` keeps one
kind). Text logs and event files of one run are merged into one row per step (``merge.py``);
``Run.source_report`` says which file was used for what, with its row counts.

Errors and skips: a missing path, a folder without any log, and a run without a single training
row raise ``LogFormatError`` naming the paths. A single file (or, with ``strict=True``, any file)
that is empty or has no training line is an error naming it; within several files such a file
(e.g. a launch that crashed before its first step) is recorded in ``skipped`` with line 0 and
reason ``empty file`` / ``no training lines``, and the others are read. Every line not used is in
``skipped`` with its file, 1-based line number and reason (see ``text.py`` for the grammar); past
the first 1,000 lines of one reason in one file, the rest of that reason is one record with its
``count`` (``Run.n_skipped`` and ``Run.skipped_counts()`` count every line).
A cut-off last line is skipped whole (reason ``cut-off line``), its complete pairs not used: a
row with some of its values missing would be indistinguishable from one that did not log them.
``RunReader`` does not consume a last line until its newline is written (``update(final=True)``
does, as ``read_run`` does). A file it follows that is replaced (another file under its name),
gets shorter, or whose first bytes change is read again from its start, and ``Run.notes`` says
so. Only regular files are read, a text log in bounded chunks (``file_reader.py``).

Stitching: segments (launches) are ordered by the time of their first line (else the time in the
file name, else the file's mtime); a segment starting at step k supersedes the current rows with
step >= k of the earlier ones (``Run.superseded``). See ``stitch.py``.
Stage (``detect_stage``): which training stage a run belongs to, RadioDiff's first (the VAE) or its
second (the LDM). A second-stage run (``train_cond_ldm.py``) logs ``loss_simple`` / ``loss_vlb``, and its
config nests ``model.first_stage`` (the VAE it trains on) and ``model.unet``; anything else is a
first-stage run. Its TensorBoard tag ``total_loss`` names the text log's ``total_loss``, not the VAE's
``train/total_loss`` that the event parser maps it to; ``event_renames`` undoes that.
Total steps (``resolve_total_steps``, the one place that decides it): an explicit parameter, then the
config's ``trainer.train_num_steps``, then the ``/TOTAL`` of the step lines (``Run.total_steps_source``
says which).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import pandas as pd

from ..config_dict import cfg_float
from ..errors import LogFormatError
from ..vocabulary import (
    KIND_EVENTS, KIND_RADIODIFF_LOG, LDM_METRICS, LDM_TOTAL_LOSS, LOG_METRICS, LOSS_SIMPLE, LOSS_VLB, ROW_COLUMNS,
    STAGE_LDM, STAGE_VAE, TOTAL_LOSS,
)
from .columns import MAX_STEP
from .file_reader import LogFile, Replaced
from .merge import merge_segments
from .sources import LeftOut, check_log_path, check_source, discover, kind_of, roles
from .stitch import Stitcher


@dataclass
class SkippedLine:
    """A line (or a whole file, line 0) the reader did not use, and why."""

    file: str
    line: int
    reason: str
    text: str
    count: int = 1  # lines this record stands for: more than 1 for the lines of a reason not kept one by one


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({"step": pd.Series(dtype="int64")})


@dataclass
class Run:
    """Everything read from a run's logs (see the module docstring for the rules)."""

    df: pd.DataFrame = field(default_factory=_empty_frame)
    superseded: pd.DataFrame = field(default_factory=_empty_frame)
    config: dict | None = None
    segments: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped: list[SkippedLine] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    # True where a metric was logged in that row (a logged nan vs. a value not logged at all)
    logged: pd.DataFrame | None = None
    total_steps: int | None = None
    notes: list[str] = field(default_factory=list)
    configs: list[dict | None] = field(default_factory=list)  # per segment
    stage: str = STAGE_VAE  # "vae" (train_vae.py, our trainer) or "ldm" (train_cond_ldm.py): detect_stage
    total_steps_source: str | None = None  # "config" | "step lines" | "parameter" | None
    disagreements: list[dict] = field(default_factory=list)  # text vs events, per text file and metric
    # what the reader knows of each file and launch; the tables below are built from it when asked
    # (a live update() must not pay for them)
    source_base: list[dict] = field(default_factory=list, repr=False)
    launch_infos: list = field(default_factory=list, repr=False)

    @property
    def source_report(self) -> list[dict]:
        """Per file found: path, kind, used_for, rows_read, rows_used, rows_duplicate, rows_disagreeing."""
        counts = self.df["file"].value_counts() if "file" in self.df.columns and len(self.df) else {}
        return [dict(s, rows_used=int(counts.get(s["path"], 0))) if s["rows_used"] is None else dict(s)
                for s in self.source_base]

    @property
    def launches(self) -> pd.DataFrame:
        """Every launch a parser saw (one that crashed before its first step too), in time order."""
        return _launch_table(self.launch_infos)

    def all_rows(self) -> pd.DataFrame:
        """Current and superseded rows together (each launch as it was logged)."""
        if not len(self.superseded):
            return self.df
        return pd.concat([self.df, self.superseded], ignore_index=True)

    @property
    def n_skipped(self) -> int:
        """Number of skipped lines (a record may stand for several, see SkippedLine.count)."""
        return sum(s.count for s in self.skipped)

    def skipped_counts(self) -> dict[str, int]:
        """Number of skipped lines per reason."""
        counts: dict[str, int] = {}
        for s in self.skipped:
            counts[s.reason] = counts.get(s.reason, 0) + s.count
        return counts

    def metric_names(self) -> list[str]:
        """The metric columns of ``df`` (every column but ``vocabulary.ROW_COLUMNS``), RadioDiff's first in their log order."""
        return [c for c in self.df.columns if c not in ROW_COLUMNS]


class RunReader:
    """Follows a run's log files: ``update()`` reads only what was appended and sees new files."""

    def __init__(self, paths, source: str = "all", total_steps: int | None = None) -> None:
        self.source = check_source(source)
        resolve_total_steps(total_steps, None, None)  # a bad parameter is refused now, not after reading
        self.total_steps = total_steps  # the explicit parameter, first in ``resolve_total_steps``
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise LogFormatError("no log path given: pass a RadioDiff .log file, a metrics.jsonl, an "
                                 "events file or a results folder")
        for p in self.paths:
            check_log_path(p)
        self.files: dict[str, LogFile] = {}
        self.stitcher = Stitcher()
        self.skipped: list[SkippedLine] = []
        self.notes: list[str] = []
        self.left_out: list[LeftOut] = []
        self._seen: set[Path] = set()
        self.run = Run()

    def _sources(self) -> list[Path]:
        found, self.left_out = discover(self.paths, self.source)
        return found

    def update(self, final: bool = False) -> Run:
        """Read appended bytes of known files and any new file; return the current Run."""
        for path in self._sources():
            real = path.resolve()  # the same file named twice (a folder and its file) is read once
            if real not in self._seen:
                self._seen.add(real)
                self.files[str(path)] = LogFile(path)
        for name in list(self.files):
            f = self.files[name]
            try:
                events = f.read(final)
            except Replaced as why:
                f = self._reread(name, why.args[0])
                events = f.read(final)
            for ev in events:
                if ev.kind == "segment":
                    self.stitcher.open_segment(ev.segment)
                else:
                    self.stitcher.add_rows(ev.key, ev.rows, ev.replace_last)
            new = f.parser.skipped.kept[f.n_skipped_taken:]
            f.n_skipped_taken += len(new)
            self.skipped += [SkippedLine(f.name, ln, reason, text) for ln, reason, text in new]
        self.run = self._build()
        return self.run

    def _reread(self, name: str, why: str) -> LogFile:
        """Forget what was read of a file that was replaced or rewritten, and start it again."""
        self.stitcher.forget_file(name)
        self.skipped = [s for s in self.skipped if s.file != name]
        self.notes.append(f"{name}: {why}; read again from its start")
        self.files[name] = LogFile(Path(name))
        return self.files[name]

    def _build(self) -> Run:
        st = self.stitcher
        segs = list(st.segments.values())
        stage = detect_stage((m for seg in segs for m in seg.rows.metrics), (seg.config for seg in segs))
        order = metric_order(stage)
        kinds = {f.kind for f in self.files.values()}
        merged = None
        if KIND_EVENTS in kinds and len(kinds) > 1:
            for name in self.files:
                st.file_code(name)
            merged = merge_segments(segs, {name: st.file_code(name) for name in self.files}, event_renames(stage))
            df, logged = merged.cur.frame(st.files, list(order))
            superseded, segments = merged.sup.frame(st.files, list(order))[0], merged.segments
        else:
            df, logged = st.current_frame(order)
            superseded, segments = st.superseded_frame(order), st.segment_table()
            renames = event_renames(stage) if kinds == {KIND_EVENTS} else {}
            if renames:
                df, logged, superseded = (x.rename(columns=renames) for x in (df, logged, superseded))
        configs = st.configs() if merged is None else merged.configs
        config = next((c for c in reversed(configs) if c is not None), None)
        if config is None:
            config = next((c for c in st.unplaced_configs() if c is not None), None)
        totals = st.totals() + [f.parser.total_steps for f in self.files.values() if f.parser.total_steps]
        total, total_src = resolve_total_steps(self.total_steps, config, totals[-1] if totals else None)
        return Run(df=df, superseded=superseded, config=config, segments=segments,
                   skipped=self.skipped + self._skipped_in_bulk(), sources=list(self.files), logged=logged,
                   total_steps=total, notes=[f"{x.path}: {x.reason}" for x in self.left_out] + list(self.notes),
                   configs=configs, stage=stage, total_steps_source=total_src,
                   source_base=self._source_base(merged), launch_infos=segs,
                   disagreements=merged.disagreements if merged is not None else [])

    def _skipped_in_bulk(self) -> list[SkippedLine]:
        """One record per file and reason for the skipped lines not kept one by one."""
        return [SkippedLine(f.name, first, reason, f"{n:,} more lines skipped as {reason} in lines {first}..{last} "
                            "(not listed one by one)", count=n)
                for f in self.files.values() for reason, (n, first, last) in f.parser.skipped.more.items()]

    def _source_base(self, merged) -> list[dict]:
        """One entry per file found: what it was read as and used for, and its row counts (rows_used
        None: counted from the rows when asked)."""
        used_for = roles([f.kind for f in self.files.values()])
        out = []
        for name, f in self.files.items():
            stats = merged.file_stats.get(name) if merged is not None else None
            stats = stats or {"rows_read": f.parser.step_lines if merged is None else 0,
                              "rows_used": None if merged is None else 0, "rows_duplicate": 0, "rows_disagreeing": 0}
            out.append({"path": name, "kind": f.kind, "used_for": used_for[f.kind], **stats})
        out += [{"path": x.path, "kind": x.kind, "used_for": x.reason, "rows_read": 0, "rows_used": 0,
                 "rows_duplicate": 0, "rows_disagreeing": 0} for x in self.left_out]
        return out


def detect_stage(metric_names: Iterable[str], configs: Iterable[dict | None]) -> str:
    """"ldm" when the metrics or a config say second stage, else "vae"."""
    names = set(metric_names)
    if names & {LOSS_SIMPLE, LOSS_VLB}:
        return STAGE_LDM
    for cfg in configs:
        model = cfg.get("model") if isinstance(cfg, dict) else None
        if isinstance(model, dict) and ("first_stage" in model or "unet" in model):
            return STAGE_LDM
    return STAGE_VAE


def event_renames(stage: str) -> dict[str, str]:
    """Column renames for rows read from TensorBoard events of a run of this stage."""
    return {TOTAL_LOSS: LDM_TOTAL_LOSS} if stage == STAGE_LDM else {}


def metric_order(stage: str) -> tuple[str, ...]:
    """The column order of a read run of this stage."""
    return LDM_METRICS if stage == STAGE_LDM else LOG_METRICS


def _launch_table(segs) -> pd.DataFrame:
    """Every launch a parser saw (a launch that crashed before its first step too), in time order."""
    recs = [{"file": s.file, "kind": s.kind, "local": s.key[1], "start_time": s.start_time, "n_rows": s.rows.n,
             "first_step": int(s.rows.base["step"][0]) if s.rows.n else None, "has_config": s.config is not None}
            for s in sorted(segs, key=lambda s: s.sort_key())]
    table = pd.DataFrame(recs, columns=["file", "kind", "local", "start_time", "n_rows", "first_step", "has_config"])
    table["start_time"] = pd.to_datetime(table["start_time"])
    return table


def resolve_total_steps(parameter: int | None, config: dict | None,
                        step_lines: int | None) -> tuple[int | None, str | None]:
    """How many steps a run is meant to take, and who says so, in this order: an explicit parameter, the
    config's ``trainer.train_num_steps`` (a whole number of steps), the ``/TOTAL`` its step lines print;
    a parameter that is not a positive number of steps is refused."""
    if parameter is not None:
        if not 0 < int(parameter) <= MAX_STEP:
            raise LogFormatError(f"total_steps must be a positive number of steps, got {parameter}")
        return int(parameter), "parameter"
    value = cfg_float(config, "trainer.train_num_steps")
    if value is not None and value.is_integer() and 0 < value <= MAX_STEP:
        return int(value), "config"
    if step_lines:
        return int(step_lines), "step lines"
    return None, None


def read_run(paths, total_steps: int | None = None, *, strict: bool = False, source: str = "all") -> Run:
    """Read a run's logs (files and/or results folders) into a Run; see the module docstring."""
    reader = RunReader(paths, source=source, total_steps=total_steps)
    run = reader.update(final=True)
    if not reader.files:
        only = "" if source == "all" else f" (--source {source})"
        odd = "".join(f"; {x.path}: {x.reason}" for x in reader.left_out if "regular file" in x.reason)
        odd += "".join(f"; {p} is a folder, not a log file" for p in reader.paths
                       if p.is_dir() and (kind_of(p) != KIND_RADIODIFF_LOG or p.suffix == ".log"))
        raise LogFormatError(
            f"no training logs found in {', '.join(map(str, reader.paths))}{only}: looked for *.log, "
            f"metrics.jsonl and events.out.tfevents.* files{odd}")
    empty = [f for f in reader.files.values() if f.parser.step_lines == 0]
    if empty and (strict or len(reader.files) == 1 or len(empty) == len(reader.files)):
        raise LogFormatError("; ".join(_why_empty(f) for f in empty) + (
            "; pass the log of a run that has logged at least one training step"))
    for f in empty:
        run.skipped.append(SkippedLine(f.name, 0, "empty file" if f.bytes_read == 0 else "no training lines",
                                       _why_empty(f)))
    if run.df.empty:
        raise LogFormatError(f"no training rows in {', '.join(reader.files)}")
    return run


def _why_empty(f: LogFile) -> str:
    if f.bytes_read == 0:
        return f"{f.name} is empty"
    counts = f.parser.skipped.counts
    detail = ", ".join(f"{n} {r}" for r, n in sorted(counts.items())) or "no lines"
    return f"{f.name} has no training lines ({f.parser.n_lines} lines: {detail})"
