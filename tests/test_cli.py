"""The CLI's output plumbing (issue 22, items 10 and 11): every output path is checked before the work and a
problem with it is one line, never a traceback; no control character from a folder name, a label or a
logged value reaches the terminal raw, in any command's output, error or warning."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from radiodiff_lib.cli import main
from tests.helpers.logfactory import default_values, radiodiff_config, write_workbench_folder
from tests.helpers.readonly import run_cli_with_read_only
from tests.helpers.runpairs import DISC_START, TOTAL, write_run

ROOT = Path(__file__).resolve().parents[1]
# a screen clear, an OSC 52 clipboard write (BEL-terminated), a CSI through the one-byte C1 code, a
# carriage return, a bidirectional override
HOSTILE = "\x1b[2J\x1b[H\x1b]52;c;ZWNobyBwd25lZA==\x07\x9b31m\r\u202e"
RAW = ("\x1b", "\x07", "\x9b", "\r", "\u202e")
SHOWN = "\\x1b[2J\\x1b[H\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x9b31m\\x0d\\u202e"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def assert_nothing_raw(text: str) -> None:
    for ch in RAW:
        assert ch not in text, (ch, text)


@pytest.fixture(scope="module")
def log_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("logs") / "run"
    cfg = radiodiff_config(disc_start=50, train_num_steps=200)

    def values(step: int) -> dict:
        gen, disc = default_values(step, 50, train_num_steps=200)
        return {**gen, **{k: v for k, v in disc.items() if k != "lr"}, f"train/odd{HOSTILE}": 1.0 + step}

    write_workbench_folder(folder, [{"steps": range(0, 40), "config": cfg, "values": values}])
    return folder


# ---- item 10: one line, the right words, before the work ------------------------------------------

def test_out_naming_an_existing_file(tmp_path, capsys):
    (tmp_path / "taken").write_text("keep")
    for command in (["report", "analyze"], ["demo-report"]):
        assert main([*command, "--out", str(tmp_path / "taken")]) == 2
        line = one_line(capsys.readouterr().err)
        assert "--out" in line
        assert "is a file, not a folder" in line
    assert (tmp_path / "taken").read_text() == "keep"


def test_json_naming_a_folder_and_figures_naming_a_file(tmp_path, log_folder, capsys):
    assert main(["analyze", str(log_folder), "--json", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "--json" in one_line(captured.err)
    assert "is a folder: give a file name" in captured.err
    assert captured.out == ""  # refused before the analysis
    (tmp_path / "figs").write_text("x")
    assert main(["evaluate", "any.pt", "--figures", str(tmp_path / "figs")]) == 2
    assert "--figures" in one_line(capsys.readouterr().err)


def test_a_read_only_json_folder_is_refused_before_the_analysis(tmp_path, log_folder):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = run_cli_with_read_only(folder, ["analyze", str(log_folder), "--json", str(folder / "a.json")], cwd=ROOT)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert f"--json {folder / 'a.json'}: cannot write in {folder}" in line
    assert done.stdout == ""  # the analysis summary was never printed: refused before the work


def test_a_read_only_out_folder_is_refused_before_the_report_runs(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    done = run_cli_with_read_only(folder, ["report", "analyze", "--out", str(folder / "reports")], cwd=ROOT)
    assert done.returncode == 2
    assert f"--out {folder / 'reports'}: cannot write in {folder}" in one_line(done.stderr)
    done = run_cli_with_read_only(folder, ["report", "analyze", "--out", str(folder)], cwd=ROOT)
    assert f"--out {folder}: cannot write in {folder}" in one_line(done.stderr)


def test_a_set_in_p_is_one_line_naming_the_parameter(tmp_path, capsys):
    for name, value in [("log_paths", "{'a', 'b'}"), ("compare_with", "[{'a'}]"), ("thresholds", "{'spike_k': {1}}"),
                        ("log_paths", "{[1]: 2}")]:
        assert main(["report", "analyze", "-p", name, value, "--out", str(tmp_path)]) == 2
        line = one_line(capsys.readouterr().err)
        assert f"'{name}'" in line


def test_a_set_in_p_names_the_set(tmp_path, capsys):
    assert main(["report", "analyze", "-p", "log_paths", "{'a', 'b'}", "--out", str(tmp_path)]) == 2
    line = one_line(capsys.readouterr().err)
    assert "Parameter 'log_paths' is a list of texts" in line
    assert "(a set:" in line


# ---- item 11: nothing raw reaches the terminal ----------------------------------------------------

def test_analyze_shows_a_hostile_logged_name_written_out(log_folder, capsys):
    assert main(["analyze", str(log_folder)]) == 0
    out = capsys.readouterr().out
    assert_nothing_raw(out)
    assert f"train/odd{SHOWN}" in out


def test_compare_shows_hostile_labels_and_config_values_written_out(tmp_path, capsys):
    cfg = radiodiff_config(disc_start=DISC_START, train_num_steps=TOTAL)
    cfg["data"]["name"] = f"maps{HOSTILE}"
    a = write_run(tmp_path / f"a{HOSTILE}", seed=1, config=cfg)
    b = write_run(tmp_path / "b", seed=2)
    assert main(["compare", str(a), str(b), "--labels", f"A{HOSTILE},B"]) == 0
    captured = capsys.readouterr()
    assert_nothing_raw(captured.out + captured.err)
    assert f"A{SHOWN}" in captured.out
    assert "data.name: 'maps\\x1b[2J" in captured.out  # the config diff quotes values (repr) as well
    assert main(["compare", str(a), str(b)]) == 0  # the folder name is the label
    out = capsys.readouterr().out
    assert_nothing_raw(out)
    assert f"a{SHOWN}: " in out


def test_inspect_shows_a_hostile_file_name_written_out(tmp_path, capsys):
    folder = tmp_path / "ckpts"
    folder.mkdir()
    (folder / f"model-1{HOSTILE}.pt").write_bytes(b"not a checkpoint")
    assert main(["inspect", str(folder)]) == 0
    captured = capsys.readouterr()
    assert_nothing_raw(captured.out + captured.err)
    assert "model-1\\x1b[2J" in captured.out  # (pandas' table writes controls out by itself as well)
    assert main(["inspect", str(folder / f"model-2{HOSTILE}.pt")]) == 2  # the error names the path: ours alone
    err = capsys.readouterr().err
    assert_nothing_raw(err)
    assert f"model-2{SHOWN}.pt" in err


def test_an_error_message_shows_a_hostile_path_written_out(tmp_path, capsys):
    missing = tmp_path / f"nowhere{HOSTILE}"
    for argv in (["analyze", str(missing)], ["inspect", str(missing)],
                 ["compare", str(missing), str(missing) + "2", "--labels", f"x{HOSTILE},y"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert_nothing_raw(err)
        assert f"nowhere{SHOWN}" in err


def test_a_warning_and_argparse_are_written_out_too(tmp_path):
    """The real console command, in a subprocess: warnings and argparse's own errors go through the same gate."""
    done = subprocess.run([sys.executable, "-m", "radiodiff_lib.cli", "analyze", str(tmp_path), "--source",
                           f"x{HOSTILE}"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2
    assert_nothing_raw(done.stderr)
    assert "x\\x1b[2J" in done.stderr
    code = ("import warnings, sys; from radiodiff_lib import cli; "
            f"cli.cmd_inspect = lambda args: warnings.warn({HOSTILE!r}) or 0; sys.exit(cli.main(['inspect', '.']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert_nothing_raw(done.stderr)
    assert f"radiodiff: warning: {SHOWN}" in done.stderr


def test_json_output_keeps_the_text_exactly(tmp_path, log_folder, capsys):
    """Escaping is for the terminal: the JSON file holds the name as logged."""
    out = tmp_path / "a.json"
    assert main(["analyze", str(log_folder), "--json", str(out)]) == 0
    assert f"train/odd{HOSTILE}" in json.loads(out.read_text())["metrics"]
    assert f"wrote {out}" in capsys.readouterr().out


def test_help_loads_neither_yaml_nor_the_config_schema():
    """``radiodiff --help`` is argument parsing only: yaml, the config schema and torch load in the commands that
    use them."""
    code = ("import sys; from radiodiff_lib import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('yaml', 'radiodiff_lib.config', 'torch') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "[]"


def test_each_bench_named_is_a_bench_module_with_run():
    """``radiodiff bench all`` imports bench.<name> for each name of BENCHES and calls its ``run``."""
    import ast

    from radiodiff_lib.cli import BENCHES

    for name in BENCHES:
        tree = ast.parse((ROOT / "radiodiff_lib" / "bench" / f"{name}.py").read_text(encoding="utf-8"))
        assert "run" in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}, name
