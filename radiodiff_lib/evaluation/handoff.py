"""The hand-off to RadioDiff's second stage: ``handoff.yaml`` and a check of the user's stage-2 config.

What ``train_cond_ldm.py`` reads (RadioDiff's ``configs/radio_train.yaml``): ``model.first_stage``
(``ckpt_path``, ``ddconfig``, ``lossconfig``, ``embed_dim``) builds the frozen VAE, and
``model.scale_factor`` with ``model.scale_by_std`` and ``model.default_scale`` decide the latent
scale in ``ddm_const_sde.py``'s ``on_train_batch_start``: with ``scale_by_std: True`` and
``default_scale: True`` the written ``scale_factor`` is used as it is and never measured; with
``default_scale: False`` (its default when the key is absent) it asserts ``scale_factor == 1`` and
sets it to 1 / std of the first batch's latents alone. ``handoff.yaml`` therefore writes the
scale measured over a whole split with ``scale_by_std: True, default_scale: True``.

The VAE's ``init_from_ckpt`` loads a checkpoint's ``ema`` weights when it has them (``use_ema=True``
by default) and ``model`` otherwise, with ``strict=False``. So ``ckpt_path`` names a file whose
``ema`` entry holds exactly the chosen weights: the RadioDiff checkpoint itself when its EMA
weights were chosen, else a RadioDiff-layout copy written into the sweep's folder.
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import Config, read_yaml
from ..config_dict import config_changes
from ..errors import ConfigError
from .bootstrap import Interval

HANDOFF_FILE = "handoff.yaml"
SCALE_TOLERANCE = 0.10  # a stage-2 scale_factor further than this (relative) from the measured one is warned about
# ddconfig keys that decide the weights' shapes (resolution only places attention)
ARCHITECTURE_KEYS = ("double_z", "z_channels", "in_channels", "out_ch", "ch", "ch_mult", "num_res_blocks",
                     "attn_resolutions")
# our LossConfig's own additions, which RadioDiff's LPIPSWithDiscriminator(**lossconfig) would refuse
NOT_RADIODIFF_LOSS_KEYS = ("lpips_weights",)


def first_stage_section(ckpt_path: str | Path, config: Config) -> dict:
    """``model.first_stage`` of the second stage's config for a VAE of ``config`` stored at ``ckpt_path``."""
    loss = {k: v for k, v in dataclasses.asdict(config.model.lossconfig).items() if k not in NOT_RADIODIFF_LOSS_KEYS}
    return {"embed_dim": int(config.model.embed_dim), "lossconfig": loss,
            "ddconfig": dataclasses.asdict(config.model.ddconfig), "ckpt_path": str(Path(ckpt_path).resolve())}


def handoff_config(ckpt_path: str | Path, config: Config, scale_factor: float) -> dict:
    """The keys the second stage reads, set so that it uses ``scale_factor`` as written."""
    return {"model": {"scale_factor": float(scale_factor), "scale_by_std": True, "default_scale": True,
                      "first_stage": first_stage_section(ckpt_path, config)}}


def _comment(lines: list[str]) -> str:
    # names a user wrote go in as JSON strings: a newline or '#' in a file name cannot end the comment
    return "".join(f"# {line}\n" for line in lines)


def write_handoff(path: str | Path, handoff: dict, provenance: list[str]) -> Path:
    """Write ``handoff`` as YAML, headed by comment lines saying where each number comes from."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = _comment(provenance) + yaml.safe_dump(handoff, sort_keys=False, default_flow_style=None)
    path.write_text(text, encoding="utf-8")
    return path


def provenance_lines(checkpoint: str, weights: str, step: int | None, scale: Interval, split: str, maps: int,
                     why: str) -> list[str]:
    """The header of ``handoff.yaml``: which checkpoint, why it, and where the scale factor comes from."""
    return [
        "Written by `radiodiff sweep`: merge these keys into RadioDiff's second-stage config (radio_train.yaml).",
        f"first stage: {json.dumps(checkpoint)}, {weights} weights, step {step}; {why}",
        f"scale_factor = 1 / std of the latents (posterior samples) over {maps} {split} maps; "
        f"two disjoint halves of the maps give {scale.low:.6g} .. {scale.high:.6g}.",
        "scale_by_std: True with default_scale: True makes the second stage use this value as written "
        "(ddm_const_sde.py, on_train_batch_start).",
    ]


# --- a user's second-stage config beside the hand-off ----------------------------------------------

@dataclass
class Stage2Check:
    """A stage-2 config compared with the hand-off: what the merge changes, warnings, the merged config."""

    source: str
    differences: list[tuple[str, Any, Any]]  # (dotted key, the file's value, the hand-off's)
    warnings: list[str]
    merged: dict
    written: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """{source, differences: [{key, config, handoff}], warnings, merged_config}."""
        return {"source": self.source, "warnings": self.warnings, "merged_config": self.written,
                "differences": [{"key": k, "config": a, "handoff": b} for k, a, b in self.differences]}


def merge(base: dict, overrides: dict) -> dict:
    """``base`` with ``overrides`` written over it, key by key (nested mappings merged, the rest replaced)."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _as_float(value: Any) -> float | None:
    try:
        return None if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None


