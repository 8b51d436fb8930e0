"""Every rule parameter of the analysis (``Thresholds``): its default, its range, checked when the thresholds
are made.

A value out of its range would not fail: it would quietly give nonsense (``jump_sigma -1`` calls
every resume a jump), so it is refused with an AnalysisError saying what the threshold may be.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import AnalysisError

OPTIONAL = ("disc_weight", "kl_weight")  # None: the config's value
# What each threshold may be: (whole number, lowest, highest, in words).
# A bound in a list is exclusive: jump_sigma -1 would call every resume a jump, alpha 0 no slope significant.
THRESHOLD_RANGES: dict[str, tuple[bool, Any, Any, str]] = {
    "window": (True, 3, None, "at least 3 entries (a trend needs 3 points)"),
    "alpha": (False, [0.0], [1.0], "a probability between 0 and 1 (exclusive)"),
    "min_points": (True, 1, None, "at least 1"),
    "unstable_cv": (False, [0.0], None, "above 0"),
    "flat_rel_change": (False, 0.0, None, "0 or more"),
    "continuity_window": (True, 1, None, "at least 1 entry"),
    "continuity_after": (True, 1, None, "at least 1 entry"),
    "jump_sigma": (False, [0.0], None, "above 0 noise units"),
    "jump_min_rel": (False, 0.0, None, "0 or more"),
    "saturated_fraction": (False, [0.0], 1.0, "a fraction in (0, 1]"),
    "saturation_rtol": (False, 0.0, None, "0 or more"),
    "disc_still_tol": (False, 0.0, None, "0 or more"),
    "logvar_still_tol": (False, 0.0, None, "0 or more"),
    "dominate_fraction": (False, [0.0], 1.0, "a fraction in (0, 1]"),
    "dominate_entries_fraction": (False, [0.0], 1.0, "a fraction in (0, 1]"),
    "spike_k": (False, [0.0], None, "above 0 robust sigmas"),
    "spike_half_window": (True, 1, None, "at least 1 entry"),
    "rec_target": (False, [0.0], None, "above 0"),
    "plateau_fraction": (False, [0.0], 0.5, "a fraction in (0, 0.5] (the span and the one before it)"),
    "plateau_rel_change": (False, 0.0, None, "0 or more"),
    "level_n": (True, 1, None, "at least 1 entry"),
    "lr_decayed_fraction": (False, [0.0], [1.0], "a fraction between 0 and 1 (exclusive)"),
    "disc_weight": (False, 0.0, None, "0 or more (or None: the config's)"),
    "kl_weight": (False, 0.0, None, "0 or more (or None: the config's)"),
}


def checked_threshold(name: str, value: Any) -> Any:
    """``value`` as an int/float within the range of threshold ``name``, else an AnalysisError saying
    what it may be."""
    whole, low, high, what = THRESHOLD_RANGES[name]
    if value is None and name in OPTIONAL:
        return None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        x = float(value)
        ok = math.isfinite(x) and (not whole or x.is_integer())
        for bound, above in ((low, True), (high, False)):
            if ok and bound is not None:
                b, strict = (bound[0], True) if isinstance(bound, list) else (bound, False)
                ok = (x > b if strict else x >= b) if above else (x < b if strict else x <= b)
    if not ok:
        raise AnalysisError(f"analysis threshold {name} must be {'a whole number, ' if whole else ''}{what}; "
                            f"got {value!r}")
    return int(value) if whole else float(value)


@dataclass
class Thresholds:
    """Every rule parameter of the analysis, with its default (pass any as a keyword to analyze())."""
    window: int = 50  # "last window": this many latest logged entries of a metric
    alpha: float = 0.05  # slope significance level (two-sided linregress t-test)
    min_points: int = 5  # fewer finite values in the window -> "insufficient data"
    unstable_cv: float = 0.5  # point-to-point noise above this x median |value| -> "unstable"
    flat_rel_change: float = 0.01  # fitted change over the window below this x |mean| -> "flat"
    continuity_window: int = 20  # entries before a resume whose extrapolation the entries after are compared with
    continuity_after: int = 5  # first entries after a resume compared with that extrapolation
    jump_sigma: float = 5.0  # |shift| above this many noise sigmas of the window before -> "jump" ...
    jump_min_rel: float = 0.01  # ... and above this fraction of the level before (ignores print-rounding hairs)
    saturated_fraction: float = 0.5  # share of GAN-phase d_weight entries at the clamp -> saturated
    saturation_rtol: float = 1e-6  # relative tolerance of "equal to the clamp 1e4 * disc_weight"
    disc_still_tol: float = 1e-6  # disc_loss peak-to-peak at or below this in the GAN phase -> "never moves"
    logvar_still_tol: float = 1e-6  # logvar peak-to-peak at or below this -> frozen
    dominate_fraction: float = 0.5  # |gan term| share of |nll|+|kl term|+|gan term| above this -> dominated entry
    dominate_entries_fraction: float = 0.5  # share of GAN-phase entries dominated -> diagnostic
    spike_k: float = 10.0  # |value - rolling median| above this many robust sigmas -> spike
    spike_half_window: int = 5  # rolling median over 2*this+1 entries
    rec_target: float = 0.02  # rec_loss target for the last-window mean
    plateau_fraction: float = 0.2  # second stage: the last this fraction of the logged steps ...
    plateau_rel_change: float = 0.01  # ... whose median moved less than this fraction from the span before
    level_n: int = 10  # start and end levels: medians of the first and last this many entries
    lr_decayed_fraction: float = 0.1  # LR below this x its initial value -> a flat loss says little
    disc_weight: float | None = None  # override the config's lossconfig.disc_weight
    kl_weight: float | None = None  # override the config's lossconfig.kl_weight

    def __post_init__(self) -> None:
        for name in THRESHOLD_RANGES:  # an impossible value is refused here, not met later as nonsense
            setattr(self, name, checked_threshold(name, getattr(self, name)))

    @classmethod
    def from_kwargs(cls, **kw: Any) -> "Thresholds":
        """Build from keyword arguments, refusing unknown names with the list of valid ones."""
        valid = set(cls.__dataclass_fields__)
        bad = sorted(set(kw) - valid)
        if bad:
            raise AnalysisError(f"unknown analysis threshold(s) {bad}; valid names: {sorted(valid)}")
        return cls(**kw)

