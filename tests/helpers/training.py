"""Comparing what two training launches wrote: checkpoints bitwise, and the current metric rows."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from radiodiff_lib import checkpoints as ckpt
from radiodiff_lib.vocabulary import METRICS_FILE, RECORD_REWIND, RECORD_STEP


def assert_checkpoints_equal(a: Path, b: Path, ignore: tuple = ()) -> int:
    """Every tensor bitwise equal and every value equal, except bookkeeping; returns the tensor count."""
    diffs, tensors = ckpt.checkpoint_differences(a, b, ignore=ignore)
    assert diffs == [], f"{a.name} and {b.name} differ at {diffs[:10]}"
    return tensors


def current_steps(folder: Path) -> dict[int, dict]:
    """Step records of metrics.jsonl that are current (a later launch's row replaces an earlier one)."""
    rows = {}
    for line in (folder / METRICS_FILE).read_text().splitlines():
        rec = json.loads(line)
        if rec["kind"] == RECORD_REWIND:
            rows = {s: r for s, r in rows.items() if s < rec["to_step"]}
        elif rec["kind"] == RECORD_STEP:
            rows[rec["step"]] = rec
    return rows


def metric_values(rows: dict[int, dict]) -> dict[int, dict]:
    """The logged values of each step record, without its wall time and launch number."""
    return {s: {k: v for k, v in r.items() if k not in ("time", "launch")} for s, r in rows.items()}


class PoisonedData(torch.utils.data.Dataset):
    """A data set whose listed items are all NaN: the steps that draw them go non-finite."""

    def __init__(self, base, bad_items):
        self.base, self.bad_items = base, set(bad_items)

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        item = self.base[i]
        if i in self.bad_items:
            item = {**item, "image": torch.full_like(item["image"], float("nan"))}
        return item


def first_item_of_step(config, num_items: int, step: int) -> int:
    """The data-set index of the first sample of optimizer ``step`` (one process, no accumulation)."""
    from itertools import islice

    from radiodiff_lib.training.state import ResumableBatchSampler

    b = config.data.batch_size
    stream = ResumableBatchSampler(num_items, b, config.trainer.seed).stream(0)
    return list(islice(stream, step * b + 1))[step * b]
