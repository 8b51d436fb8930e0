"""A launch's records: config.yaml, metrics.jsonl (machine-readable), train.log (RadioDiff's shape),
TensorBoard, tqdm.

Only the main process creates a ``RunLogger``; the other ranks get a ``NullLogger``.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..vocabulary import (
    CONFIG_FILE, DISC_LOSS, LOG_FORMAT, LR, METRICS_FILE, REC_LOSS, RECORD_LAUNCH, RECORD_REWIND, RECORD_STEP, STEP_MARK, TEXT_LOG,
    TOTAL_LOSS, tensorboard_tag,
)


def to_float(value: Any) -> float:
    """A plain float from a float, int or 0-dim tensor."""
    return float(value.item()) if hasattr(value, "item") else float(value)


def format_value(value: float) -> str:
    """Eight significant digits, so that 5e-6 stays visible (RadioDiff prints 0.00000)."""
    return f"{value:.8g}"


def step_line(step: int, total: int, values: dict[str, float]) -> str:
    """One ``[Train Step] S/T: key: value, ...`` line with RadioDiff's trailing comma and space."""
    return f"{STEP_MARK}{step}/{total}: " + "".join(f"{k}: {format_value(v)}, " for k, v in values.items())


@dataclass
class MetricsScan:
    """What an existing metrics.jsonl says about the launches before this one."""

    launches: int = 0  # launch records, i.e. the 0-based index of the next launch
    last_step: int | None = None  # the highest logged step
    partial: bool = False  # ends without a newline (a killed launch)
    last_config: dict | None = None  # the config the last launch recorded (and wrote to config.yaml)


def scan_metrics(folder: Path) -> MetricsScan:
    """Read the metrics.jsonl of a results folder (an empty scan when it has none)."""
    path = Path(folder) / METRICS_FILE
    scan = MetricsScan()
    if not path.is_file():
        return scan
    data = path.read_bytes()
    for raw in data.splitlines():
        try:
            rec = json.loads(raw)
        except ValueError:
            continue  # a line cut short by a kill; the log reader counts it
        if rec.get("kind") == RECORD_LAUNCH:
            scan.launches += 1
            scan.last_config = rec.get("config")
        elif rec.get("kind") == RECORD_STEP:
            scan.last_step = rec["step"] if scan.last_step is None else max(scan.last_step, rec["step"])
    scan.partial = bool(data) and not data.endswith(b"\n")
    return scan


def edited_config_name(launch: int) -> str:
    """The name config.yaml is kept under when the user edited it and launch ``launch`` took keys from it."""
    return f"config-edited-launch-{launch}.yaml"


def keep_previous_config(folder: Path, new_text: str, launch: int, edited_name: str | None = None) -> Path | None:
    """Before config.yaml is overwritten with another config, keep it: under ``edited_name`` when the user edited
    it (a resume took keys from it), else as the previous launch's config-launch-<n-1>.yaml. Returns the kept file."""
    current = folder / CONFIG_FILE
    if not current.is_file() or (edited_name is None and current.read_text(encoding="utf-8") == new_text):
        return None
    kept = folder / (edited_name or f"config-launch-{max(launch - 1, 0)}.yaml")
    current.replace(kept)
    return kept


