"""RadioDiff YAML configs as typed dataclasses: load as users have them, validate, write back.

A RadioDiff VAE config (``model``/``data``/``trainer``) loads unchanged; the workbench's own
additions (data source, seed, checkpoint retention, ...) all have defaults, so a RadioDiff file
needs none of them. Unknown or mistyped keys are errors that name the key, the file and the
valid keys. ``validate`` refuses what cannot work; ``config_warnings`` says what works but
probably surprises (the trainer warns at start and writes it in train.log).
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .config_dict import flatten_config
from .errors import ConfigError
from .safe_yaml import BoundedSafeLoader, YamlLimitError, load_yaml
from .vocabulary import BF16, FP16, FP32, PRECISIONS, SPLIT_PROTOCOLS  # also config.SPLIT_PROTOCOLS, where data and evaluation read it


@dataclass
class DDConfig:
    """The encoder/decoder architecture (RadioDiff's ``model.ddconfig``)."""

    double_z: bool = True
    z_channels: int = 3
    resolution: list[int] = field(default_factory=lambda: [320, 320])
    in_channels: int = 1
    out_ch: int = 1
    ch: int = 128
    ch_mult: list[int] = field(default_factory=lambda: [1, 2, 4])
    num_res_blocks: int = 2
    attn_resolutions: list[int] = field(default_factory=list)
    dropout: float = 0.0


@dataclass
class LossConfig:
    """The loss keyword arguments (RadioDiff's ``model.lossconfig``), with its defaults."""

    disc_start: int = 50001
    logvar_init: float = 0.0
    kl_weight: float = 1.0
    pixelloss_weight: float = 1.0
    disc_num_layers: int = 3
    disc_in_channels: int = 3
    disc_factor: float = 1.0
    disc_weight: float = 1.0
    perceptual_weight: float = 1.0
    use_actnorm: bool = False
    disc_conditional: bool = False
    disc_loss: str = "hinge"
    # Workbench addition: a local file with VGG16 + LPIPS-head weights (needed when
    # perceptual_weight > 0; nothing is ever downloaded).
    lpips_weights: str | None = None


@dataclass
class ModelConfig:
    """RadioDiff's ``model`` section."""

    embed_dim: int = 3
    lossconfig: LossConfig = field(default_factory=LossConfig)
    ddconfig: DDConfig = field(default_factory=DDConfig)
    ckpt_path: str | None = None


@dataclass
class DataConfig:
    """RadioDiff's ``data`` section plus the workbench's data-source settings."""

    name: str = "synthetic"  # "synthetic" (built-in generator) or "radio" (RadioMapSeer)
    batch_size: int = 2
    # Workbench additions.
    image_size: int = 256  # maps are resized to this when it differs from the source
    num_maps: int = 1000  # synthetic only: scenes in the whole data set
    seed: int = 0  # synthetic only: scene generator seed
    root: str | None = None  # radio only: the RadioMapSeer folder
    simulation: str = "DPM"  # radio only: DPM, IRT2 or IRT4
    cars: bool = False  # radio only: the carsDPM/carsIRT* variants
    num_workers: int | None = None  # data-loader worker processes; None: 0 on CPU, up to 4 on a GPU
    split_protocol: str = "radiodiff"  # radio only: radiodiff or radiounet, the reference loaders' map splits
    val_fraction: float = 0.1  # synthetic only: its own split (RadioMapSeer follows split_protocol)
    test_fraction: float = 0.1


@dataclass
class TrainerConfig:
    """RadioDiff's ``trainer`` section plus the workbench's training settings."""

    gradient_accumulate_every: int = 1  # ours: real accumulation over micro-batches
    lr: float = 5e-6
    min_lr: float = 5e-7  # ours: a floor on the learning rate itself
    train_num_steps: int = 150000
    save_and_sample_every: int = 5000
    log_freq: int = 100
    results_folder: str = "./radiodiff_Vae"
    resume_milestone: int | None = None
    amp: bool = False
    fp16: bool = False
    # Workbench additions.
    seed: int = 0
    mixed_precision: str | None = None  # "no", "bf16", "bf16-emulated" or "fp16"; None derives it from amp/fp16
    ema_decay: float = 0.995
    ema_update_every: int = 10
    max_grad_norm: float = 1.0  # 0 disables clipping
    keep_last: int = 3  # checkpoints kept: the newest keep_last ...
    keep_every: int = 0  # ... plus every keep_every-th milestone (0: none)
    on_nonfinite: str = "stop"  # "stop" or "skip" the step
    deterministic: bool = True  # deterministic kernels (CUDA: + cuBLAS workspace): bitwise exact resume
    compile: bool = False  # torch.compile the encoder, the decoder body and the discriminator
    channels_last: bool = False  # NHWC memory layout for the convolutions (a GPU option; opt-in, unmeasured)


@dataclass
class Config:
    """A whole workbench config: RadioDiff's three sections."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    source: str = field(default="<defaults>", compare=False, repr=False)


# --- YAML reading --------------------------------------------------------------------------

class _Yaml12FloatLoader(BoundedSafeLoader):
    """The bounded SafeLoader, reading ``5e-6`` as a float (YAML 1.1 would read it as a string)."""


_FLOAT_RE = re.compile(
    r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)$"
    r"|^[-+]?(?:[0-9][0-9_]*)?\.[0-9_]+(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"
)
_Yaml12FloatLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789.")
)


def read_yaml(path: str | Path) -> dict:
    """Read a YAML file into a dict, with ``5e-6`` read as a float."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.y*ml"))[:5]
        inside = f" (it holds {', '.join(found)})" if found else ""
        raise ConfigError(f"{path} is a folder, not a config file{inside}: pass the path of the YAML file itself.")
    if not path.is_file():
        raise ConfigError(f"Config file not found: {path}. Pass the path of a RadioDiff YAML config.")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), _Yaml12FloatLoader)
    except YamlLimitError as exc:
        raise ConfigError(f"{path}: {exc}; a RadioDiff config is a few KB of plain keys and values.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}). Fix the syntax at the line shown.") from exc
    if data is None:
        raise ConfigError(f"{path}: the file is empty. A config needs model, data and trainer sections.")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with model/data/trainer, got {type(data).__name__}.")
    return data


