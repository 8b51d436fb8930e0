"""Which training stage a run belongs to: RadioDiff's first stage (the VAE) or its second (the LDM).

A second-stage run (``train_cond_ldm.py``) logs ``loss_simple`` / ``loss_vlb``, and its config nests
``model.first_stage`` (the VAE it trains on) and ``model.unet``; anything else is a first-stage run.
Its TensorBoard tag ``total_loss`` names the text log's ``total_loss``, not the VAE's
``train/total_loss`` that the event parser maps it to; ``event_renames`` undoes that.
"""
from __future__ import annotations

from typing import Iterable

from ..vocabulary import (
    LDM_METRICS, LDM_TOTAL_LOSS, LOG_METRICS, LOSS_SIMPLE, LOSS_VLB, STAGE_LDM, STAGE_VAE, TOTAL_LOSS,
)


def detect_stage(metric_names: Iterable[str], configs: Iterable[dict | None]) -> str:
    """"ldm" when the metrics or a config say second stage, else "vae"."""
    names = set(metric_names)
    if names & {LOSS_SIMPLE, LOSS_VLB}:
        return STAGE_LDM
    for cfg in configs:
        model = cfg.get("model") if isinstance(cfg, dict) else None
        if isinstance(model, dict) and ("first_stage" in model or "unet" in model):
            return STAGE_LDM
    return STAGE_VAE


def event_renames(stage: str) -> dict[str, str]:
    """Column renames for rows read from TensorBoard events of a run of this stage."""
    return {TOTAL_LOSS: LDM_TOTAL_LOSS} if stage == STAGE_LDM else {}


def metric_order(stage: str) -> tuple[str, ...]:
    """The column order of a read run of this stage."""
    return LDM_METRICS if stage == STAGE_LDM else LOG_METRICS
