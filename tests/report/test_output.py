"""Issue 22, item 7: a report owns its output. One writer per folder (the second is refused in one line),
the render staged and moved into place, and only the files the report wrote are ever replaced: a user's
own files in ``<name>_files/`` survive every render."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from radiodiff_lib.cli import main
from radiodiff_lib.errors import NotebookError, OutputError
from radiodiff_lib.report import render_notebook
from radiodiff_lib.report.export import export_markdown
from radiodiff_lib.report.output import LOCK_FILE, STAGING_PREFIX, manifest_name, report_folder
from tests.report.test_runner import tiny_notebook

ROOT = Path(__file__).resolve().parents[2]


def staged(folder, files: dict[str, str]) -> None:
    """Put ``files`` (relative path -> text) into a render's staging folder, as an export would."""
    for rel, text in files.items():
        (folder.staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder.staging / rel).write_text(text)


def render(out: Path, files: dict[str, str]) -> list[str]:
    with report_folder(out, "r") as folder:
        staged(folder, files)
        return folder.install()


def test_user_files_in_the_figures_folder_survive_and_stale_figures_go(tmp_path):
    out = tmp_path / "out"
    render(out, {"r.md": "1", "r.html": "1", "r_files/output_1_0.png": "old", "r_files/output_2_0.png": "old"})
    (out / "r_files" / "notes.txt").write_text("mine")
    (out / "r_files" / "keep").mkdir()
    render(out, {"r.md": "2", "r.html": "2", "r_files/output_1_0.png": "new"})
    assert (out / "r_files" / "notes.txt").read_text() == "mine"
    assert (out / "r_files" / "keep").is_dir()
    assert (out / "r_files" / "output_1_0.png").read_text() == "new"
    assert not (out / "r_files" / "output_2_0.png").exists()  # the report's own stale figure
    assert (out / "r.md").read_text() == "2"
    manifest = json.loads((out / manifest_name("r")).read_text())
    assert manifest["files"] == ["r.html", "r.md", "r_files/output_1_0.png"]


def test_nothing_of_the_folder_changes_before_the_install(tmp_path):
    out = tmp_path / "out"
    render(out, {"r.md": "1"})
    with report_folder(out, "r") as folder:
        staged(folder, {"r.md": "2"})
        assert (out / "r.md").read_text() == "1"
        assert folder.staging.parent == out  # same file system: each move is a rename
    assert not list(out.glob(f"{STAGING_PREFIX}*"))  # the staging folder is gone, installed or not


def test_a_folder_without_a_figure_left_is_removed_only_when_empty(tmp_path):
    out = tmp_path / "out"
    render(out, {"r.md": "1", "r_files/a.png": "x"})
    render(out, {"r.md": "2"})
    assert not (out / "r_files").exists()


def test_a_manifest_never_makes_the_report_delete_another_file(tmp_path):
    out = tmp_path / "out"
    (out / "r_files").mkdir(parents=True)
    for name in ("other.md", "r_files/mine.txt"):
        (out / name).write_text("user")
    (tmp_path / "outside.txt").write_text("user")
    (out / manifest_name("r")).write_text(json.dumps({"files": ["../outside.txt", "other.md", "r_files/../other.md",
                                                                "r_files/mine.txt/..", "/etc/hostname", "r_files/mine.txt"]}))
    render(out, {"r.md": "1"})
    assert (tmp_path / "outside.txt").read_text() == "user"
    assert (out / "other.md").read_text() == "user"
    # a listed name inside r_files/ is the report's: the manifest is its record (and it is the report's file)
    assert not (out / "r_files" / "mine.txt").exists()


def test_a_folder_from_before_manifests_owns_the_figures_its_markdown_links(tmp_path):
    out = tmp_path / "out"
    (out / "r_files").mkdir(parents=True)
    (out / "r.md").write_text("![png](r_files/output_1_0.png)\n<img src=\"r_files/output_2_0.png\">\n")
    for name in ("output_1_0.png", "output_2_0.png", "mine.png"):
        (out / "r_files" / name).write_text("x")
    render(out, {"r.md": "new"})
    assert sorted(p.name for p in (out / "r_files").iterdir()) == ["mine.png"]


