"""An EvalResult built without a checkpoint, for the result, JSON and figure tests."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from radiodiff_lib.evaluation import evaluate as E
from radiodiff_lib.evaluation import metrics as M


def fake_eval_result(n=6, size=24) -> E.EvalResult:
    """A result of ``n`` random maps (map 0 reconstructed exactly: PSNR inf), three examples, latent statistics."""
    rng = np.random.default_rng(0)
    targets = torch.from_numpy(rng.random((n, size, size)))
    buildings = torch.zeros(n, size, size)
    buildings[:, 4:10, 6:14] = 1
    preds = (targets + torch.from_numpy(rng.normal(0, 0.05, (n, size, size)))).clamp(0, 1)
    preds[0] = targets[0]  # a perfect map: PSNR inf on both pixel sets
    rows = {"index": list(range(n)), "name": [f"m{i}" for i in range(n)]}
    for suffix, mask in (("", None), ("_street", M.street_mask(buildings))):
        for k, v in M.map_metrics(preds, targets, mask).items():
            rows[k + suffix] = v
    per_map = pd.DataFrame(rows)
    examples = [E.Example(label, i, f"m{i}", targets[i].numpy(), preds[i].numpy(), buildings[i].numpy(),
                          float(per_map.nmse[i]), float(per_map.nmse_street[i]))
                for label, i in zip(E.EXAMPLE_LABELS, (0, 2, 5))]
    stats = E.LatentStats()
    stats.update(torch.ones(2, 3, 2, 2) + torch.arange(8.0).reshape(2, 1, 2, 2))
    return E.EvalResult(per_map, M.aggregate_metrics(per_map), M.aggregate_metrics(per_map, "_street"),
                        stats.result(), 0.01, n, "fake.pt", examples, image_size=(size, size))
