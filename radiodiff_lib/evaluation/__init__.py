"""Evaluation of a VAE checkpoint: per-map reconstruction metrics (NMSE, RMSE, SSIM, PSNR over all
and street pixels), latent statistics and the scale factor, and the time per map."""
from .evaluate import EvalResult, Example, LatentStats, evaluate_checkpoint, reconstruct, to_unit
from .metrics import aggregate, aggregate_metrics, map_metrics, nmse, psnr, rmse, ssim, street_mask

__all__ = ["EvalResult", "Example", "LatentStats", "aggregate", "aggregate_metrics", "evaluate_checkpoint",
           "map_metrics", "nmse", "psnr", "reconstruct", "rmse", "ssim", "street_mask", "to_unit"]
