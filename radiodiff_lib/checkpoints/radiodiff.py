"""RadioDiff checkpoints (``model-N.pt`` of ``train_vae.py``): safe loading, import, export, inference.

A RadioDiff checkpoint is a ``torch.save`` of ``{step, model, opt_ae, lr_scheduler_ae, opt_disc,
lr_scheduler_disc, ema, scaler}``. ``model`` holds ``encoder.*``, ``decoder.*``, ``quant_conv.*``,
``post_quant_conv.*``, ``loss.logvar``, ``loss.discriminator.*`` and frozen copies we never use
(``loss.perceptual_loss.*`` = LPIPS/VGG16, ``loss_pinn*.*``); ``ema`` holds ``ema_model.<same>``
plus ``initted`` and ``step``. Everything is read with ``weights_only=True``: no arbitrary pickle.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..config import DDConfig
from ..errors import CheckpointError
from ..model.lpips import weight_shapes
from ..safe_load import torch_load_safely

MODEL_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")
LOSS_KEEP = re.compile(r"^loss\.(logvar$|discriminator\.)")
IGNORED = re.compile(r"^(loss\.perceptual_loss\.|loss_pinn[^.]*\.|online_model\.)")
RADIODIFF_KEYS = ("step", "model", "opt_ae", "lr_scheduler_ae", "opt_disc", "lr_scheduler_disc", "ema", "scaler")


def is_radiodiff_checkpoint(obj: Any) -> bool:
    """True for a dict in RadioDiff's train_vae.py layout (``model`` with encoder/decoder weights, no workbench format tag)."""
    if not isinstance(obj, Mapping) or obj.get("format") is not None:
        return False
    model = obj.get("model")
    if not isinstance(model, Mapping):
        return False
    keys = [k for k in model if isinstance(k, str)]
    return any(k.startswith("encoder.") for k in keys) and any(k.startswith("decoder.") for k in keys)


