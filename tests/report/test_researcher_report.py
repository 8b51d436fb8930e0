"""The rendered report (HTML and the recorded JSON) of the researcher's runs (issue 18): a restart shown as a
restart, a run resumed from step 35,000 said so at the top, the second stage's scale as RadioDiff applies it,
the LR printed as 0 reconstructed; one notebook render per run, so slow."""
from __future__ import annotations

import html as html_lib

import numpy as np
import pytest
from PIL import Image

from radiodiff_lib.report import render_notebook
from tests.helpers.notebooks import error_outputs, key_figure_output, records
from tests.helpers.researcher import finetune_then_fresh, resumed_at_35000

pytestmark = pytest.mark.slow


def _render(folder, out):
    paths = render_notebook("analyze", {"log_paths": [str(folder)]}, out_dir=out)
    assert error_outputs(paths.ipynb) == []
    html = paths.html.read_text()
    alt, png = key_figure_output(paths.ipynb)
    # the first figure of the HTML is the one the notebook displayed as its key figure
    assert html.index('src="data:image/png;base64,') == html.index(f'src="data:image/png;base64,{png}')
    return records(paths.ipynb)["analysis"], html_lib.unescape(html), alt


def test_restart_in_the_rendered_report(tmp_path):
    want = finetune_then_fresh(tmp_path / "radiodiff_LDM")
    a, html, alt = _render(tmp_path / "radiodiff_LDM", tmp_path / "out")
    assert alt == "key figure: loss_simple of this second-stage (latent diffusion) run"
    (b,) = a["resumes"]
    assert b["kind"] == "restart"
    assert a["set_aside"][0]["file"] == str(want["tune"])
    assert a["entries"] == want["fresh_entries"]
    assert a["stage_settings"]["scale"]["mode"] == "as written"
    assert "Second-stage (latent diffusion) run" in html
    assert "### Restart at step 0" not in html
    assert "Restart at step 0" in html
    assert "no metric jumps" not in html
    assert "Resume at step 0" not in html
    assert "12.5x" in html
    assert "scale_factor 0.3 is used as written and never measured" in html
    assert html.index("The folder holds more than one experiment") < html.index("1. Summary")


def test_late_start_critical_finding_and_reconstructed_lr_in_the_rendered_report(tmp_path):
    folder = tmp_path / "radiodiff_Vae"
    resumed_at_35000(folder)
    ramp = (np.linspace(0, 255, 64 * 128).reshape(64, 128)).astype("uint8")
    for milestone in (6, 29):  # RadioDiff's reconstructions beside its checkpoints
        Image.fromarray(ramp).save(folder / f"sample-{milestone}.png")
    a, html, alt = _render(folder, tmp_path / "out")
    assert alt == "key figure: train/rec_loss of this first-stage (vae) run and its latest sample"
    assert a["run_start"]["step"] == 35000
    assert a["run_start"]["resumed_from_milestone"] == 7
    assert a["lr_schedule"]["reconstructed"]["agrees_with_log"] is True
    top = html[:html.index("1. Summary")]
    assert "First-stage (VAE) run" in top
    assert "Where the run began:" in top
    assert "resumed from model-7.pt" in top
    assert "CRITICAL: The discriminator was never trained." in top
    assert top.index("CRITICAL") < top.index("Warning: ")
    assert top.index("CRITICAL") < top.index('src="data:image/png;base64,')  # the findings, then the figure
    assert "reconstructed from the config as lr x max((1 - step / train_num_steps) ** 0.95, min_lr)" in html
