"""Evaluation of VAE checkpoints: per-item reconstruction metrics (NMSE, RMSE, SSIM, PSNR over all
and street pixels), the same averaged per map, latent statistics and the scale factor, the time per
map, and which evaluated maps the checkpoint trained on; and the sweep of every checkpoint of a run
(``sweep_checkpoints``), with its cluster bootstrap over maps and the hand-off to the second stage."""
from .evaluate import LatentStats, evaluate_checkpoint, reconstruct, to_unit
from .metrics import (
    aggregate, aggregate_metrics, by_map_table, map_means, map_metrics, mean_over_maps, metrics_over_maps, nmse, psnr,
    rmse, ssim, street_mask,
)
from .result import EvalResult, Example
from .scope import EvalScope, eval_protocol, eval_scope
from .sweep import candidate_model, gallery, sweep_checkpoints
from .sweep_result import SweepResult, read_sweep

__all__ = ["EvalResult", "EvalScope", "Example", "LatentStats", "SweepResult", "aggregate", "aggregate_metrics",
           "by_map_table", "candidate_model", "eval_protocol", "eval_scope", "evaluate_checkpoint", "gallery", "map_means", "map_metrics",
           "mean_over_maps", "metrics_over_maps", "nmse", "psnr", "read_sweep", "reconstruct", "rmse", "ssim",
           "street_mask", "sweep_checkpoints", "to_unit"]
