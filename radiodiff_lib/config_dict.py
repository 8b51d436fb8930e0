"""A config as a nested dict (one read from a log, or ours turned into a dict): dotted access, flat keys,
and the keys configs differ in, with one rule for when two values are the same.

A config from a log is another project's file: every look-up tolerates a missing level and a value of
any type (``cfg_float`` counts what is not a finite number as absent); nothing here raises.
Imports nothing of ours: every package may use it.
"""
from __future__ import annotations

import math
from typing import Any


def cfg_get(config: dict | None, dotted: str, default: Any = None) -> Any:
    """config["a"]["b"]... for "a.b...", or default when any level is missing (or the value is None)."""
    cur: Any = config
    for key in dotted.split("."):
        if not isinstance(cur, dict) or key not in cur:
            return default
        cur = cur[key]
    return default if cur is None else cur


def cfg_float(config: dict | None, dotted: str, default: float | None = None) -> float | None:
    """A finite numeric config value; YAML 1.1 leaves '5e-6' a string, so strings are converted too.
    A config from a log may hold anything: nan, inf or an integer no float holds count as absent."""
    v = cfg_get(config, dotted)
    if v is None or isinstance(v, bool):
        return default
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return default
    return x if math.isfinite(x) else default


def flatten_config(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested config dict as dotted keys: {"model.lossconfig.disc_weight": 0.5, ...}."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten_config(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def same_value(a: Any, b: Any) -> bool:
    """The one rule for two config values: equal with the same type, or equal as numbers (YAML 1.1 leaves
    '5e-6' a string; 1 and 1.0 are one setting); a bool is never a number (True is not 1)."""
    if a == b and type(a) is type(b):
        return True
    try:
        return not isinstance(a, bool) and not isinstance(b, bool) and float(a) == float(b)
    except (TypeError, ValueError):
        return False


_ABSENT = object()


def config_diff(configs: list[dict | None]) -> list[dict]:
    """The flattened keys whose values differ between configs (``same_value``): {key, values (None where
    absent), only_in (indices of the configs that have it, when not all do)}; in first-seen key order."""
    flat = [flatten_config(c or {}) for c in configs]
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    out = []
    for key in keys:
        values = [f.get(key, _ABSENT) for f in flat]
        present = [i for i, v in enumerate(values) if v is not _ABSENT]
        same = len(present) == len(values) and all(same_value(values[0], v) for v in values[1:])
        if not same:
            out.append({"key": key, "values": [None if v is _ABSENT else v for v in values],
                        "only_in": present if len(present) < len(values) else None})
    return out


def config_changes(old: dict | None, new: dict | None) -> list[tuple[str, Any, Any]]:
    """(dotted key, old value, new value) for every key whose value differs (``config_diff`` of the two), sorted
    by key; a missing key is None."""
    return sorted((d["key"], d["values"][0], d["values"][1]) for d in config_diff([old, new]))