def _truthy(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def scale_warnings(model: dict, scale: Interval, source: str) -> list[str]:
    """What the file's ``scale_factor``, ``scale_by_std`` and ``default_scale`` would make the second stage do."""
    out = []
    written = _as_float(model.get("scale_factor"))
    by_std = _truthy(model.get("scale_by_std", False))
    default = _truthy(model.get("default_scale", False))  # train_cond_ldm.py: cfg.get('default_scale', False)
    off = written is None or abs(written - scale.mean) > SCALE_TOLERANCE * abs(scale.mean)
    if written is None:
        out.append(f"{source}: model.scale_factor is missing or not a number; the measured value is {scale.mean:.6g}.")
    elif off:
        out.append(f"{source}: model.scale_factor {written:.6g} is {abs(written / scale.mean - 1):.0%} from the measured "
                   f"{scale.mean:.6g} (halves of the maps: {scale.low:.6g} .. {scale.high:.6g}): the second stage would "
                   f"train on latents of std {written / scale.mean:.3g} instead of 1.")
    if not by_std:
        out.append(f"{source}: model.scale_by_std is not True: the second stage does not multiply the latents by "
                   "scale_factor at all (ddm_const_sde.py, training_step).")
    elif default and off:
        out.append(f"{source}: model.default_scale: True means the scale is never measured: the second stage uses "
                   f"the written {model.get('scale_factor')!r} as it is (on_train_batch_start).")
    elif not default:
        extra = (f"; it also asserts scale_factor == 1, which this file's {written:.6g} would fail"
                 if written is not None and written != 1.0 else "")
        out.append(f"{source}: model.default_scale is not True: the second stage measures 1 / std on its first batch "
                   f"alone and overwrites scale_factor{extra}.")
    return out


def architecture_warnings(first_stage: dict, config: Config, source: str) -> list[str]:
    """Each ``first_stage`` architecture key of the file that differs from the checkpoint's."""
    dd = dataclasses.asdict(config.model.ddconfig)
    given = first_stage.get("ddconfig") if isinstance(first_stage.get("ddconfig"), dict) else {}
    keys = list(ARCHITECTURE_KEYS) + (["resolution"] if dd["attn_resolutions"] else [])
    diffs = [(f"ddconfig.{k}", given.get(k), dd[k]) for k in keys if k in given and given[k] != dd[k]]
    if "embed_dim" in first_stage and first_stage["embed_dim"] != config.model.embed_dim:
        diffs.append(("embed_dim", first_stage["embed_dim"], config.model.embed_dim))
    return [f"{source}: model.first_stage.{k} is {a!r} but the chosen checkpoint's is {b!r}: RadioDiff builds the VAE "
            "from this config and loads the weights with strict=False, so they would not fit." for k, a, b in diffs]


def check_stage2_config(path: str | Path, handoff: dict, scale: Interval, config: Config) -> Stage2Check:
    """Read a stage-2 config (``radio_train.yaml``) and compare it with the hand-off."""
    source = str(path)
    user = read_yaml(path)
    model = user.get("model")
    if not isinstance(model, dict):
        raise ConfigError(f"{source}: no 'model' section; pass RadioDiff's second-stage config (radio_train.yaml).")
    first = model.get("first_stage") if isinstance(model.get("first_stage"), dict) else {}
    warnings = scale_warnings(model, scale, source) + architecture_warnings(first, config, source)
    merged = merge(user, handoff)
    return Stage2Check(source=source, differences=config_changes(user, merged), warnings=warnings, merged=merged)


def write_merged(check: Stage2Check, folder: str | Path) -> Path:
    """Write the merged stage-2 config into ``folder`` as ``<name>.merged.yaml``."""
    path = Path(folder) / f"{Path(check.source).stem}.merged.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = _comment([f"{json.dumps(check.source)} with the keys of {HANDOFF_FILE} written over it "
                       f"({len(check.differences)} changed)."])
    path.write_text(header + yaml.safe_dump(check.merged, sort_keys=False, default_flow_style=None), encoding="utf-8")
    check.written = str(path)
    return path