# --- dict -> dataclass with validation -----------------------------------------------------

def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check and convert one value to the annotated type ``tp``; raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]  # RadioDiff allows resolution: 320 as well as [320, 320]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list of {_type_name(item_tp)}, got {value!r}")
        return [_coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)  # a bare 5e-6 read by a YAML 1.1 parser elsewhere
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    raise ConfigError(f"{where}: unsupported type {tp}")  # pragma: no cover - programming error


def _build(cls: type, values: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys with suggestions."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name != "source"]
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{where}: unknown key '{key}'.{hint} Valid keys: {', '.join(names)}."
            )
        kwargs[key] = _coerce(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def config_from_dict(data: dict, source: str = "<dict>") -> Config:
    """Build and validate a Config from a RadioDiff-shaped dict; errors name ``source``."""
    try:
        cfg = _build(Config, {k: v for k, v in data.items()}, where="config")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    cfg.source = source
    validate(cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Load a RadioDiff (or workbench) YAML config file into a validated Config."""
    return config_from_dict(read_yaml(path), source=str(path))


def validate(cfg: Config) -> None:
    """Check values that types alone cannot (positive sizes, known names, GroupNorm widths)."""
    problems = []
    dd, loss, data, tr = cfg.model.ddconfig, cfg.model.lossconfig, cfg.data, cfg.trainer
    if not dd.ch_mult or any(m < 1 for m in dd.ch_mult):
        problems.append("model.ddconfig.ch_mult must be a non-empty list of positive integers")
    for m in dd.ch_mult or [1]:
        if (dd.ch * m) % 32:
            problems.append(f"model.ddconfig.ch * ch_mult ({dd.ch}*{m}) must be a multiple of 32 (GroupNorm(32))")
            break
    for name in ("ch", "z_channels", "in_channels", "out_ch", "num_res_blocks"):
        if getattr(dd, name) < (0 if name == "num_res_blocks" else 1):
            problems.append(f"model.ddconfig.{name} must be positive")
    if len(dd.resolution) not in (1, 2):
        problems.append("model.ddconfig.resolution must be one number or [height, width]")
    if cfg.model.embed_dim < 1:
        problems.append("model.embed_dim must be positive")
    if loss.disc_loss not in ("hinge", "vanilla"):
        problems.append(f"model.lossconfig.disc_loss must be 'hinge' or 'vanilla', got '{loss.disc_loss}'")
    if loss.disc_num_layers < 1:
        problems.append("model.lossconfig.disc_num_layers must be at least 1")
    if data.name not in ("synthetic", "radio"):
        problems.append(f"data.name must be 'synthetic' or 'radio', got '{data.name}'")
    if data.batch_size < 1 or data.image_size < 8 or data.num_maps < 1:
        problems.append("data.batch_size, data.image_size (>= 8) and data.num_maps must be positive")
    if data.simulation not in ("DPM", "IRT2", "IRT4"):
        problems.append(f"data.simulation must be DPM, IRT2 or IRT4, got '{data.simulation}'")
    if data.split_protocol not in SPLIT_PROTOCOLS:
        problems.append(f"data.split_protocol must be {' or '.join(SPLIT_PROTOCOLS)}, got '{data.split_protocol}'")
    if data.num_workers is not None and data.num_workers < 0:
        problems.append("data.num_workers must be 0 or more (or left out: chosen by the device)")
    if not (0 <= data.val_fraction < 1 and 0 <= data.test_fraction < 1 and data.val_fraction + data.test_fraction < 1):
        problems.append("data.val_fraction and data.test_fraction must be in [0, 1) and sum below 1")
    for name in ("gradient_accumulate_every", "train_num_steps", "save_and_sample_every", "log_freq"):
        if getattr(tr, name) < 1:
            problems.append(f"trainer.{name} must be at least 1")
    if not tr.lr > 0 or not tr.min_lr >= 0:  # (NaN fails both comparisons)
        problems.append("trainer.lr must be positive and trainer.min_lr not negative")
    if tr.mixed_precision is not None and tr.mixed_precision not in PRECISIONS:
        problems.append(f"trainer.mixed_precision must be {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}, "
                        f"got '{tr.mixed_precision}'")
    if tr.on_nonfinite not in ("stop", "skip"):
        problems.append(f"trainer.on_nonfinite must be 'stop' or 'skip', got '{tr.on_nonfinite}'")
    if tr.keep_last < 1 or tr.keep_every < 0:
        problems.append("trainer.keep_last must be at least 1 and trainer.keep_every not negative")
    if not 0 <= tr.ema_decay < 1 or tr.ema_update_every < 1:
        problems.append("trainer.ema_decay must be in [0, 1) and trainer.ema_update_every at least 1")
    problems += _non_finite(cfg) + _halvings(cfg)
    if problems:
        raise ConfigError(f"{cfg.source}: invalid config:\n  - " + "\n  - ".join(problems))


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


def _non_finite(cfg: Config) -> list[str]:
    """Every float value must be a number: nan and inf are never a meaningful setting here."""
    return [f"{where} is {value}: give a finite number" for where, value in flatten_config(config_to_dict(cfg)).items()
            if isinstance(value, float) and not math.isfinite(value)]


def _halvings(cfg: Config) -> list[str]:
    """The encoder halves the maps len(ch_mult) - 1 times and the decoder doubles them back: the map
    size must divide by 2 that often, or the reconstruction would not match the input."""
    factor = 2 ** max(len(cfg.model.ddconfig.ch_mult) - 1, 0)
    size = cfg.data.image_size
    if size % factor == 0:
        return []
    return [f"data.image_size {size} cannot be halved {factor.bit_length() - 1} times (len(model.ddconfig.ch_mult) - 1)"
            f" without a remainder: use a multiple of {factor}, e.g. {size - size % factor or factor}"]


# --- writing back --------------------------------------------------------------------------

def config_to_dict(cfg: Config) -> dict:
    """The config as a plain dict in RadioDiff's layout (model/data/trainer)."""
    d = dataclasses.asdict(cfg)
    d.pop("source", None)
    return d


def dump_config(cfg: Config) -> str:
    """The config as YAML text that ``load_config`` reads back to an equal Config."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None)


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write the config as YAML to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(cfg), encoding="utf-8")
    return path


def replace(cfg: Config, **overrides: Any) -> Config:
    """A copy of ``cfg`` with dotted overrides, e.g. ``replace(cfg, **{"trainer.lr": 1e-4})``."""
    new = copy.deepcopy(cfg)
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split(".")
        target = new
        for p in parents:
            target = getattr(target, p, None)
            if target is None or not dataclasses.is_dataclass(target):
                raise ConfigError(f"override '{dotted}': no section '{p}'")
        hints = typing.get_type_hints(type(target))
        if leaf not in hints:
            valid = ", ".join(f.name for f in dataclasses.fields(target))
            raise ConfigError(f"override '{dotted}': unknown key '{leaf}'. Valid keys: {valid}.")
        setattr(target, leaf, _coerce(value, hints[leaf], dotted))
    validate(new)
    return new


def mixed_precision(cfg: Config) -> str:
    """The mixed-precision mode: explicit ``mixed_precision``, else RadioDiff's amp/fp16 flags."""
    tr = cfg.trainer
    if tr.mixed_precision is not None:
        return tr.mixed_precision
    if tr.amp:
        return FP16 if tr.fp16 else BF16
    return FP32


BUILTIN_CONFIGS = ("demo", "radiodiff", "bench")


def builtin_config_path(name: str) -> Path:
    """Path of a config shipped with the package: demo (tiny CPU run), radiodiff, bench."""
    path = Path(__file__).parent / "configs" / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"No built-in config '{name}'. Built-in configs: {', '.join(BUILTIN_CONFIGS)}.")
    return path


def resolve_config(spec: str | Path | Config) -> Config:
    """A Config from a Config, a YAML path, or a built-in name (``demo``, ``radiodiff``, ``bench``)."""
    if isinstance(spec, Config):
        return spec
    path = builtin_config_path(str(spec)) if str(spec) in BUILTIN_CONFIGS else spec
    return load_config(path)
