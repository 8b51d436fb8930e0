"""The config a text log carries: a config line with out-of-range numbers is read; it is read in bounded time and memory, and a bad byte costs only its
characters (issue 22 items 3, 4, 5): alias bombs, a cyclic alias, a huge dict line, a huge YAML
flow list and a long value. Every step row is kept. Time and memory bounds are measured on a
``radiodiff`` child process (``tests.helpers.bounded``)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from radiodiff_lib.logs.text_config import MAX_CONFIG_CHARS, MAX_VALUE_CHARS
from tests.helpers.bounded import MAX_MB, MAX_SECONDS, measure_cli
from tests.helpers.ldmfactory import LDM_START, ldm_config, write_ldm_log
from tests.helpers.logfactory import ABOVE_INT64, asctime, radiodiff_config, write_radiodiff_log

STEPS = range(0, 1001, 100)
# nine levels of nine aliases: 9**9 nodes once expanded (a DAG of 90 nodes as loaded)
MAP_BOMB = ["a: &a {" + ", ".join(f"k{j}: x" for j in range(9)) + "}"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} {{" + ", ".join(f"k{j}: *{chr(97 + i)}" for j in range(9)) + "}" for i in range(9)]
LIST_BOMB = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(9)]
SELF_REFERENCE = ["self: &s", "  me: *s"]


def ldm_log(path: Path, yaml_lines: list[str]) -> list[dict]:
    """A second-stage log whose config dump is ``yaml_lines`` (the first one after the asctime)."""
    rows = write_ldm_log(path, STEPS, yaml_config=False, total=80000)
    path.write_text("\n".join([f"{asctime(LDM_START)} {yaml_lines[0]}", *yaml_lines[1:]]) + "\n" + path.read_text())
    return rows


def analysis_json(tmp_path: Path, *args: str):
    """``radiodiff analyze ARGS --json`` measured; (measurement, the analysis as JSON or None)."""
    out = tmp_path / "analysis.json"
    got = measure_cli("analyze", *args, "--json", out)
    return got, (json.loads(out.read_text()) if out.is_file() else None)


def assert_bounded(got) -> None:
    """The command answered within MAX_SECONDS and MAX_MB."""
    assert got.rc is not None, f"no answer within {2 * MAX_SECONDS} s"
    assert got.seconds < MAX_SECONDS
    assert got.peak_mb < MAX_MB


@pytest.mark.parametrize("bomb", [MAP_BOMB, LIST_BOMB, SELF_REFERENCE], ids=["mapping", "list", "self"])
def test_an_alias_bomb_costs_the_config_not_the_rows(tmp_path, bomb):
    path = tmp_path / "2025-10-15-13-07_.log"
    ldm_log(path, bomb + ["model:", "  x: 1"])
    got, analysis = analysis_json(tmp_path, path)  # (in a child: a bomb that goes off must not take the tests along)
    assert_bounded(got)
    assert got.rc == 0, got.stderr
    assert "Traceback" not in got.stderr
    assert analysis["latest_step"] == STEPS[-1]
    assert analysis["total_steps_source"] == "step lines"  # no config
    assert analysis["skipped"]["reasons"] == {"config too large": len(bomb) + 2}


def test_compare_of_two_bombed_runs_is_bounded(tmp_path):
    runs = []
    for name, bomb in (("map", MAP_BOMB), ("list", LIST_BOMB)):
        (tmp_path / name).mkdir()
        ldm_log(tmp_path / name / "2025-10-15-13-07_.log", bomb + ["model:", "  x: 1"])
        runs.append(tmp_path / name)
    got = measure_cli("compare", *runs)  # the config diff of two bombs hung
    assert_bounded(got)
    assert got.rc == 0, got.stderr


def test_a_50_mb_config_line_is_skipped_in_bounded_memory(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    config = {**radiodiff_config(), "big": list(range(7_000_000))}  # a first-stage dict dump of ~55 MB
    spec = write_radiodiff_log(path, STEPS, config=config)
    assert path.stat().st_size > 50e6
    got, analysis = analysis_json(tmp_path, path)
    assert_bounded(got)
    assert got.rc == 0, got.stderr
    assert analysis["latest_step"] == spec.steps[-1]
    assert analysis["skipped"]["reasons"] == {"line too long": 1}


def test_a_50_mb_scalar_makes_no_50_mb_config(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    write_radiodiff_log(path, STEPS, config={**radiodiff_config(), "note": "x" * 50_000_000})
    got, analysis = analysis_json(tmp_path, path)
    assert_bounded(got)
    assert got.rc == 0, got.stderr
    assert (tmp_path / "analysis.json").stat().st_size < 1e6
    assert analysis["total_steps_source"] == "step lines"  # the config was not read


def test_a_5_mb_yaml_flow_list_is_skipped_in_bounded_time(tmp_path):
    path = tmp_path / "2025-10-15-13-07_.log"
    ldm_log(path, ["model:", "  big: [" + ", ".join(["1"] * 1_700_000) + "]"])
    got, analysis = analysis_json(tmp_path, path)
    assert_bounded(got)
    assert got.rc == 0, got.stderr
    assert analysis["latest_step"] == 1000
    assert analysis["skipped"]["reasons"] == {"config too large": 2}


def test_a_config_line_over_the_limit_is_counted_and_the_rows_kept(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    spec = write_radiodiff_log(path, STEPS, config={**radiodiff_config(), "big": "y" * (MAX_CONFIG_CHARS + 10)})
    run = read_run(path)
    assert run.df["step"].tolist() == spec.steps
    assert run.config is None
    assert run.skipped_counts() == {"config too large": 1}
    assert len(run.skipped[0].text) <= 500


def test_too_many_values_in_a_dict_line_is_too_large(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    write_radiodiff_log(path, STEPS, config={**radiodiff_config(), "big": [0] * 60_000})  # ~180 KB, 60k values
    run = read_run(path)
    assert run.config is None
    assert run.skipped_counts() == {"config too large": 1}


def test_a_long_value_is_shortened_saying_how_much(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    config = radiodiff_config()
    config["trainer"]["results_folder"] = "z" * 100_000
    write_radiodiff_log(path, STEPS, config=config)
    shown = read_run(path).config["trainer"]["results_folder"]
    assert shown.startswith("z" * MAX_VALUE_CHARS)
    assert len(shown) < MAX_VALUE_CHARS + 100
    assert shown.endswith(f"[{100_000 - MAX_VALUE_CHARS:,} more characters not shown]")


def _yaml_dump_with(tmp_path: Path, old: bytes, new: bytes) -> Path:
    path = tmp_path / "2025-10-15-13-07_.log"
    write_ldm_log(path, STEPS, config=ldm_config(train_num_steps=80000))
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    return path


@pytest.mark.parametrize("old,new", [
    (b"13:07:01,537 data:", b"13:07:01,537 da\xfft\xa0a:"),  # bytes that are not UTF-8 in the first line
    (b"numWorkers", b"num\x00Workers"),  # a NUL in an indented line
    (b"model_type:", b"model\x1b[2J_type:"),  # a terminal escape in a key
    (b"train_num_steps: 80000", b"train_num_steps: 80000\xe9"),  # a Latin-1 byte after a value
], ids=["first-line-non-utf8", "nul", "escape", "latin1"])
def test_a_bad_byte_in_a_yaml_dump_costs_its_characters_not_the_config(tmp_path, old, new):
    path = _yaml_dump_with(tmp_path, old, new)
    run = read_run(path)
    assert run.df["step"].tolist() == list(STEPS)
    assert run.config is not None
    assert run.config["trainer"]["save_and_sample_every"] == 5000  # a key after the bad line
    assert run.config["model"]["first_stage"]["embed_dim"] == 3
    assert run.skipped_counts() == {"bad bytes in config": 1}


def test_a_nul_in_a_dict_config_line_costs_its_character(tmp_path):
    path = tmp_path / "2025-03-02-09-14_.log"
    config = radiodiff_config(train_num_steps=1234)
    config["trainer"]["results_folder"] = "./results@@"
    write_radiodiff_log(path, STEPS, config=config)
    path.write_bytes(path.read_bytes().replace(b"@@", b"\x00\xff"))
    run = read_run(path)
    assert run.df["step"].tolist() == list(STEPS)
    assert run.config["trainer"]["results_folder"] == "./results\ufffd\ufffd"
    assert run.total_steps == 1234
    assert run.skipped_counts() == {"bad bytes in config": 1}


def test_config_line_with_out_of_range_numbers_is_read(tmp_path):
    cfg = {"model": {"lossconfig": {"disc_start": float("inf"), "kl_weight": int(ABOVE_INT64) ** 20}},
           "trainer": {"train_num_steps": float("inf"), "lr": float("nan")}}
    spec = write_radiodiff_log(tmp_path / "a.log", range(0, 1000, 100), config=cfg)
    run = read_run(spec.path)
    assert run.df["step"].tolist() == spec.steps
    a = analyze(run)  # the config's numbers are unusable: the step lines' /TOTAL is the total
    assert a.total_steps == 150000
    assert a.total_steps_source == "step lines"
    assert a.disc_start is None
