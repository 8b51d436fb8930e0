"""Configs read from logs: the aspects of an experiment they set, and the second stage's schema
(flat keys and diffs: ``config_dict``).

A logged config is another project's file, not one we run: every key is kept, an unknown key is
shown as unknown, a value of any type is fine (never an error). Keys are dotted
(``model.lossconfig.disc_weight``, ``config_dict.flatten_config``); lists stay values.

Aspects (``ASPECTS``): what a group of keys decides about an experiment (data set, simulation,
first-stage checkpoint, fine-tune source, architecture, length, LR, batch size), as RadioDiff's
``train_vae.py`` and ``train_cond_ldm.py`` read them. A launch that changes a ``RESTART_ASPECTS``
aspect is another experiment (``boundaries``); runs that differ in any aspect are not like for like
(``compare``).
"""
from __future__ import annotations

from typing import Any

from ..config_dict import flatten_config

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
