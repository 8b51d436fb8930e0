"""The range of every analysis threshold (``stats.Thresholds``), checked when the thresholds are made.

A value out of its range would not fail: it would quietly give nonsense (``jump_sigma -1`` calls
every resume a jump), so it is refused with an AnalysisError saying what the threshold may be.
"""
from __future__ import annotations

import math
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