@dataclass
class LoadReport:
    """What ``load_radiodiff_weights`` did: keys loaded, missing from the file, unexpected, deliberately ignored."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    step: int | None = None
    source: str = "<object>"
    weights: str = "model"  # "model" or "ema"

    def summary(self) -> str:
        """One paragraph for a log or a notebook."""
        def some(keys: list[str]) -> str:
            return "" if not keys else " (" + ", ".join(keys[:5]) + (", ..." if len(keys) > 5 else "") + ")"

        return (
            f"{self.source}: loaded {len(self.loaded)} {self.weights} tensors (step {self.step}); "
            f"missing {len(self.missing)}{some(self.missing)}; unexpected {len(self.unexpected)}"
            f"{some(self.unexpected)}; ignored {len(self.ignored)} (frozen LPIPS / loss_pinn copies / EMA bookkeeping)."
        )


def _weights_from(obj: Any, use_ema: bool, source: str) -> tuple[dict[str, Any], int | None]:
    """The flat state dict to load (ema_model. stripped) and the checkpoint step."""
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{source} holds a {type(obj).__name__}, not a checkpoint dict. Give a RadioDiff model-N.pt.")
    step = _as_int(obj.get("step"))
    if "model" not in obj and any(isinstance(k, str) and k.startswith(MODEL_PREFIXES) for k in obj):
        if use_ema:
            raise CheckpointError(f"{source} is a bare state dict with no 'ema' weights; load it with use_ema=False.")
        state: Any = obj  # a bare AutoencoderKL state dict
    elif use_ema:
        state = obj.get("ema")
        if not isinstance(state, Mapping):
            raise CheckpointError(
                f"{source} has no 'ema' weights (top-level keys: {sorted(map(str, obj))[:10]}). Load with use_ema=False."
            )
        step = step if step is not None else _as_int(state.get("step"))
        if isinstance(state.get("shadow"), Mapping):
            state = state["shadow"]  # the workbench trainer's EMA: {"shadow": AutoencoderKL keys, ...}
    else:
        state = obj.get("model")
        if not isinstance(state, Mapping):
            raise CheckpointError(
                f"{source} is not a RadioDiff VAE checkpoint: no 'model' state dict (top-level keys: "
                f"{sorted(map(str, obj))[:10]}; expected {', '.join(RADIODIFF_KEYS)})."
            )
    flat: dict[str, Any] = {}
    for key, value in state.items():
        key = str(key)
        for prefix in ("ema_model.", "module."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        flat[key] = value
    if not any(k.startswith(("encoder.", "decoder.")) for k in flat):
        raise CheckpointError(
            f"{source} holds no encoder./decoder. weights (first keys: {list(flat)[:5]}): it is not a "
            "RadioDiff first-stage VAE checkpoint."
        )
    return flat, step


def _as_int(value: Any) -> int | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return int(value.item())
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _check_shapes(module: nn.Module, state: dict[str, Any], prefix: str, source: str, full: dict) -> None:
    """CheckpointError naming every key whose shape differs between the file and ``module``."""
    own = module.state_dict()
    bad = [
        f"{prefix}{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items() if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape
    ]
    if not bad:
        return
    raise CheckpointError(
        f"{source} does not fit this model: {len(bad)} shape mismatches: " + "; ".join(bad[:8])
        + ("; ..." if len(bad) > 8 else "") + "." + _architecture_hint(prefix, full)
        + " Use the config the checkpoint was trained with."
    )


def _architecture_hint(prefix: str, full: dict) -> str:
    if prefix == "loss.":
        return " Set model.lossconfig.disc_in_channels / disc_num_layers to match the file's discriminator."
    try:
        dd, embed = infer_ddconfig(full)
    except CheckpointError:
        return ""
    return (f" The file looks like ddconfig ch={dd.ch}, ch_mult={dd.ch_mult}, num_res_blocks="
            f"{dd.num_res_blocks}, z_channels={dd.z_channels}, in_channels={dd.in_channels}, "
            f"out_ch={dd.out_ch}, embed_dim={embed}.")


def load_radiodiff_weights(
    model: nn.Module, path_or_obj: str | Path | Mapping, loss: nn.Module | None = None, use_ema: bool = False
) -> LoadReport:
    """Load a RadioDiff ``model-N.pt`` (model or EMA weights) into ``model`` (and ``loss``); report what happened."""
    if isinstance(path_or_obj, (str, Path)):
        source = str(path_or_obj)
        obj = torch_load_safely(path_or_obj)
    else:
        source, obj = "<checkpoint dict>", path_or_obj
    flat, step = _weights_from(obj, use_ema, source)
    report = LoadReport(step=step, source=source, weights="ema" if use_ema else "model")
    model_sd: dict[str, Any] = {}
    loss_sd: dict[str, Any] = {}
    for key, value in flat.items():
        if key.startswith(MODEL_PREFIXES):
            model_sd[key] = value
        elif LOSS_KEEP.match(key) and loss is not None:
            loss_sd[key[len("loss."):]] = value
        elif IGNORED.match(key) or LOSS_KEEP.match(key) or (use_ema and key in ("initted", "step")):
            report.ignored.append(key)
        else:
            report.unexpected.append(key)
    _check_shapes(model, model_sd, "", source, flat)
    result = model.load_state_dict(model_sd, strict=False)
    report.missing += list(result.missing_keys)
    report.unexpected += list(result.unexpected_keys)
    report.loaded += [k for k in model_sd if k not in result.unexpected_keys]
    if loss is not None:
        _check_shapes(loss, loss_sd, "loss.", source, flat)
        result = loss.load_state_dict(loss_sd, strict=False)
        report.missing += [f"loss.{k}" for k in result.missing_keys]
        report.unexpected += [f"loss.{k}" for k in result.unexpected_keys]
        report.loaded += [f"loss.{k}" for k in loss_sd if k not in result.unexpected_keys]
    return report


def _fake_lpips() -> dict[str, torch.Tensor]:
    """LPIPS names and shapes with zero values that take no space (a stride-0 view of one element)."""
    return {k: torch.zeros(()).expand(s) for k, s in weight_shapes().items()}


def radiodiff_model_state(model: nn.Module, loss: nn.Module | None, with_lpips_copies: bool = True) -> dict[str, torch.Tensor]:
    """The ``model`` entry of a RadioDiff checkpoint: AutoencoderKL + ``loss.*`` (+ LPIPS and loss_pinn copies)."""
    state = dict(model.state_dict())
    loss_state: dict[str, torch.Tensor] = {}
    if loss is not None:
        loss_state = dict(loss.state_dict())
        if with_lpips_copies:
            perceptual = getattr(loss, "perceptual_loss", None)
            lp = perceptual.weights_dict() if perceptual is not None else _fake_lpips()
            loss_state.update({f"perceptual_loss.{k}": v for k, v in lp.items()})
    for name in ("loss", "loss_pinn", "loss_pinn_dpm2irt4") if with_lpips_copies else ("loss",):
        # The copies share tensors with loss.*, so torch.save stores each storage once.
        state.update({f"{name}.{k}": v for k, v in loss_state.items()})
    return state


def _fresh_adamw_state(n_params: int, lr: float) -> dict:
    """An AdamW state dict before its first step (what torch.optim.AdamW(...).state_dict() gives),
    written out by hand because constructing an optimizer imports torch's compiler (seconds)."""
    group = {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01, "amsgrad": False,
             "foreach": None, "maximize": False, "capturable": False, "differentiable": False,
             "fused": None, "decoupled_weight_decay": True, "params": list(range(n_params))}
    return {"state": {}, "param_groups": [group] if n_params else []}


