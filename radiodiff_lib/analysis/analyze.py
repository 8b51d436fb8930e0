"""Analysis of a training run: statistics, phases, resumes, loss decomposition, diagnostics.

`analyze(run)` is a pure function of the Run's fields (df, superseded, segments, configs,
skipped); it reads no file and draws nothing. It reads top to bottom, one module at a time: what the
configs say (``configs``, read once), the launches (``boundaries``: the analysed experiment begins at
the last restart, and the launches before it are set aside, ``Analysis.set_aside``, never mixed into
the statistics), the shape of the analysed rows (``structure``), continuity at resumes
(``continuity``), the statistics (``stats``), where the run began (``provenance``), the LR (``lr``) and
the diagnostics of its stage (``stage2``, ``diagnostics``). Every verdict comes from a stated rule:
metric statuses from `stats.STATUS_RULES`, diagnostics from the table in `diagnostics.py`,
thresholds from `thresholds.Thresholds` (pass any as a keyword).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..logs import Run, resolve_total_steps
from ..vocabulary import STAGE_LDM, STAGE_VAE
from .boundaries import (
    RESUME, boundary_diagnostics, crashed_launches, experiment_segment, launch_boundaries, launch_diagnostics,
    rows_of, set_aside_launches, steps_per_hour,
)
from .configs import read_configs
from .continuity import check_continuity
from .diagnostics import (
    Diagnostic, diagnose, lr_not_logged, recommendations, resume_jump_diagnostics, spike_diagnostics,
)
from .lr import lr_decayed_diagnostics, lr_schedule
from .provenance import checkpoint_at, milestone_of, run_start
from .stage2 import LDM_CONTINUITY, LDM_LOSSES, ldm_diagnostics, settings
from .stats import MetricStats, Phase, main_loss, metric_stats, phases, with_entries
from .structure import (
    Resume, decomposition, experiment_rows, first_disc_step, gan_boundary, gan_progress, gan_rows, loss_weights,
    progress,
)
from .text import summary_sentences
from .thresholds import Thresholds


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
        the total loss when that one is not logged (``stats.main_loss``)."""
        return main_loss(self.stage, with_entries(self.metrics))

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
    """Analyse a Run (``logs.read_run``); thresholds are the keyword fields of ``thresholds.Thresholds``."""
    th = Thresholds.from_kwargs(window=window, **thresholds)
    # an explicit parameter comes first (``logs.resolve_total_steps`` checks it), else the reader's length
    total, total_src = resolve_total_steps(total_steps, None, None) if total_steps is not None else \
        (run.total_steps, run.total_steps_source)
    stage, vae = run.stage, run.stage == STAGE_VAE
    rows = run.all_rows()

    # what the configs say, read once
    configs = read_configs(run, rows)

    # the launches: boundaries, the experiment analysed, what is set aside, launches without a step, speed
    bounds = launch_boundaries(run, rows, configs)
    aside = set_aside_launches(bounds)
    crashed = crashed_launches(run)
    launch_diags = boundary_diagnostics(bounds) + launch_diagnostics(crashed)
    set_aside_rows, aside_superseded = rows_of(rows, aside), rows_of(run.superseded, aside)
    sph = steps_per_hour(rows)

    # the analysed rows: progress, the GAN phase, the loss decomposition
    exp_seg = experiment_segment(bounds)
    df, logged = experiment_rows(run, exp_seg)
    names = run.metric_names()
    prog = progress(df, total, sph)
    disc_start = int(configs.disc_start) if vae and configs.disc_start is not None else None
    disc_first = first_disc_step(df) if vae else None
    boundary = gan_boundary(disc_start, disc_first)
    gan = gan_rows(df, boundary)
    kl_w, kl_src, disc_weight = loss_weights(th, configs, df) if vae else (None, None, None)
    decomp = decomposition(df if vae else df.iloc[:0], kl_w, disc_start)

    # continuity at each resume, then every metric's statistics, over the run and per phase
    check_continuity(bounds, rows, df, names, window=th.continuity_window, jump_sigma=th.jump_sigma,
                     min_rel=th.jump_min_rel, boundary=boundary, after_points=th.continuity_after)
    stats = {k: metric_stats(df, k, window=th.window, alpha=th.alpha, min_points=th.min_points,
                             unstable_cv=th.unstable_cv, flat_rel_change=th.flat_rel_change, logged=logged,
                             level_n=th.level_n)
             for k in names}
    phase_list = phases(df, names, gan)
    for p in phase_list:
        for k, s in p.stats.items():
            stats[k].phases[p.name] = s

    # where the run began, and the checkpoint each resume starts from
    for b in bounds:
        if b.kind == RESUME:
            b.checkpoint = checkpoint_at(b.step, configs.launch(b.segment).save_every)
    first_seg = int(df["segment"].iloc[0]) if len(df) and "segment" in df.columns else None
    start = run_start(prog.first_step, configs.launch(first_seg), rows)
    first_stage_milestone = milestone_of(configs.stage2["first_stage_ckpt"])

    # the learning rate
    schedule = lr_schedule(df, run, stage, configs)
    lr_diags = lr_decayed_diagnostics(df, schedule, stats, stage, th)

    # the diagnostics of the run's stage
    if stage == STAGE_LDM:
        stage_settings = settings(configs, first_stage_milestone)
        diags = ldm_diagnostics(df, stats, bounds, configs, th) + spike_diagnostics(df, th, LDM_LOSSES)
        diags += resume_jump_diagnostics(bounds, LDM_CONTINUITY) + lr_not_logged(df, configs.run.lr)
    else:
        stage_settings = {}
        grad_accum = int(configs.grad_accum) if configs.grad_accum is not None else None
        diags = diagnose(df, stats, decomp, gan=gan, disc_weight=disc_weight, config_lr=configs.run.lr,
                         grad_accum=grad_accum, progress=prog.progress, resumes=bounds, th=th)
    diags += lr_diags + launch_diags

    a = Analysis(
        entries=prog.entries, first_step=prog.first_step, latest_step=prog.latest_step,
        total_steps=total, total_steps_source=total_src, progress=prog.progress, steps_per_hour=sph,
        time_left=prog.time_left, disc_start=disc_start, disc_first_logged_step=disc_first,
        gan_phase_progress=gan_progress(disc_start, total, prog.latest_step), metrics=stats, phases=phase_list,
        resumes=bounds, decomposition=decomp, diagnostics=diags,
        skipped={"count": run.n_skipped, "reasons": run.skipped_counts()}, recommendations=recommendations(diags),
        superseded_rows=int(len(run.superseded)) - aside_superseded,
        segments=int(df["segment"].nunique()) if "segment" in df.columns and len(df) else 0,
        kl_weight=kl_w, kl_weight_source=kl_src, disc_weight=disc_weight, thresholds=th, stage=stage,
        sources=list(run.source_report), disagreements=list(run.disagreements),
        crashed_launches=crashed, lr_schedule=schedule, stage_settings=stage_settings,
        config_known=configs.known if stage == STAGE_LDM else [],
        config_unknown=configs.unknown if stage == STAGE_LDM else [],
        run_start=start, set_aside=aside, experiment_segment=exp_seg, log_interval=prog.log_interval,
        set_aside_rows=set_aside_rows)
    a.summary_sentences = summary_sentences(a)
    return a
