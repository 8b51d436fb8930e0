"""What a launch says about its config in train.log: where our trainer differs from RadioDiff's, and
what a resume changed (the previous config.yaml kept beside it)."""
from __future__ import annotations

from pathlib import Path

from ..config import Config
from ..config_checks import config_changes
from ..vocabulary import CONFIG_FILE


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


def resume_config_notes(old: dict, new: dict) -> list[str]:
    """What a resume changes in the config (as notes), and whether that breaks the exact continuation."""
    changes = config_changes(old, new)
    if not changes:
        return []
    listing = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes)
    notes = [f"config changed on resume: {listing}."]
    breaking = [k for k, _, _ in changes if (k.startswith("data.") and k not in _ORDER_NEUTRAL) or k in _EXACTNESS_KEYS]
    if breaking:
        notes.append(f"{', '.join(breaking)} changed: the batches differ from the unbroken run's, so this "
                     "continuation is not exact.")
    return notes


# trainer keys that decide which samples make each step (with every data.* key)
_EXACTNESS_KEYS = ("trainer.seed", "trainer.gradient_accumulate_every")
# data keys that do not: worker processes deliver the sampler's batches in its order
_ORDER_NEUTRAL = ("data.num_workers",)


def keep_previous_config(folder: Path, new_text: str, launch: int) -> None:
    """Before config.yaml is overwritten with another config, keep the old one as config-launch-<n>.yaml."""
    current = folder / CONFIG_FILE
    if current.is_file() and current.read_text(encoding="utf-8") != new_text:
        current.replace(folder / f"config-launch-{max(launch - 1, 0)}.yaml")
