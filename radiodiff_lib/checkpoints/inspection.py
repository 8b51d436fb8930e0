"""Checkpoint inspection (table of a results folder) and loading a model from any checkpoint."""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import config_from_dict, replace, resolve_config
from ..errors import CheckpointError
from ..model import build_loss, build_model
from ..safe_load import torch_load_safely
from ..vocabulary import RADIODIFF_CHECKPOINT, SET_ASIDE_FOLDER, SPLIT_RECORD, WORKBENCH_CHECKPOINT
from .ledger import set_aside_checkpoints
from .radiodiff import infer_ddconfig, is_radiodiff_checkpoint, load_radiodiff_weights
from .resume import load_any
from .workbench import (
    compute_checksum, is_workbench_checkpoint, list_checkpoints, load_model_state, parse_checkpoint_name,
)

COLUMNS = ["path", "milestone", "step", "written_at", "bytes", "format", "integrity", "resume",
           "protocol", "data_maps", "train_maps", "train_maps_hash", "note"]
UNKNOWN_PROTOCOL = "unknown"  # a checkpoint without a split record (written before them, or a foreign data set)


def split_columns(obj: dict, fmt: str) -> dict[str, Any]:
    """The inspect columns of a checkpoint's split record: protocol, maps in its data root, training maps, hash."""
    record = obj.get(SPLIT_RECORD) if fmt == WORKBENCH_CHECKPOINT else None
    if not isinstance(record, dict) or not record.get("protocol"):
        # A RadioDiff file records nothing; evaluation takes it to have trained on RadioDiff's own split.
        protocol = "radiodiff (assumed)" if fmt == RADIODIFF_CHECKPOINT else UNKNOWN_PROTOCOL
        return {"protocol": protocol, "data_maps": None, "train_maps": None, "train_maps_hash": None}
    return {"protocol": record["protocol"], "data_maps": record.get("root_maps"),
            "train_maps": record.get("train_maps"), "train_maps_hash": record.get("train_maps_hash")}


def _row(path: Path) -> dict[str, Any]:
    parsed = parse_checkpoint_name(path.name)
    row: dict[str, Any] = {
        "path": str(path), "milestone": parsed[0] if parsed else None, "step": None,
        "written_at": None, "bytes": path.stat().st_size, "format": "unknown",
        "integrity": "corrupt", "resume": "none", **split_columns({}, "unknown"), "note": "",
    }
    try:
        obj = torch_load_safely(path)
    except CheckpointError as exc:
        row["note"] = str(exc).split(": ", 1)[-1][:160]
        return row
    if is_workbench_checkpoint(obj):
        row["format"] = WORKBENCH_CHECKPOINT
        row.update(split_columns(obj, WORKBENCH_CHECKPOINT))
        row["step"] = obj.get("step")
        written = obj.get("written_at")
        row["written_at"] = _dt.datetime.fromtimestamp(written).isoformat(timespec="seconds") if written else None
        try:
            ok = obj.get("checksum") == compute_checksum(obj)
        except CheckpointError as exc:
            ok, row["note"] = False, str(exc)
        if ok:
            row["integrity"], row["resume"] = "ok", "exact"
        else:
            row["note"] = row["note"] or "checksum mismatch"
        return row
    if is_radiodiff_checkpoint(obj):
        row["format"], row["integrity"], row["resume"] = RADIODIFF_CHECKPOINT, "unverifiable", "weights-only"
        row.update(split_columns(obj, RADIODIFF_CHECKPOINT))
        row["step"] = int(obj["step"]) if obj.get("step") is not None else None
        row["written_at"] = _dt.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="seconds")
        row["note"] = "RadioDiff layout: no checksum, RNG or data state"
        return row
    row["note"] = "a torch file, but neither a workbench nor a RadioDiff checkpoint"
    return row


def inspect_checkpoints(path: str | Path) -> pd.DataFrame:
    """Table of the checkpoints in a folder (or one file): milestone, step, size, format, integrity, resume."""
    path = Path(path)
    if path.is_dir():
        files = list_checkpoints(path)
        # also show other *.pt files (e.g. a RadioDiff file renamed by the user) after ours
        files += sorted(p for p in path.glob("*.pt") if p not in files)
        aside = set_aside_checkpoints(path)
    elif path.is_file():
        files, aside = [path], []
    else:
        raise CheckpointError(f"{path}: no such file or folder. Pass a results folder or a checkpoint file.")
    rows = [_row(p) for p in files]
    for p in aside:  # after them: the checkpoints a resume from an earlier one moved out of 'latest''s way
        row = _row(p)
        row["note"] = ("set aside by a resume that started another line (resume it by path only); "
                       + row["note"]).rstrip("; ")
        rows.append(row)
    # object columns: milestone/step/written_at stay ints/str or None, so that --json writes nulls
    df = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    return df.astype({"bytes": "int64"}) if len(df) else df


