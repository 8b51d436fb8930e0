"""Judging a valid config: settings that are probably not what was meant, and what changed between two.

``config`` refuses what cannot work; this module says what works but surprises (the trainer warns
at start and writes it in train.log), and lists the keys two configs differ in (a resume with
another config, a comparison of runs).
"""
from __future__ import annotations

from typing import Any

from .config import Config, flatten_config


def config_warnings(cfg: Config) -> list[str]:
    """Settings that are valid but probably not what was meant; the trainer says them at start."""
    out = []
    dd, size = cfg.model.ddconfig, cfg.data.image_size
    if any(r != size for r in dd.resolution):
        effect = (f"attention is placed by resolution (attn_resolutions {dd.attn_resolutions}), so it lands at "
                  "other levels than intended" if dd.attn_resolutions else
                  "resolution only places attention and attn_resolutions is empty, so it has no effect here")
        out.append(f"model.ddconfig.resolution {dd.resolution} differs from data.image_size {size} (the size the maps "
                   f"are trained at): {effect}.")
    start, total = cfg.model.lossconfig.disc_start, cfg.trainer.train_num_steps
    if start >= total:
        out.append(f"model.lossconfig.disc_start {start} is not below trainer.train_num_steps {total}: the "
                   "discriminator never starts, this run trains the VAE alone.")
    return out


def config_changes(old: dict, new: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every key whose value differs; a missing key is None."""
    a, b = flatten_config(old), flatten_config(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
