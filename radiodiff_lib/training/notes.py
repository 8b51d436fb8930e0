"""What a launch says about its config in train.log: where our trainer differs from RadioDiff's, what a
resume changed, and which keys of an edited config.yaml a resume takes (the file kept beside the new one)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Config, config_from_dict, config_to_dict, load_config, replace
from ..config_dict import cfg_get, config_changes, flatten_config
from ..errors import ConfigError
from ..vocabulary import CONFIG_FILE
from .run_log import MetricsScan, edited_config_name


def radiodiff_differences(config: Config) -> list[str]:
    """The notes that say where our trainer keys mean something else than in RadioDiff."""
    tr = config.trainer
    return [
        f"gradient_accumulate_every={tr.gradient_accumulate_every} means real gradient accumulation over that many "
        "micro-batches per optimizer step (RadioDiff uses it as an optimizer index: with 1 its discriminator is never "
        "trained); here the discriminator is trained every step from disc_start on.",
        f"min_lr={tr.min_lr:g} is a floor on the learning rate itself (RadioDiff floors the LR multiplier, "
        f"i.e. its LR never falls below lr*min_lr={tr.lr * tr.min_lr:g}).",
        f"gradients are clipped to max_grad_norm={tr.max_grad_norm:g} before each optimizer step "
        "(RadioDiff clips after the step, so it never clips).",
    ]


def resume_config_notes(old: dict, new: dict, edit: ConfigEdit | None = None) -> list[str]:
    """What a resume changes in the config (as notes), and whether that breaks the exact continuation. The keys
    an edited config.yaml changed are listed by ``edit``'s note (``ConfigEdit.notes``), not a second time here."""
    changes = config_changes(old, new)
    if not changes:
        return []
    said = {key for key, _, _ in edit.applied} if edit is not None else set()
    listing = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes if k not in said)
    notes = [f"config changed on resume: {listing}."] if listing else []
    breaking = [k for k, _, _ in changes if (k.startswith("data.") and k not in _ORDER_NEUTRAL) or k in _EXACTNESS_KEYS]
    if breaking:
        notes.append(f"{', '.join(breaking)} changed: the batches differ from the unbroken run's, so this "
                     "continuation is not exact.")
    return notes


# trainer keys that decide which samples make each step (with every data.* key)
_EXACTNESS_KEYS = ("trainer.seed", "trainer.gradient_accumulate_every")
# data keys that do not: worker processes deliver the sampler's batches in its order
_ORDER_NEUTRAL = ("data.num_workers",)


# Keys a checkpoint's weights fix: the architecture, the discriminator's and the stored logvar's start value.
CHECKPOINT_FIXED = ("model.embed_dim", "model.ddconfig.", "model.lossconfig.disc_in_channels",
                    "model.lossconfig.disc_num_layers", "model.lossconfig.use_actnorm", "model.lossconfig.logvar_init")


@dataclass
class ConfigEdit:
    """An edited config.yaml that a resume found: (key, was, now) applied, and (key, in config.yaml, kept) that
    the checkpoint overrides, or why the file could not be read; ``keep_as`` names the file it is kept as."""

    keep_as: str
    applied: list[tuple[str, Any, Any]] = field(default_factory=list)
    overridden: list[tuple[str, Any, Any]] = field(default_factory=list)
    unreadable: str | None = None

    def notes(self) -> list[str]:
        """What the launch says about the edit."""
        if self.unreadable is not None:
            return [f"config.yaml could not be read ({self.unreadable}); the checkpoint's config is used, and the "
                    f"file is kept as {self.keep_as}."]
        parts = []
        if self.applied:
            parts.append("applied " + "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in self.applied))
        if self.overridden:
            parts.append("the checkpoint overrides " + "; ".join(
                f"{k} ({b!r} in config.yaml, {kept!r} kept)" for k, b, kept in self.overridden)
                + " (the checkpoint's weights fix the architecture)")
        return [f"config.yaml was edited after the last launch wrote it: {'; '.join(parts)}. The edited file is "
                f"kept as {self.keep_as}."]


def resume_config(saved: dict, folder: Path, where: str, before: MetricsScan) -> tuple[Config, ConfigEdit | None]:
    """The config a resume of ``folder`` trains with: the checkpoint's (``saved``) plus the keys changed in an
    edited config.yaml (one that differs from what the last launch wrote there, or from ``saved`` when
    metrics.jsonl does not say), except the keys the checkpoint fixes. ``before`` is what metrics.jsonl says
    about the launches before this one (the same scan the launch's RunLogger is given)."""
    config = config_from_dict(saved, source=where)
    path = folder / CONFIG_FILE
    if not path.is_file():
        return config, None
    keep_as = edited_config_name(before.launches)  # the launch about to start
    try:
        edited = config_to_dict(load_config(path))
    except (ConfigError, OSError) as exc:  # said, not raised: the checkpoint's config trains
        return config, ConfigEdit(keep_as, unreadable=str(exc))
    changes = config_changes(before.last_config if before.last_config is not None else saved, edited)
    if not changes:
        return config, None
    kept, known = config_to_dict(config), flatten_config(edited)
    edit = ConfigEdit(keep_as)
    for key, was, now in changes:
        if key not in known:
            continue  # a key of an older workbench's config: nothing to apply
        if key.startswith(CHECKPOINT_FIXED):
            edit.overridden.append((key, now, cfg_get(kept, key)))
        else:
            edit.applied.append((key, was, now))
    if edit.applied:
        config = replace(config, **{key: now for key, _, now in edit.applied})
    return config, edit