def _shown_name(path: str) -> str:
    """A file's name, with its set-aside subfolder when it has one."""
    p = Path(path)
    return f"{SET_ASIDE_FOLDER}/{p.parent.name}/{p.name}" if p.parent.parent.name == SET_ASIDE_FOLDER else p.name


def inspect_table_text(df: pd.DataFrame) -> str:
    """The inspection table as aligned text (file names only, sizes in MB)."""
    if df.empty:
        return "no checkpoints found"
    show = df.copy()
    show["path"] = show["path"].map(_shown_name)
    show["MB"] = (show.pop("bytes") / 1e6).round(2)
    show["note"] = show["note"].map(lambda n: n if len(n) <= 70 else n[:67] + "...")
    show["train maps"] = [f"{t} of {d}" if t is not None and d is not None else None
                          for t, d in zip(show["train_maps"], show["data_maps"])]
    show["maps hash"] = show["train_maps_hash"].map(lambda h: h.split(":")[-1][:12] if isinstance(h, str) else None)
    show = show.map(lambda v: "-" if v is None else v)
    cols = ["path", "milestone", "step", "written_at", "MB", "format", "integrity", "resume", "protocol",
            "train maps", "maps hash", "note"]
    return show[cols].to_string(index=False, na_rep="-")


def load_model_from_checkpoint(path: str | Path, use_ema: bool = False, config: Any = None) -> tuple[Any, Any, Any, dict]:
    """(model, loss, config, info) from a workbench or RadioDiff checkpoint (EMA weights if asked)."""
    obj, fmt = load_any(path)
    return model_from_checkpoint(obj, fmt, path, use_ema=use_ema, config=config)


def model_from_checkpoint(obj: dict, fmt: str, path: str | Path, use_ema: bool = False,
                          config: Any = None) -> tuple[Any, Any, Any, dict]:
    """(model, loss, config, info) from a checkpoint ``load_any`` read from ``path``: a file read and verified once
    gives both its EMA and its raw weights. ``obj`` is only read (its tensors are copied into the model)."""
    path = Path(path)
    info: dict[str, Any] = {"path": str(path), "format": fmt, "step": obj.get("step"), "ema": use_ema,
                            SPLIT_RECORD: obj.get(SPLIT_RECORD) if fmt == WORKBENCH_CHECKPOINT else None}
    if fmt == WORKBENCH_CHECKPOINT:
        config = resolve_config(config) if config is not None else config_from_dict(obj["config"], source=f"{path} (config)")
    elif config is None:
        dd, embed_dim = infer_ddconfig(obj["model"])
        config = resolve_config("radiodiff")
        config.model.ddconfig, config.model.embed_dim = dd, embed_dim
        info["config_inferred"] = True
    else:
        config = resolve_config(config)
    # Loading for use needs no LPIPS (it is never stored in our checkpoints).
    if config.model.lossconfig.perceptual_weight > 0:
        config = replace(config, **{"model.lossconfig.perceptual_weight": 0.0})
        info["perceptual_disabled"] = True
    if info.get("config_inferred"):
        convs = [v for k, v in obj["model"].items()
                 if k.startswith("loss.discriminator.main.") and k.endswith(".weight") and v.dim() == 4]
        if convs:  # the discriminator's depth and input channels come from the file too
            config = replace(config, **{"model.lossconfig.disc_in_channels": int(convs[0].shape[1]),
                                        "model.lossconfig.disc_num_layers": len(convs) - 2})
    model, loss = build_model(config), build_loss(config)
    if fmt == WORKBENCH_CHECKPOINT:
        load_model_state(model, loss, obj["model"], where=str(path))
        if use_ema:
            model.load_state_dict(obj["ema"]["shadow"])
    else:
        report = load_radiodiff_weights(model, obj, loss=loss, use_ema=use_ema)
        info["load_report"] = report
    model.eval()
    return model, loss, config, info
