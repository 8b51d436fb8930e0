"""Evaluation of VAE checkpoints: per-map reconstruction metrics (NMSE, RMSE, SSIM, PSNR over all
and street pixels), latent statistics and the scale factor, the time per map; and the sweep of every
checkpoint of a run (``sweep``), with its cluster bootstrap over maps and the hand-off to the second stage."""
from .evaluate import EvalResult, Example, LatentStats, evaluate_checkpoint, reconstruct, to_unit
from .metrics import aggregate, aggregate_metrics, map_metrics, nmse, psnr, rmse, ssim, street_mask
from .sweep import gallery, sweep_checkpoints
from .sweep_result import SweepResult, read_sweep

__all__ = ["EvalResult", "Example", "LatentStats", "aggregate", "aggregate_metrics", "evaluate_checkpoint",
           "gallery", "map_metrics", "nmse", "psnr", "read_sweep", "reconstruct", "rmse", "ssim", "street_mask",
           "SweepResult", "sweep_checkpoints", "to_unit"]
