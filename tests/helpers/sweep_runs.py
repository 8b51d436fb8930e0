"""A first-stage run whose checkpoints' quality is known: what the sweep's verdict is checked against.

A tiny VAE is trained by the trainer; its last checkpoint is the reference. Beside it:
- the same weights written as an earlier step (a tie: indistinguishable, and the earliest of them);
- the weights perturbed by Gaussian noise of a known size relative to each tensor's spread (worse,
  the more noise, the worse);
- a corrupt file (cut short), which the sweep must list and skip.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import torch

from radiodiff_lib import checkpoints as ckpt
from tests.helpers.configs import make_tiny_config

WEIGHT_PREFIXES = ("encoder.", "decoder.", "quant_conv.", "post_quant_conv.")


def tiny_sweep_config(**overrides):
    """The tiny config at 32 x 32 with enough synthetic maps for 20 validation and 20 test maps."""
    base = {"data.num_maps": 200, "trainer.lr": 1e-3, "trainer.train_num_steps": 24,
            "trainer.save_and_sample_every": 12, "model.lossconfig.disc_start": 1000, "trainer.ema_decay": 0.5,
            "trainer.ema_update_every": 1}
    base.update(overrides)
    return make_tiny_config(**base)


def train_base(folder: Path, steps: int = 24, **overrides) -> Path:
    """Train the tiny VAE ``steps`` steps into ``folder``; the last checkpoint's path."""
    import warnings

    from radiodiff_lib.training import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # disc_start beyond the run: the VAE alone, on purpose
        result = train(tiny_sweep_config(**overrides), max_steps=steps, results_folder=folder, progress=False)
    return result.last_checkpoint


def perturbed(obj: dict, sigma: float, seed: int) -> dict:
    """A copy of a workbench checkpoint with every VAE weight tensor t replaced by t + sigma * std(t) * N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    out = dict(obj)

    def noisy(state: dict) -> dict:
        new = {}
        for k, v in state.items():
            if k.startswith(WEIGHT_PREFIXES) and v.is_floating_point() and v.numel() > 1:
                v = v + sigma * v.std() * torch.randn(v.shape, generator=g)
            new[k] = v
        return new

    out["model"] = noisy(obj["model"])
    out["ema"] = dict(obj["ema"], shadow=noisy(obj["ema"]["shadow"]))
    return out


def write_as(obj: dict, path: Path, step: int) -> Path:
    """Save ``obj`` (a loaded workbench checkpoint) as ``path`` at ``step``, with a fresh checksum."""
    state = {k: v for k, v in obj.items() if k != "checksum"}
    state["step"] = step
    return ckpt.save_checkpoint(path, state)


def known_quality_run(folder: Path, base: Path, sigmas: tuple[float, ...] = (0.05, 0.3)) -> dict:
    """A run folder of checkpoints of known order around the trained ``base`` checkpoint.

    model-1.pt: base's weights at step 12 (tie with base, the earliest); model-2.pt: base (step 24);
    model-3.pt, model-4.pt, ...: base + noise of each sigma (steps 36, 48, ...); then a corrupt file.
    Returns {"tie": path, "base": path, "worse": [paths, worst last], "corrupt": path}.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.yaml", "metrics.jsonl", "train.log"):
        if (base.parent / name).is_file():
            shutil.copy2(base.parent / name, folder / name)
    obj = ckpt.load_checkpoint(base)
    tie = write_as(obj, folder / "model-1.pt", 12)
    main = write_as(obj, folder / "model-2.pt", 24)
    worse = [write_as(perturbed(obj, s, seed=k), folder / f"model-{3 + k}.pt", 36 + 12 * k)
             for k, s in enumerate(sigmas)]
    corrupt = folder / f"model-{3 + len(sigmas)}.pt"
    data = main.read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    return {"tie": tie, "base": main, "worse": worse, "corrupt": corrupt}
