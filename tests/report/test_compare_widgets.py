"""The comparison explorer without a browser: it draws the picked runs, redraws on a control, and its
status line shows what the readers note (escaped)."""
from __future__ import annotations

from radiodiff_lib.analysis import compare_paths
from radiodiff_lib.report import compare_widgets
from tests.helpers.logfactory import write_radiodiff_log
from tests.report.test_widgets import png_of


def _runs(tmp_path):
    paths = []
    for name in ("a<i>", "b"):
        folder = tmp_path / name
        folder.mkdir()
        write_radiodiff_log(folder / "train_vae.log", range(0, 1000, 100), disc_start=1501, total_steps=10000)
        paths.append(str(folder))
    return paths


def test_compare_explorer_redraws_on_a_control(tmp_path):
    ex = compare_widgets.CompareExplorer(compare_paths(_runs(tmp_path), window=5), window=5)
    first = png_of(ex.out)
    ex.smoothing.value = 0.0
    assert png_of(ex.out) != first


def test_compare_explorer_redraw_is_the_live_refresh_one():
    assert "redraw" not in vars(compare_widgets.CompareExplorer)


def test_compare_status_shows_each_runs_notes_escaped(tmp_path):
    paths = _runs(tmp_path)
    ex = compare_widgets.CompareExplorer(compare_paths(paths, window=5), window=5)
    ex.refresh()
    assert "2 runs read" in ex.status.value
    assert "note:" not in ex.status.value
    write_radiodiff_log(f"{paths[0]}/train_vae.log", range(0, 500, 100), disc_start=1501, total_steps=10000)
    ex.refresh()
    assert "read again from its start" in ex.status.value
    assert "a&lt;i&gt;" in ex.status.value
    assert "<i>" not in ex.status.value
