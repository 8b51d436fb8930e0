"""What a run's logged configs say, read once: the keys the analysis uses (``read_configs``), the keys two
launches differ in and the aspect each sets, and the second stage's schema.

A logged config is another project's file, not one we run: every key is kept, an unknown key is
shown as unknown, a value of any type is fine (never an error; ``config_dict.cfg_float`` counts what
is not a finite number as absent). Keys are dotted (``model.lossconfig.disc_weight``,
``config_dict.flatten_config``); lists stay values. Every config key the analysis reads is read in
this module, so the rest of the analysis works on numbers.

Aspects (``ASPECTS``): what a group of keys decides about an experiment (data set, simulation,
first-stage checkpoint, fine-tune source, architecture, length, LR, batch size), as RadioDiff's
``train_vae.py`` and ``train_cond_ldm.py`` read them. A launch that changes a ``RESTART_ASPECTS``
aspect is another experiment (``boundaries``); runs that differ in any aspect are not like for like
(``compare``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..config_dict import cfg_float, cfg_get, config_diff, flatten_config
from ..logs import Run

# What each key of train_cond_ldm.py's config means. A key under a listed
# key that ends in "." (the VAE's own ddconfig and lossconfig) is known too.
LDM_SCHEMA = {
    "data.name": "data set", "data.batch_size": "batch size",
    "model.first_stage.ckpt_path": "first-stage (VAE) checkpoint the latents come from",
    "model.first_stage.embed_dim": "latent channels of the VAE",
    "model.first_stage.ddconfig.": "the VAE's encoder/decoder", "model.first_stage.lossconfig.": "the VAE's loss",
    "model.unet.dim": "U-Net base channels", "model.unet.dim_mults": "U-Net channel multipliers",
    "model.unet.cond_net": "condition encoder", "model.unet.window_sizes1": "attention window sizes",
    "model.unet.window_sizes2": "attention window sizes",
    "model.timesteps": "diffusion steps", "model.sampling_timesteps": "sampling steps",
    "model.scale_factor": "latent scale factor", "model.scale_by_std": "scale factor from the latents' std",
    "model.objective": "what the network predicts", "model.loss_type": "l1 / l2 loss",
    "trainer.lr": "learning rate", "trainer.min_lr": "LR floor", "trainer.train_num_steps": "total steps",
    "trainer.log_freq": "steps between text log lines", "trainer.save_and_sample_every": "steps between checkpoints",
    "trainer.ema_update_after_step": "step the EMA starts at", "trainer.ema_update_every": "steps between EMA updates",
    "trainer.gradient_accumulate_every": "micro-batches per step", "trainer.amp": "mixed precision",
    "trainer.fp16": "half precision", "trainer.resume_milestone": "checkpoint resumed from",
    "trainer.enable_resume": "checkpoints hold the optimizer", "trainer.results_folder": "results folder",
    # read by ddm_const_sde.py / train_cond_ldm.py besides the keys above
    "model.default_scale": "use scale_factor as written (True) or measure 1/std of the first batch (False)",
    "model.scale_by_softsign": "latents squashed by softsign instead of scaled",
    "finetune.ckpt_path": "weights the run starts from (fine-tune source)",
    "data.simulation": "simulation of the radio maps (DPM, IRT2, IRT4)",
    "trainer.weight_decay": "AdamW weight decay", "trainer.test_before": "sample once before training",
}

# (aspect, dotted keys; a key ending in "." covers every key under it). Both stages' layouts.
ASPECTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("data set", ("data.name", "data.dir_dataset", "data.img_folder")),
    ("simulation", ("data.simulation", "data.carsSimul", "data.carsInput")),
    ("first-stage checkpoint", ("model.first_stage.ckpt_path",)),
    ("fine-tune source", ("model.ckpt_path", "finetune.ckpt_path")),
    ("architecture", ("model.embed_dim", "model.ddconfig.", "model.unet.", "model.first_stage.embed_dim",
                      "model.first_stage.ddconfig.", "model.model_name", "model.model_type", "model.objective",
                      "model.timesteps")),
    ("length (train_num_steps)", ("trainer.train_num_steps",)),
    ("LR", ("trainer.lr", "trainer.min_lr")),
    ("batch size", ("data.batch_size",)),
)
# Aspects whose change makes a launch another experiment (not a resume of the one before).
RESTART_ASPECTS = ("data set", "simulation", "first-stage checkpoint", "fine-tune source", "architecture",
                   "length (train_num_steps)")


def aspect_of(key: str) -> str | None:
    """The aspect a dotted config key decides, or None (bookkeeping, loss weights, ...)."""
    for aspect, keys in ASPECTS:
        if any(key == k or (k.endswith(".") and key.startswith(k)) for k in keys):
            return aspect
    return None


def _known(key: str) -> str | None:
    if key in LDM_SCHEMA:
        return LDM_SCHEMA[key]
    return next((meaning for k, meaning in LDM_SCHEMA.items() if k.endswith(".") and key.startswith(k)), None)


def ldm_config_view(config: dict | None) -> tuple[list[tuple[str, Any, str]], list[tuple[str, Any]]]:
    """(known keys with value and meaning, unknown keys with value) of a second-stage config."""
    known, unknown = [], []
    for key, value in flatten_config(config or {}).items():
        meaning = _known(key)
        if meaning is None:
            unknown.append((key, value))
        else:
            known.append((key, value, meaning))
    return known, unknown


def changes_between(before: dict | None, after: dict | None) -> list[dict]:
    """The flattened config keys two launches differ in: key, value before and after, the aspect it sets."""
    return [{"key": d["key"], "before": d["values"][0], "after": d["values"][1], "aspect": aspect_of(d["key"])}
            for d in config_diff([before, after])]


@dataclass
class LaunchConfig:
    """What one launch's config says about its schedule and checkpoints (None: the config does not say)."""

    save_every: int | None  # trainer.save_and_sample_every: steps between checkpoints (milestones)
    resume_milestone: int | None  # trainer.resume_milestone: the checkpoint this launch restores
    enable_resume: bool | None  # trainer.enable_resume
    lr: float | None  # trainer.lr
    min_lr: float | None  # trainer.min_lr: RadioDiff's floor on the LR multiplier
    train_num_steps: float | None  # trainer.train_num_steps, as the LR schedule of this launch reads it