def test_a_new_figure_never_takes_the_name_of_a_users_file(tmp_path):
    out = tmp_path / "out"
    (out / "r_files").mkdir(parents=True)
    (out / "r_files" / "output_0_0.png").write_text("user")  # not the report's: no manifest, no link
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "fig"})]
    nb.cells.append(cell)
    with report_folder(out, "r") as folder:
        assert folder.taken_figure_names() == {"output_0_0.png"}
        export_markdown(nb, folder.staging / "r.md", taken=folder.taken_figure_names())
        folder.install()
    assert (out / "r_files" / "output_0_0.png").read_text() == "user"
    md = (out / "r.md").read_text()
    assert "r_files/output_0_0-1.png" in md
    assert "r_files/output_0_0.png" not in md
    assert (out / "r_files" / "output_0_0-1.png").read_bytes().startswith(b"\x89PNG")


def test_a_stale_staging_folder_of_a_killed_render_is_removed(tmp_path):
    out = tmp_path / "out"
    (out / f"{STAGING_PREFIX}r-abc" / "r_files").mkdir(parents=True)
    render(out, {"r.md": "1"})
    assert not list(out.glob(f"{STAGING_PREFIX}*"))


def test_figures_folder_that_is_a_file_is_refused_before_running(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "r_files").write_text("user")
    with pytest.raises(OutputError, match="r_files is a file"):
        with report_folder(out, "r"):
            pass
    assert (out / "r_files").read_text() == "user"


_HOLD = """
import sys, time
from radiodiff_lib.errors import NotebookError
from radiodiff_lib.outputs import folder_lock
with folder_lock(sys.argv[1], sys.argv[2], NotebookError):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_writer_is_refused_in_one_line_while_the_first_holds_the_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out), LOCK_FILE], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        nb = tiny_notebook(tmp_path / "tiny.ipynb")
        started = time.perf_counter()
        assert main(["report", str(nb), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1, err
        assert "is being written by another report" in err
        assert f"pid {holder.pid}" in err
        assert time.perf_counter() - started < 30  # refused at once, not after a kernel ran
        assert not (out / "tiny.ipynb").exists()
    finally:
        holder.kill()
        holder.wait()


def test_two_reports_into_one_folder_one_renders_the_other_is_refused(tmp_path):
    """Two real `radiodiff report` processes: the second starts while the first runs its notebook."""
    nb = tiny_notebook(tmp_path / "slow.ipynb", params="pause = 0.0\nn = 3",
                       body="import time\ntime.sleep(pause)\nprint('slept', n)")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "radiodiff_lib.cli", "report", str(nb), "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's library, whatever is installed
    first = subprocess.Popen([*command, "-p", "pause", "8", "-p", "n", "1"], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = out / LOCK_FILE
    deadline = time.monotonic() + 60
    while f"pid {first.pid}" not in (lock.read_text() if lock.exists() else ""):
        assert time.monotonic() < deadline, first.communicate()
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    second = subprocess.run([*command, "-p", "n", "2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    out1, err1 = first.communicate(timeout=240)
    assert first.returncode == 0, err1
    assert second.returncode == 2
    assert "is being written by another report" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    executed = nbformat.read(str(out / "slow.ipynb"), as_version=4)
    assert executed.metadata.papermill.parameters == {"pause": 8.0, "n": 1}  # the first render's, whole


def test_a_failed_render_keeps_the_last_good_report(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    out = tmp_path / "out"
    good = render_notebook(nb, {"n": 4}, out_dir=out)
    before = {p: p.read_bytes() for p in (good.ipynb, good.html, good.md)}
    with pytest.raises(NotebookError, match="flag was set"):
        render_notebook(nb, {"flag": True}, out_dir=out)
    assert {p: p.read_bytes() for p in before} == before
    assert (out / "tiny.failed.ipynb").is_file()
    render_notebook(nb, {"n": 2}, out_dir=out)
    assert not (out / "tiny.failed.ipynb").exists()  # the report's own stale file, removed


def test_a_render_into_a_folder_whose_name_holds_braces(tmp_path):
    """papermill formats its paths with the parameters; the report's folder is a name, not a template."""
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    paths = render_notebook(nb, {"n": 2}, out_dir=tmp_path / "out{n}{pm}")
    assert paths.md.parent.name == "out{n}{pm}"
    assert paths.md.is_file()


def test_the_issues_case_a_kept_figures_folder_is_not_deleted(tmp_path):
    nb = tiny_notebook(tmp_path / "tiny.ipynb")
    out = tmp_path / "out"
    (out / "tiny_files").mkdir(parents=True)
    (out / "tiny_files" / "my-notes.md").write_text("kept")
    paths = render_notebook(nb, {}, out_dir=out)
    assert (out / "tiny_files" / "my-notes.md").read_text() == "kept"
    assert len(list((out / "tiny_files").glob("*.png"))) == 1
    assert paths.md.read_text().count("tiny_files/") == 1
    assert os.listdir(out).count(LOCK_FILE) == 1
