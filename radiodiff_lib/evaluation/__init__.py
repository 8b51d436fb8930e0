"""Evaluation of a VAE checkpoint: per-item reconstruction metrics (NMSE, RMSE, SSIM, PSNR over all
and street pixels), the same averaged per map, latent statistics and the scale factor, the time per
map, and which evaluated maps the checkpoint trained on."""
from .evaluate import LatentStats, evaluate_checkpoint, reconstruct, to_unit
from .metrics import (
    aggregate, aggregate_metrics, by_map_table, map_means, map_metrics, mean_over_maps, metrics_over_maps, nmse, psnr,
    rmse, ssim, street_mask,
)
from .result import EvalResult, Example
from .scope import EvalScope, eval_protocol, eval_scope

__all__ = ["EvalResult", "EvalScope", "Example", "LatentStats", "aggregate", "aggregate_metrics", "by_map_table",
           "eval_protocol", "eval_scope", "evaluate_checkpoint", "map_means", "map_metrics", "mean_over_maps",
           "metrics_over_maps", "nmse", "psnr", "reconstruct", "rmse", "ssim", "street_mask", "to_unit"]
