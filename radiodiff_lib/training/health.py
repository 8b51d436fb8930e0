"""Non-finite checks without a host round trip per step.

Every step leaves one boolean vector on the device (which logged term, or which gradient norm,
was NaN or infinite); the optimizers skip a bad step on the device (``engine.py``). The trainer
reads the vectors back at log points, before each checkpoint and at the end of a launch (one
device-to-host copy for all of them) and names each bad step and the first bad term exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import TrainingError
from ..vocabulary import DISCRIMINATOR_METRICS, GENERATOR_METRICS

N_GENERATOR = len(GENERATOR_METRICS)
LOGGED_TERMS = GENERATOR_METRICS + DISCRIMINATOR_METRICS
AE_GRADIENT, DISC_GRADIENT = "gradient norm of the autoencoder", "gradient norm of the discriminator"
TERMS = LOGGED_TERMS + (AE_GRADIENT, DISC_GRADIENT)


def logs_vector(logs: dict[str, torch.Tensor], names: tuple[str, ...]) -> torch.Tensor:
    """The values of ``names`` in ``logs`` as one float32 vector on their device (0 where ``logs`` lacks one)."""
    ref = next(iter(logs.values()))
    zero = torch.zeros((), dtype=torch.float32, device=ref.device)
    return torch.stack([logs[n].detach().float().reshape(()) if n in logs else zero for n in names])


@dataclass(frozen=True)
class BadStep:
    """A step with a non-finite term: the first such term (``TERMS`` order) and what was not applied."""

    step: int
    term: str
    skipped: str


def _skipped(row: list[bool]) -> str:
    if any(row[:N_GENERATOR]):
        return "step (no parameter update)"
    parts = []
    if row[TERMS.index(AE_GRADIENT)]:
        parts.append("autoencoder update")
    if any(row[N_GENERATOR:len(LOGGED_TERMS)]) or row[TERMS.index(DISC_GRADIENT)]:
        parts.append("discriminator update")
    return " and ".join(parts)


class NonFiniteWatch:
    """Collects the per-step flag vectors on the device; ``blocked`` is the device flag that makes the
    optimizers skip every step after a bad one (``sticky``: on_nonfinite stop, nothing applied past it)."""

    def __init__(self, device: torch.device, sticky: bool, max_pending: int = 256):
        self.sticky, self.max_pending = sticky, max_pending
        self.blocked = torch.zeros((), dtype=torch.bool, device=device)
        self._pending: list[tuple[int, torch.Tensor]] = []

    def record(self, step: int, flags: torch.Tensor) -> None:
        """Keep ``flags`` (bool [len(TERMS)]) of ``step`` for the next read-back."""
        self._pending.append((step, flags))
        if self.sticky:
            self.blocked = self.blocked | flags.any()

    @property
    def full(self) -> bool:
        """True when enough steps wait to be read back (bounds the device memory they hold)."""
        return len(self._pending) >= self.max_pending

    def take(self) -> list[BadStep]:
        """The bad steps recorded since the last call, oldest first (one device-to-host copy)."""
        if not self._pending:
            return []
        steps = [s for s, _ in self._pending]
        rows = torch.stack([f for _, f in self._pending]).cpu().tolist()
        self._pending = []
        return [BadStep(step, TERMS[row.index(True)], _skipped(row)) for step, row in zip(steps, rows) if any(row)]

    def report(self, logger: Any, last_checkpoint: Path | None) -> None:
        """Read back the flags and name each bad step in the log; with ``sticky`` (on_nonfinite stop) the first
        one ends training with a TrainingError that names ``last_checkpoint`` (this launch's newest)."""
        for bad in self.take():
            if self.sticky:
                msg = (f"non-finite {bad.term} at step {bad.step}; training stopped (no parameter update from that "
                       f"step on). The last good checkpoint ({last_checkpoint or 'none written by this launch'}) is "
                       "untouched. Lower trainer.lr, check the data, or set trainer.on_nonfinite: skip.")
                logger.note(f"[Error] {msg}")
                raise TrainingError(msg)
            logger.note(f"[Skip] non-finite {bad.term} at step {bad.step}: {bad.skipped} skipped")
