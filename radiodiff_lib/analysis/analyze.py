"""Analysis of a training run: statistics, phases, resumes, loss decomposition, diagnostics.

`analyze(run)` is a pure function of the Run's fields (df, superseded, segments, configs,
skipped); it reads no file and draws nothing. Launch boundaries are told apart first
(``boundaries``): the analysed experiment begins at the last restart, and the launches before it
are set aside (``Analysis.set_aside``), never mixed into the statistics. Every verdict comes from a stated rule:
metric statuses from `stats.STATUS_RULES`, diagnostics from the table in
`diagnostics.py`, thresholds from `stats.Thresholds` (pass any as a keyword).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..config_dict import cfg_float, cfg_get
from ..errors import AnalysisError
from ..logs import Run, resolve_total_steps
from ..vocabulary import LDM_TOTAL_LOSS, LOSS_SIMPLE, REC_LOSS, STAGE_LDM, STAGE_VAE, TOTAL_LOSS
from .boundaries import (
    RESUME, boundary_diagnostics, experiment_segment, launch_boundaries, set_aside_launches,
)
from .configs import ldm_config_view
from .diagnostics import Diagnostic, diagnose, lr_not_logged, recommendations
from .launches import crashed_launches, launch_diagnostics
from .lr import lr_decayed_diagnostics, lr_schedule
from .provenance import checkpoint_at, run_start, save_interval
from .stage2 import ldm_diagnostics, settings
from .stats import MetricStats, Thresholds, metric_stats
from .structure import (
    Phase, Resume, all_rows, check_continuity, decomposition, estimate_kl_weight, first_disc_step,
    gan_boundary, phases, sorted_rows, sorted_with_mask, steps_per_hour,
)
from .text import summary_sentences


@dataclass
class Analysis:
    """Everything the analysis found; plain data for tests, notebooks, JSON and the CLI."""
    entries: int  # logged steps analysed, each once (superseded and set-aside rows not counted)
    first_step: int | None
    latest_step: int | None
    total_steps: int | None
    total_steps_source: str | None  # "parameter" | "config" | "step lines" | None
    progress: float | None  # latest_step / total_steps, clipped to [0, 1]
    steps_per_hour: float | None  # from timestamps within segments only
    time_left: float | None  # seconds to total_steps at steps_per_hour
    disc_start: int | None  # config model.lossconfig.disc_start
    disc_first_logged_step: int | None  # first logged step with disc_factor > 0
    gan_phase_progress: float | None  # (latest - disc_start) / (total - disc_start), clipped to [0, 1]
    metrics: dict[str, MetricStats]
    phases: list[Phase]
    resumes: list[Resume]  # every launch boundary, each with its kind (resume, restart, crash-and-relaunch)
    decomposition: pd.DataFrame
    diagnostics: list[Diagnostic]
    skipped: dict[str, Any]  # {"count": n, "reasons": {reason: count}}
    summary_sentences: list[str] = field(default_factory=list)
    recommendations: list[str] = field(default_factory=list)
    superseded_rows: int = 0  # rows a later resume re-logged (those of set-aside launches not included)
    segments: int = 0
    kl_weight: float | None = None
    kl_weight_source: str | None = None  # "parameter" | "config" | "estimated from the log" | None
    disc_weight: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    stage: str = STAGE_VAE  # "vae" (train_vae.py, our trainer) or "ldm" (train_cond_ldm.py)
    sources: list[dict] = field(default_factory=list)  # the reader's source report (file, kind, use, rows)
    disagreements: list[dict] = field(default_factory=list)  # text vs events values that differ
    crashed_launches: list[dict] = field(default_factory=list)  # launches that never logged a step
    lr_schedule: dict[str, Any] | None = None  # first/latest/min/max logged LR and its source
    stage_settings: dict[str, Any] = field(default_factory=dict)  # second stage: first-stage ckpt, scale, EMA
    config_known: list = field(default_factory=list)  # second stage: (key, value, meaning) of its schema
    config_unknown: list = field(default_factory=list)  # second stage: (key, value) the schema does not know
    run_start: dict[str, Any] = field(default_factory=dict)  # first step, milestone resumed from, earlier steps
    set_aside: list[dict] = field(default_factory=list)  # launches set aside by a restart or a relaunch
    experiment_segment: int | None = None  # first segment analysed (the last restart's), None: all of them
    log_interval: int | None = None  # median steps between logged entries
    set_aside_rows: int = 0  # rows (current or superseded) of the launches set aside

    @property
    def at_last_log_point(self) -> bool:
        """The latest logged step is the last the log can show before train_num_steps (the next entry would be
        at or past it), so the log cannot tell whether the steps after it ran."""
        return bool(self.total_steps and self.latest_step is not None and self.log_interval
                    and self.latest_step < self.total_steps <= self.latest_step + self.log_interval)

    @property
    def key_metric(self) -> str | None:
        """The loss that matters most for this stage: rec_loss (first stage), loss_simple (second stage);
        the total loss when that one is not logged."""
        order = (LOSS_SIMPLE, LDM_TOTAL_LOSS) if self.stage == STAGE_LDM else (REC_LOSS, TOTAL_LOSS)
        return next((k for k in order if k in self.metrics and self.metrics[k].count), None)

    @property
    def ema_start(self) -> int | None:
        """The step the EMA starts at (second stage's ema_update_after_step), or None."""
        return self.stage_settings.get("ema_start")

    def diagnostic(self, id: str) -> Diagnostic | None:
        """The diagnostic with this id, or None."""
        return next((d for d in self.diagnostics if d.id == id), None)

    @property
    def diagnostic_ids(self) -> list[str]:
        """Ids of every diagnostic found, in order."""
        return [d.id for d in self.diagnostics]


def analyze(run: Run, total_steps: int | None = None, window: int = 50, **thresholds: Any) -> Analysis:
    """Analyse a Run (``logs.read_run``); thresholds are the keyword fields of ``stats.Thresholds``."""
    th = Thresholds.from_kwargs(window=window, **thresholds)
    if th.window < 3:
        raise AnalysisError(f"window must be at least 3 entries to fit a trend, got {th.window}")
    bounds = launch_boundaries(run)
    exp_seg = experiment_segment(bounds)
    df, logged = _experiment_rows(*sorted_with_mask(run.df, run.logged), exp_seg)
    configs = segment_configs(run)
    cfg = run.config
    names = run.metric_names()

    first = int(df["step"].min()) if len(df) else None
    latest = int(df["step"].max()) if len(df) else None
    total, total_src = _total_steps(total_steps, run)
    progress = _clip01(latest / total) if total and latest is not None else None
    sph, _ = steps_per_hour(sorted_rows(all_rows(run)))
    time_left = (max(total - latest, 0) / sph * 3600.0) if (sph and total and latest is not None) else None
    stage = run.stage

    ds = cfg_float(cfg, "model.lossconfig.disc_start") if stage == STAGE_VAE else None
    disc_start = int(ds) if ds is not None else None
    disc_first = first_disc_step(df) if stage == STAGE_VAE else None
    boundary = gan_boundary(disc_start, disc_first)
    gan_prog = None
    if disc_start is not None and total and latest is not None and total > disc_start:
        gan_prog = _clip01((latest - disc_start) / (total - disc_start))

    stats = {k: metric_stats(df, k, window=th.window, alpha=th.alpha, min_points=th.min_points,
                             unstable_cv=th.unstable_cv, flat_rel_change=th.flat_rel_change, logged=logged,
                             level_n=th.level_n)
             for k in names}
    phase_list = phases(df, names, boundary)
    for p in phase_list:
        for k, s in p.stats.items():
            stats[k].phases[p.name] = s

    check_continuity(bounds, run, df, names, window=th.continuity_window, jump_sigma=th.jump_sigma,
                     min_rel=th.jump_min_rel, boundary=boundary, after_points=th.continuity_after)
    for b in bounds:
        if b.kind == RESUME:
            b.checkpoint = checkpoint_at(b.step, save_interval(configs.get(b.segment, cfg)))
    crashed = crashed_launches(run)
    schedule = lr_schedule(df, run, stage, configs)
    if stage == STAGE_LDM:
        kl_w, kl_src, disc_weight, decomp = None, None, None, decomposition(df.iloc[:0], None, None)
        diags = ldm_diagnostics(df, stats, bounds, cfg, th) + lr_not_logged(df, cfg_float(cfg, "trainer.lr"))
    else:
        kl_w, kl_src, disc_weight, decomp, diags = _first_stage(df, cfg, stats, th, disc_start, boundary, progress, bounds)
    diags += lr_decayed_diagnostics(df, schedule, stats, stage, th) + boundary_diagnostics(bounds)
    diags += launch_diagnostics(crashed)
    first_seg = int(df["segment"].iloc[0]) if len(df) and "segment" in df.columns else None
    aside = set_aside_launches(bounds)

    a = Analysis(
        entries=int(df["step"].nunique()) if len(df) else 0, first_step=first, latest_step=latest,
        total_steps=total, total_steps_source=total_src, progress=progress, steps_per_hour=sph,
        time_left=time_left, disc_start=disc_start, disc_first_logged_step=disc_first,
        gan_phase_progress=gan_prog, metrics=stats, phases=phase_list, resumes=bounds, decomposition=decomp,
        diagnostics=diags, skipped={"count": run.n_skipped, "reasons": run.skipped_counts()},
        recommendations=recommendations(diags),
        superseded_rows=int(len(run.superseded)) - _rows_of(run, aside, superseded_only=True),
        segments=int(df["segment"].nunique()) if "segment" in df.columns and len(df) else 0,
        kl_weight=kl_w, kl_weight_source=kl_src, disc_weight=disc_weight, thresholds=th, stage=stage,
        sources=list(run.source_report), disagreements=list(run.disagreements),
        crashed_launches=crashed, lr_schedule=schedule,
        stage_settings=settings(cfg) if stage == STAGE_LDM else {},
        run_start=run_start(first, configs.get(first_seg, cfg), all_rows(run)),
        set_aside=aside, experiment_segment=exp_seg, log_interval=_log_interval(df),
        set_aside_rows=_rows_of(run, aside))
    if stage == STAGE_LDM:
        a.config_known, a.config_unknown = ldm_config_view(cfg)
    a.summary_sentences = summary_sentences(a)
    return a


def segment_configs(run: Run) -> dict[int, dict | None]:
    """The config of each stitched segment (the run's config where the reader has none per segment)."""
    segs = sorted(int(x) for x in run.df["segment"].dropna().unique()) if "segment" in run.df.columns else []
    if run.superseded is not None and "segment" in run.superseded.columns:
        segs = sorted(set(segs) | {int(x) for x in run.superseded["segment"].dropna().unique()})
    per = run.configs if segs and len(run.configs) > max(segs) else None
    return {k: (per[k] if per is not None and per[k] is not None else run.config) for k in segs}


def _rows_of(run: Run, launches: list[dict], superseded_only: bool = False) -> int:
    """How many rows (current and superseded, or superseded only) the given launches logged."""
    rows = run.superseded if superseded_only else all_rows(run)
    if not launches or "segment" not in rows.columns:
        return 0
    return int(rows["segment"].isin([x["segment"] for x in launches]).sum())


def _log_interval(df: pd.DataFrame) -> int | None:
    """Median steps between consecutive logged steps, or None with fewer than two."""
    steps = np.unique(df["step"].to_numpy()) if len(df) else np.empty(0)
    return int(np.median(np.diff(steps))) if steps.size > 1 else None


def _experiment_rows(df: pd.DataFrame, logged: pd.DataFrame | None,
                     first_segment: int | None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The rows of the analysed experiment: those of the segments from the last restart on."""
    if first_segment is None or "segment" not in df.columns:
        return df, logged
    keep = (df["segment"] >= first_segment).to_numpy()
    return (df[keep].reset_index(drop=True),
            logged[keep].reset_index(drop=True) if logged is not None else None)


def _first_stage(df: pd.DataFrame, cfg: dict | None, stats: dict, th: Thresholds, disc_start: int | None,
                 boundary: int | None, progress: float | None, res: list) -> tuple:
    """(kl_weight, its source, disc_weight, decomposition, diagnostics) of a first-stage run."""
    kl_w, kl_src = _kl_weight(th, cfg, df)
    decomp = decomposition(df, kl_w, disc_start)
    disc_weight = th.disc_weight if th.disc_weight is not None else cfg_float(cfg, "model.lossconfig.disc_weight")
    if disc_weight is None and cfg_get(cfg, "model.lossconfig") is not None:
        disc_weight = 1.0  # the loss's own default (LPIPSWithDiscriminator) when the config omits it
    ga = cfg_float(cfg, "trainer.gradient_accumulate_every")
    diags = diagnose(df, stats, decomp, boundary=boundary, disc_weight=disc_weight,
                     config_lr=cfg_float(cfg, "trainer.lr"), grad_accum=int(ga) if ga is not None else None,
                     progress=progress, resumes=res, th=th)
    return kl_w, kl_src, disc_weight, decomp, diags


def _clip01(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


def _total_steps(param: int | None, run: Run) -> tuple[int | None, str | None]:
    """The run's length by ``logs.resolve_total_steps``: this parameter first, else what the reader resolved."""
    if param is not None and int(param) <= 0:
        raise AnalysisError(f"total_steps must be a positive number of steps, got {param}")
    if param is None:
        return run.total_steps, run.total_steps_source
    return resolve_total_steps(param, run.config, None)



def _kl_weight(th: Thresholds, cfg: dict | None, df: pd.DataFrame) -> tuple[float | None, str | None]:
    if th.kl_weight is not None:
        return th.kl_weight, "parameter"
    v = cfg_float(cfg, "model.lossconfig.kl_weight")
    if v is not None:
        return v, "config"
    if cfg_get(cfg, "model.lossconfig") is not None:
        return 1.0, "config default"  # LPIPSWithDiscriminator's default kl_weight
    est = estimate_kl_weight(df)
    return (est, "estimated from the log") if est is not None and np.isfinite(est) else (None, None)