def launch_config(config: dict | None) -> LaunchConfig:
    """The keys of one launch's config that say where it resumed from and how its LR decays."""
    every = cfg_float(config, "trainer.save_and_sample_every")
    milestone = cfg_float(config, "trainer.resume_milestone")
    enable = cfg_get(config, "trainer.enable_resume")
    return LaunchConfig(
        save_every=int(every) if every is not None and every >= 1 else None,
        resume_milestone=int(milestone) if milestone is not None and milestone >= 0 and milestone.is_integer()
        else None,
        enable_resume=enable if isinstance(enable, bool) else None,
        lr=cfg_float(config, "trainer.lr"), min_lr=cfg_float(config, "trainer.min_lr"),
        train_num_steps=cfg_float(config, "trainer.train_num_steps"))


def save_interval(config: dict | None) -> int | None:
    """The config's save_and_sample_every (steps between checkpoints), or None."""
    return launch_config(config).save_every


# The second stage's keys its report names (``stage2.settings``), as read from the config.
STAGE2_KEYS = {"first_stage_ckpt": "model.first_stage.ckpt_path", "finetune_ckpt": "finetune.ckpt_path",
               "scale_by_std": "model.scale_by_std", "default_scale": "model.default_scale",
               "scale_by_softsign": "model.scale_by_softsign", "ema_every": "trainer.ema_update_every"}


@dataclass
class LoggedConfigs:
    """Every config value the analysis uses, read once from the run's logged configs (``read_configs``)."""

    run: LaunchConfig  # of the run's config (the latest one logged)
    launches: dict[int, LaunchConfig] = field(default_factory=dict)  # per stitched segment
    logged: dict[int, dict | None] = field(default_factory=dict)  # each segment's own config; {} when not per launch
    changes: dict[int, list[dict]] = field(default_factory=dict)  # segment -> keys changed since the one before
    disc_start: float | None = None  # model.lossconfig.disc_start
    kl_weight: float | None = None  # model.lossconfig.kl_weight
    disc_weight: float | None = None  # model.lossconfig.disc_weight
    has_lossconfig: bool = False  # a lossconfig without a weight means the loss's own default
    grad_accum: float | None = None  # trainer.gradient_accumulate_every
    scale_factor: float | None = None  # second stage: model.scale_factor
    ema_start: float | None = None  # second stage: trainer.ema_update_after_step
    stage2: dict[str, Any] = field(default_factory=dict)  # second stage: STAGE2_KEYS as written
    known: list = field(default_factory=list)  # second stage: (key, value, meaning) of its schema
    unknown: list = field(default_factory=list)  # second stage: (key, value) the schema does not know

    def launch(self, segment: int | None) -> LaunchConfig:
        """The config of a segment's launch (the run's where the segment has none)."""
        return self.launches.get(segment, self.run) if segment is not None else self.run


def read_configs(run: Run, rows: pd.DataFrame) -> LoggedConfigs:
    """Read every config value the analysis uses: per launch of ``rows`` (the run's current and superseded rows:
    schedule, checkpoints, the keys changed since the launch before when the logs hold a config per launch) and
    for the run (loss weights, second-stage keys)."""
    segs = sorted(int(x) for x in rows["segment"].dropna().unique()) if "segment" in rows.columns else []
    per_launch = bool(segs) and len(run.configs) > max(segs)
    own = {k: run.configs[k] for k in segs} if per_launch else {}
    cfg = run.config
    out = LoggedConfigs(
        run=launch_config(cfg),
        launches={k: launch_config(own[k] if own.get(k) is not None else cfg) for k in segs}, logged=own,
        disc_start=cfg_float(cfg, "model.lossconfig.disc_start"),
        kl_weight=cfg_float(cfg, "model.lossconfig.kl_weight"),
        disc_weight=cfg_float(cfg, "model.lossconfig.disc_weight"),
        has_lossconfig=cfg_get(cfg, "model.lossconfig") is not None,
        grad_accum=cfg_float(cfg, "trainer.gradient_accumulate_every"),
        scale_factor=cfg_float(cfg, "model.scale_factor"), ema_start=cfg_float(cfg, "trainer.ema_update_after_step"),
        stage2={name: cfg_get(cfg, key) for name, key in STAGE2_KEYS.items()})
    out.changes = {k: changes_between(own[prev], own[k]) for prev, k in zip(segs, segs[1:])} if per_launch else {}
    out.known, out.unknown = ldm_config_view(cfg)
    return out