class NullLogger:
    """The logger of non-main ranks: does nothing."""

    launch = 0

    def log_step(self, *args: Any, **kwargs: Any) -> None:  # noqa: D401
        pass

    def note(self, message: str) -> None:
        pass

    def progress(self, step: int) -> None:
        pass

    def metrics_offset(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def __enter__(self) -> "NullLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class RunLogger:
    """The records of one launch in its results folder: config.yaml (the one before it kept), the launch record,
    step records, text lines, TensorBoard scalars and the progress bar.

    ``before`` is what metrics.jsonl says about the launches before this one, when the caller has read it
    already (a resume reads it to name the edited config.yaml it keeps); it is read here otherwise.
    """

    def __init__(self, folder: Path, *, config_dict: dict, config_text: str, start_step: int, total_steps: int,
                 target_step: int, resumed_from: str | None, notes: Iterable[str] = (),
                 edited_config_name: str | None = None, before: MetricsScan | None = None,
                 callbacks: Iterable[Callable[[dict], None]] = (), progress: bool = True):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.total_steps, self.callbacks = total_steps, list(callbacks)
        self.metrics_path = self.folder / METRICS_FILE
        before = scan_metrics(self.folder) if before is None else before
        self.launch = before.launches  # 0-based launch index, as the log reader's segments
        notes = list(notes)
        keep_previous_config(self.folder, config_text, self.launch, edited_config_name)
        self._metrics = open(self.metrics_path, "a", encoding="utf-8")
        if before.partial:
            self._metrics.write("\n")  # end a line a killed launch left unfinished
        self._text = logging.getLogger(f"radiodiff.train.{id(self)}")
        self._text.propagate = False
        self._text.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.folder / TEXT_LOG, mode="a", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self._text.addHandler(self._handler)
        self._tb = self._open_tensorboard()
        self._write({"kind": RECORD_LAUNCH, "launch": self.launch, "time": time.time(), "start_step": start_step,
                     "resumed_from": resumed_from, "config": config_dict, "notes": notes})
        self._text.info(repr(config_dict))
        for line in notes:
            self._text.info(f"[Note] {line}")
        if before.last_step is not None and before.last_step >= start_step:
            # rows of earlier launches at steps >= start_step are superseded, not deleted
            self._write({"kind": RECORD_REWIND, "launch": self.launch, "time": time.time(), "to_step": start_step})
            self._text.info(f"[Rewind] resuming at step {start_step}; earlier lines for steps >= {start_step} are superseded")
        self._metrics.flush()
        (self.folder / CONFIG_FILE).write_text(config_text, encoding="utf-8")
        self._bar = None
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=target_step, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        self._bar_step = start_step

    def _open_tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception:  # tensorboard not installed: the metrics file has everything
            return None
        return SummaryWriter(log_dir=str(self.folder))

    def _write(self, record: dict) -> None:
        self._metrics.write(json.dumps(record) + "\n")

    def note(self, message: str) -> None:
        """A free-text line in train.log (warnings, interruptions, checkpoints)."""
        self._text.info(message)

    def log_step(self, step: int, phase: str, lr: float, gen: dict[str, Any], disc: dict[str, Any] | None) -> dict:
        """Record one log step everywhere; return the metrics record (also given to callbacks)."""
        gen_values = {k: to_float(v) for k, v in gen.items()}
        disc_values = {k: to_float(v) for k, v in (disc or {}).items()}
        record = {"kind": RECORD_STEP, "launch": self.launch, "time": time.time(), "step": step, "phase": phase, LR: lr}
        record.update(gen_values)
        record.update(disc_values)
        self._write(record)
        self._metrics.flush()
        self._text.info(step_line(step, self.total_steps, {**gen_values, LR: lr}))
        if disc is not None:
            self._text.info(step_line(step, self.total_steps, {**disc_values, LR: lr}))
        if self._tb is not None:
            for key, value in {**gen_values, **disc_values, LR: lr}.items():
                self._tb.add_scalar(tensorboard_tag(key), value, step)
        if self._bar is not None:
            shown = {k.split("/")[-1]: f"{v:.4g}" for k, v in record.items()
                     if k in (TOTAL_LOSS, REC_LOSS, DISC_LOSS)}
            self._bar.set_postfix(shown, refresh=False)
        for cb in self.callbacks:
            cb(dict(record))
        return record

    def progress(self, step: int) -> None:
        """Advance the progress bar to ``step`` completed steps."""
        if self._bar is not None and step > self._bar_step:
            self._bar.update(step - self._bar_step)
            self._bar_step = step

    def metrics_offset(self) -> int:
        """Bytes of metrics.jsonl written so far (stored in checkpoints as bookkeeping)."""
        self._metrics.flush()
        return self._metrics.tell()

    def __enter__(self) -> "RunLogger":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Flush and close every output."""
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._metrics.close()
        self._text.removeHandler(self._handler)
        self._handler.close()
