"""Property: random garbage interleaved with valid step lines; every valid row comes back with its
exact printed values, every garbage line is counted as skipped (by line number)."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radiodiff_lib.logs import read_run
from radiodiff_lib.vocabulary import STEP_MARK as MARK
from tests.helpers.logfactory import DISC_KEYS, GEN_KEYS, asctime

FORMATS = ["{:.5f}", "{:.8g}", "{!r}"]
values = st.floats(allow_nan=True, allow_infinity=True, width=64)
# garbage can never be a step line (no marker) nor a config line (no "{"); it may be blank,
# hold "\r", look like a traceback, or carry bytes that are not UTF-8
garbage_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n{"),
                       max_size=60).filter(lambda s: "[Train Step]" not in s)
garbage_bytes = st.binary(max_size=40).filter(lambda b: b"\n" not in b and b"{" not in b and b"[Train Step]" not in b)
garbage = st.one_of(garbage_text.map(lambda s: s.encode("utf-8")), garbage_bytes,
                    st.sampled_from([b"", b"Traceback (most recent call last):", b"  File \"x.py\", line 1",
                                     b"UserWarning: careful", b"[Train Step] 5/10 no colon",
                                     b"2025-01-01 00:00:00,000 [Train Step] 7/10: train/total_loss: 1.0"]))


@st.composite
def row(draw, fixed_keys: bool):
    gen_keys = GEN_KEYS + ["lr"] if fixed_keys else [
        k for k in GEN_KEYS + ["lr"] if draw(st.booleans())] or ["train/total_loss"]
    disc_keys = [] if not draw(st.booleans()) else (
        DISC_KEYS + ["lr"] if fixed_keys else [k for k in DISC_KEYS + ["lr"] if draw(st.booleans())])
    fmt = draw(st.sampled_from(FORMATS))
    gen = {k: draw(values) for k in gen_keys}
    disc = {k: draw(values) for k in disc_keys}
    stamped = draw(st.booleans())
    return gen, disc, fmt, stamped


@st.composite
def log(draw):
    fixed = draw(st.booleans())
    rows = draw(st.lists(row(fixed), min_size=1, max_size=12))
    gaps = draw(st.lists(st.integers(1, 500), min_size=len(rows), max_size=len(rows)))
    junk = draw(st.lists(st.lists(garbage, max_size=3), min_size=2 * len(rows) + 1, max_size=2 * len(rows) + 1))
    return rows, gaps, junk


def line_of(step, values_, fmt, when) -> bytes:
    body = "".join(f"{k}: {fmt.format(v)}, " for k, v in values_.items())
    prefix = asctime(when) + " " if when else ""
    return f"{prefix}{MARK}{step}/100000: {body}".encode()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log())
def test_garbage_is_counted_and_every_row_recovered(tmp_path_factory, data):
    rows, gaps, junk = data
    out: list[bytes] = []
    garbage_lines: list[int] = []
    expected = []
    step, when = 0, datetime(2025, 3, 2, 9, 0, 0)

    def put_junk(k):
        for g in junk[k]:
            out.append(g)
            garbage_lines.append(len(out))

    for r, ((gen, disc, fmt, stamped), gap) in enumerate(zip(rows, gaps)):
        step += gap
        when += timedelta(seconds=gap, milliseconds=gap)
        put_junk(2 * r)
        out.append(line_of(step, gen, fmt, when if stamped else None))
        first_line = len(out)
        put_junk(2 * r + 1)  # junk between the generator and the discriminator line
        if disc:
            out.append(line_of(step, disc, fmt, when if stamped else None))
        exp = {"step": step, "line": first_line}
        exp.update({k: float(fmt.format(v)) for k, v in gen.items()})
        exp.update({("lr_disc" if k == "lr" and "lr" in gen else k): float(fmt.format(v)) for k, v in disc.items()})
        expected.append(exp)
    put_junk(2 * len(rows))
    path = tmp_path_factory.mktemp("prop") / "x.log"
    path.write_bytes(b"\n".join(out) + b"\n")

    run = read_run(path)
    assert run.df["step"].tolist() == [e["step"] for e in expected]
    assert sorted(s.line for s in run.skipped) == garbage_lines
    for (_, got), exp in zip(run.df.iterrows(), expected):
        assert got["line"] == exp["line"]
        for key, value in exp.items():
            if key in ("step", "line"):
                continue
            assert (math.isnan(got[key]) and math.isnan(value)) or got[key] == value, (key, got[key], value)
        logged = {k for k in run.logged.columns if run.logged.loc[_, k]}
        assert logged == set(exp) - {"step", "line"}
