"""Widgets without a browser: the explorer redraws on each control, live mode reads appended lines,
the training form trains on a click (the JupyterLab test drives the same widgets in a real browser)."""
from __future__ import annotations

import base64

import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from radiodiff_lib.report import widgets
from tests.helpers.configs import make_tiny_config
from tests.helpers.logfactory import write_radiodiff_log


def png_of(out) -> bytes:
    pngs = [o["data"]["image/png"] for o in out.outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, out.outputs
    raw = base64.b64decode(pngs[0])
    assert raw.startswith(b"\x89PNG")
    return raw


@pytest.fixture
def logged(tmp_path):
    path = tmp_path / "train_vae.log"
    write_radiodiff_log(path, range(0, 3000, 100), disc_start=1501, total_steps=10000)
    run = read_run(path)
    return path, run, analyze(run, window=10)


def test_resolve_interactive(monkeypatch):
    monkeypatch.setenv("RADIODIFF_HEADLESS", "1")
    assert widgets.resolve_interactive(None) is False
    assert widgets.resolve_interactive(True) is True
    monkeypatch.delenv("RADIODIFF_HEADLESS")
    assert widgets.resolve_interactive(None) is False  # plain Python: no Jupyter kernel


def test_explorer_redraws_on_every_control(logged):
    _, run, a = logged
    ex = widgets.Explorer(run, a)
    assert ex.metric.value == "train/rec_loss"
    assert list(ex.metric.options) == list(a.metrics)
    seen = {png_of(ex.out)}
    for change in (lambda: setattr(ex.smoothing, "value", 0.0), lambda: setattr(ex.metric, "value", "train/kl_loss"),
                   lambda: setattr(ex.steps, "value", (500, 2000)), lambda: setattr(ex.log_scale, "value", True),
                   lambda: setattr(ex.x_axis, "value", "time")):
        change()
        seen.add(png_of(ex.out))
    assert len(seen) == 6  # every control gave a different figure


def test_explorer_reports_a_bad_choice_instead_of_failing(logged):
    _, run, a = logged
    ex = widgets.Explorer(run, a)
    ex.metric.value = "train/g_loss"  # negative values
    ex.log_scale.value = True
    texts = [o.get("text", "") for o in ex.out.outputs]
    assert any(t.startswith("cannot draw") for t in texts) or png_of(ex.out)


def test_live_refresh_reads_appended_lines(logged):
    path, run, a = logged
    ex = widgets.Explorer(run, a, log_paths=[str(path)])
    ex.refresh()
    assert ex.analysis.latest_step == 2900
    write_radiodiff_log(path, range(3000, 3500, 100), config=None, disc_start=1501, total_steps=10000, append=True)
    ex.refresh()
    assert ex.analysis.latest_step == 3400
    assert ex.steps.max == 3400
    assert ex.steps.value[1] == 3400
    assert ex.analysis.entries == 35
    assert "35 entries" in ex.status.value


def test_live_loss_plot_draws_the_losses():
    plot = widgets.LiveLossPlot(min_seconds=0.0)
    for s in range(3):
        plot({"step": s, "train/total_loss": 10.0 - s, "train/rec_loss": 1.0 / (s + 1)})
    assert plot.steps["train/total_loss"] == [0, 1, 2]
    assert plot.values["train/disc_loss"] == []
    png_of(plot.out)


def test_train_form_trains_on_click(tmp_path):
    cfg = make_tiny_config(**{"trainer.train_num_steps": 4})
    session = widgets.train_panel(cfg, max_steps=3, results_folder=tmp_path / "run", interactive=True)
    assert session.result is None  # nothing runs before the click
    form, button, _out = session.widget.children
    button.click()
    assert session.errors == []
    assert session.result.step == 3
    assert (tmp_path / "run" / "metrics.jsonl").is_file()


def test_resume_form_offers_checkpoints_and_resumes_on_click(tmp_path):
    from radiodiff_lib.checkpoints import inspect_checkpoints
    from radiodiff_lib.training import train

    cfg = make_tiny_config(**{"trainer.train_num_steps": 4, "trainer.save_and_sample_every": 2})
    train(cfg, max_steps=2, results_folder=tmp_path / "run", progress=False)
    table = inspect_checkpoints(tmp_path / "run")
    session = widgets.resume_panel(tmp_path / "run", interactive=True, table=table)
    pick, _, button = session.widget.children[0].children
    assert [v for _, v in pick.options][0] == "latest"
    assert len(pick.options) == 1 + len(table)
    pick.value = pick.options[-1][1]
    button.click()
    assert session.errors == []
    assert session.result.step == 4
    assert session.checkpoint == pick.value


def test_live_status_shows_the_readers_notes_escaped(tmp_path):
    folder = tmp_path / "a<b>&c"  # a file name is data: escaped in the HTML status line
    folder.mkdir()
    path = folder / "train_vae.log"
    write_radiodiff_log(path, range(0, 1000, 100), disc_start=1501, total_steps=10000)
    run = read_run(path)
    ex = widgets.Explorer(run, analyze(run, window=5), log_paths=[str(path)])
    ex.refresh()
    assert "note:" not in ex.status.value
    write_radiodiff_log(path, range(0, 500, 100), disc_start=1501, total_steps=10000)  # rewritten, shorter
    ex.refresh()
    assert "read again from its start" in ex.status.value
    assert "a&lt;b&gt;&amp;c" in ex.status.value
    assert "a<b>" not in ex.status.value


def test_explorer_redraw_is_the_live_refresh_one():
    assert "redraw" not in vars(widgets.Explorer)
    assert "redraw" in vars(widgets.LiveRefresh)
