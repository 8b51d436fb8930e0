"""Builders of real ``logs.Run`` objects from constructed DataFrames, for the analysis, plot and report tests."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from radiodiff_lib.logs import Run, SkippedLine, resolve_total_steps

PIXELS = 320 * 320  # nll_loss is a sum over pixels, hence ~1e3-1e4 values


def skipped_line(file: str, line: int, reason: str, text: str = "") -> SkippedLine:
    """A line the reader skipped, as ``Run.skipped`` holds it."""
    return SkippedLine(file=file, line=line, reason=reason, text=text)


def config(disc_start: int = 50001, kl_weight: float = 1e-6, disc_weight: float = 0.5, lr: Any = 5e-6,
           total: int = 150000, grad_accum: int = 1) -> dict:
    """A RadioDiff-layout config dict."""
    return {"model": {"embed_dim": 3, "lossconfig": {"disc_start": disc_start, "kl_weight": kl_weight,
                                                      "disc_weight": disc_weight}},
            "trainer": {"lr": lr, "train_num_steps": total, "gradient_accumulate_every": grad_accum,
                        "log_freq": 100}}


def frame(steps: Any, columns: dict[str, Any], segment: int = 0, t0: str = "2025-03-02 09:00:00",
          seconds_per_step: float = 1.0, file: str | None = None) -> pd.DataFrame:
    """A Run.df-shaped frame: step, metrics, time, file, segment, line."""
    steps = np.asarray(steps, dtype=np.int64)
    df = pd.DataFrame({"step": steps})
    for k, v in columns.items():
        df[k] = np.broadcast_to(np.asarray(v, dtype=float), steps.shape).copy()
    df["time"] = pd.Timestamp(t0) + pd.to_timedelta((steps - steps[0]) * seconds_per_step, unit="s")
    df["file"] = file or f"seg{segment}.log"
    df["segment"] = segment
    df["line"] = np.arange(len(steps)) + 2
    return df


def segments_of(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The Run.segments table for a list of per-segment frames (as logged, before superseding)."""
    rows = []
    for f in frames:
        rows.append({"segment": int(f["segment"].iloc[0]), "file": f["file"].iloc[0],
                     "first_step": int(f["step"].min()), "last_step": int(f["step"].max()),
                     "start_time": f["time"].min(), "end_time": f["time"].max(), "n_rows": len(f),
                     "kind": "radiodiff-log"})
    return pd.DataFrame(rows)


def make_run(frames: list[pd.DataFrame] | pd.DataFrame, cfg: dict | None = None, skipped: list | None = None) -> Run:
    """Stitch per-segment frames like logs.read_run does: later segments win on re-logged steps."""
    frames = [frames] if isinstance(frames, pd.DataFrame) else frames
    allr = pd.concat(frames, ignore_index=True)
    latest_seg = allr.groupby("step")["segment"].transform("max")
    cur = allr[allr["segment"] == latest_seg].sort_values("step").reset_index(drop=True)
    sup = allr[allr["segment"] != latest_seg].reset_index(drop=True)
    total, total_src = resolve_total_steps(None, cfg, None)
    kw = dict(df=cur, superseded=sup, config=cfg, segments=segments_of(frames), skipped=list(skipped or []),
              sources=sorted(set(allr["file"])), total_steps=total, total_steps_source=total_src)
    return Run(**kw)


def broken_radiodiff_run(seed: int = 0, end: int = 80000) -> Run:
    """RadioDiff's classic broken run: gradient_accumulate_every 1 (no disc_loss ever), d_weight at 5000, g_loss ~ -0.4,
    kl_weight 1e-6, total loss negative after disc_start; values rounded to the log's 5 decimals."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, end + 1, 100)
    n = steps.size
    rec = 0.009 + 0.07 * np.exp(-steps / 15000) + rng.normal(0, 0.0004, n)
    kl = 61234.125 + rng.normal(0, 300, n)
    nll = rec * PIXELS
    fac = (steps >= 50001).astype(float)
    g = -0.4 + rng.normal(0, 0.01, n)
    dw = np.full(n, 5000.0)
    total = nll + 1e-6 * kl + dw * fac * g
    cols = {"train/total_loss": total, "train/logvar": 0.0, "train/kl_loss": kl, "train/nll_loss": nll,
            "train/rec_loss": rec, "train/d_weight": dw, "train/disc_factor": fac, "train/g_loss": g, "lr": 0.0}
    cols = {k: np.round(np.broadcast_to(np.asarray(v, float), steps.shape), 5) for k, v in cols.items()}
    return make_run(frame(steps, cols, seconds_per_step=0.5), config())


def healthy_run(seed: int = 1, end: int = 20000, disc_start: int = 10001) -> Run:
    """A run whose discriminator trains (disc_loss moves), d_weight free, lr logged, logvar learnt."""
    rng = np.random.default_rng(seed)
    steps = np.arange(0, end + 1, 100)
    n = steps.size
    rec = 0.012 + 0.05 * np.exp(-steps / 4000) + rng.normal(0, 0.0003, n)
    kl = 3000 + 20 * np.sqrt(steps) + rng.normal(0, 10, n)
    logvar = -1e-5 * steps / 100
    nll = rec * PIXELS / np.exp(logvar) + logvar * PIXELS
    fac = (steps >= disc_start).astype(float)
    g = 0.1 + rng.normal(0, 0.05, n)
    dw = 0.3 + rng.uniform(0, 0.2, n)
    total = nll + 1e-6 * kl + dw * fac * g
    disc = np.where(fac > 0, 0.9 + rng.normal(0, 0.05, n), 0.0)
    cols = {"train/total_loss": total, "train/logvar": logvar, "train/kl_loss": kl, "train/nll_loss": nll,
            "train/rec_loss": rec, "train/d_weight": dw, "train/disc_factor": fac, "train/g_loss": g,
            "train/disc_loss": disc, "train/logits_real": 0.2 * fac + rng.normal(0, 0.02, n),
            "train/logits_fake": -0.2 * fac + rng.normal(0, 0.02, n), "lr": 5e-6 * (1 - steps / 40000)}
    return make_run(frame(steps, cols, seconds_per_step=0.5),
                    config(disc_start=disc_start, total=40000, grad_accum=2))


def two_segment_run(jump: float = 0.0, seed: int = 0) -> Run:
    """Two launches overlapping on steps 3500-4000 (the second shifted by ``jump``), GAN from 6001."""
    rng = np.random.default_rng(seed)
    s0 = np.arange(0, 4001, 100)
    s1 = np.arange(3500, 8001, 100)
    a = frame(s0, {"train/rec_loss": 1.0 + rng.normal(0, 0.01, s0.size), "train/disc_factor": 0.0},
              segment=0, t0="2025-03-02 09:00:00", seconds_per_step=2.0)
    b = frame(s1, {"train/rec_loss": 1.0 + jump + rng.normal(0, 0.01, s1.size),
                   "train/disc_factor": (s1 >= 6001).astype(float)},
              segment=1, t0="2025-03-03 09:00:00", seconds_per_step=2.0)
    return make_run([a, b], config(disc_start=6001, total=10000))
