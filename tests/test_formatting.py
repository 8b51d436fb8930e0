"""The one JSON rule and the number formatters shared by every output."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiodiff_lib.formatting import duration, num, pct, to_jsonable


def test_json_encoding_of_inf_and_nan_is_strict_json():
    payload = to_jsonable({"a": math.inf, "b": -math.inf, "c": math.nan, "d": np.float32(0.5),
                           "e": np.arange(2), "f": [np.int64(3)]})
    assert payload == {"a": "inf", "b": "-inf", "c": None, "d": 0.5, "e": [0, 1], "f": [3]}
    json.dumps(payload, allow_nan=False)


@dataclass
class _Point:
    x: float
    when: pd.Timestamp


def test_dataclasses_timestamps_and_nat_become_json():
    payload = to_jsonable({"p": _Point(math.inf, pd.Timestamp("2025-03-02 09:14:05")), "t": pd.NaT,
                           "n": np.nan, "b": np.bool_(True)})
    assert payload == {"p": {"x": "inf", "when": "2025-03-02T09:14:05"}, "t": None, "n": None, "b": True}
    json.dumps(payload, allow_nan=False)


def test_number_and_duration_text():
    assert (num(None), num(math.nan), num(-math.inf), num(1234567.0)) == ("-", "nan", "-inf", "1.2346e+06")
    assert (pct(None), pct(0.5)) == ("-", "50.0%")
    assert [duration(s) for s in (None, 59, 600, 3 * 3600, 3 * 86400)] == ["unknown", "59 s", "10.0 min", "3.0 h",
                                                                            "3.0 days"]