def save_radiodiff_layout(
    path: str | Path, model: nn.Module, loss: nn.Module | None, step: int,
    with_lpips_copies: bool = True, ema_state: Mapping[str, torch.Tensor] | None = None, lr: float = 5e-6,
) -> Path:
    """Write ``model``/``loss`` as RadioDiff's train_vae.py would (all eight keys; ``ema`` with ``ema_model.``).

    Without a real LPIPS in ``loss`` the ``loss.perceptual_loss.*`` entries are zero placeholders
    of the right names and shapes: RadioDiff would load zeros into its LPIPS, so for an export
    meant for training in RadioDiff give a loss built with ``lpips_weights`` (or pass
    ``with_lpips_copies=False``, which also drops the ``loss_pinn*`` copies). ``ema_state``
    (AutoencoderKL keys, e.g. the EMA model's state dict) defaults to the model's own weights.
    """
    path = Path(path)
    state = radiodiff_model_state(model, loss, with_lpips_copies)
    ema_src = dict(state)
    if ema_state is not None:
        ema_src.update({k: v for k, v in ema_state.items()})
    ema = {f"ema_model.{k}": v for k, v in ema_src.items()}
    ema["initted"] = torch.tensor(True)
    ema["step"] = torch.tensor(int(step))

    n_ae = len(model.autoencoder_parameters())
    disc = getattr(loss, "discriminator", None) if loss is not None else None
    n_disc = sum(1 for _ in disc.parameters()) if disc is not None else 0

    def sched() -> dict:
        return {"base_lrs": [lr], "last_epoch": int(step), "_step_count": int(step) + 1,
                "_get_lr_called_within_step": False, "_last_lr": [lr], "lr_lambdas": [None]}

    ckpt = {
        "step": int(step),
        "model": state,
        "opt_ae": _fresh_adamw_state(n_ae, lr),
        "lr_scheduler_ae": sched(),
        "opt_disc": _fresh_adamw_state(n_disc, lr),
        "lr_scheduler_disc": sched(),
        "ema": ema,
        "scaler": None,  # RadioDiff stores None when amp is off
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def infer_ddconfig(state_dict: Mapping[str, Any], resolution: list[int] | None = None) -> tuple[DDConfig, int]:
    """(DDConfig, embed_dim) read from key names and shapes; ``resolution`` (not stored) places attention."""
    sd = state_dict
    if "model" in sd and isinstance(sd["model"], Mapping):
        sd = sd["model"]  # a whole checkpoint
    sd = {str(k).removeprefix("ema_model.").removeprefix("module."): v for k, v in sd.items()}

    def shape(key: str) -> tuple[int, ...]:
        if key not in sd or not isinstance(sd[key], torch.Tensor):
            raise CheckpointError(f"cannot infer the architecture: '{key}' is missing (not an AutoencoderKL state dict)")
        return tuple(sd[key].shape)

    ch, in_channels = shape("encoder.conv_in.weight")[:2]
    levels = sorted({int(m.group(1)) for k in sd if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
    if not levels or levels != list(range(len(levels))):
        raise CheckpointError(f"cannot infer the architecture: encoder.down levels {levels} are not 0..L-1")
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    ch_mult = [shape(f"encoder.down.{i}.block.0.conv1.weight")[0] // ch for i in levels]
    z_channels = shape("decoder.conv_in.weight")[1]
    enc_out = shape("encoder.conv_out.weight")[0]
    embed_dim = shape("post_quant_conv.weight")[1]
    res = list(resolution) if resolution is not None else DDConfig().resolution
    enc_attn = {i for i in levels if f"encoder.down.{i}.attn.0.q.weight" in sd}
    dec_attn = {i for i in levels if f"decoder.up.{i}.attn.0.q.weight" in sd}
    if enc_attn != dec_attn:
        raise CheckpointError(f"encoder attention at levels {sorted(enc_attn)} but decoder at {sorted(dec_attn)}: not an LDM AutoencoderKL")
    dd = DDConfig(
        double_z=enc_out == 2 * z_channels, z_channels=z_channels, resolution=res,
        in_channels=in_channels, out_ch=shape("decoder.conv_out.weight")[0], ch=ch, ch_mult=ch_mult,
        num_res_blocks=len(blocks), attn_resolutions=[res[0] // 2**i for i in sorted(enc_attn)], dropout=0.0,
    )
    return dd, embed_dim
