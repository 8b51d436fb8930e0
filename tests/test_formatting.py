"""The one JSON rule, the number formatters and the terminal-text rule shared by every output."""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from radiodiff_lib.formatting import PrintableWriter, duration, num, pct, printable, to_jsonable


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


# What a hostile name can carry: a screen clear, an OSC 52 clipboard write, a title change, a CSI
# introduced by the one-byte C1 code, a carriage return that hides what came before, a bidi override.
CLEAR, CLIPBOARD, TITLE, CSI_C1 = "\x1b[2J\x1b[H", "\x1b]52;c;ZWNobyBwd25lZA==\x07", "\x1b]0;owned\x1b\\", "\x9b2J"


def test_printable_writes_out_every_control_and_keeps_the_layout():
    shown = printable(f"a{CLEAR}b{CLIPBOARD}c{TITLE}d{CSI_C1}e\rf\u202eg\x00h\x7fi\tj\nk")
    assert shown == ("a\\x1b[2J\\x1b[Hb\\x1b]52;c;ZWNobyBwd25lZA==\\x07c\\x1b]0;owned\\x1b\\d\\x9b2Je\\x0df"
                     "\\u202eg\\x00h\\x7fi\tj\nk")
    assert all(ch in "\t\n" or ch.isprintable() for ch in shown)
    assert printable("a\nb", lines=False) == "a\\x0ab"
    assert printable("éß ✓ 東京") == "éß ✓ 東京"  # printable text is left alone


def test_printable_writer_escapes_what_it_writes_but_lets_a_progress_bar_redraw():
    sink = io.StringIO()
    out = PrintableWriter(sink)
    assert out.write(f"run {CLIPBOARD}\n") == len(f"run {CLIPBOARD}\n")
    out.write("\rtrain:  50%|#####     | 5/10")
    out.writelines(["x\ry\n"])
    assert sink.getvalue() == "run \\x1b]52;c;ZWNobyBwd25lZA==\\x07\n\rtrain:  50%|#####     | 5/10x\\x0dy\n"
    assert out.getvalue() == sink.getvalue()  # everything else is the wrapped stream's
