"""The report on the researcher's runs (issue 18): title with the stage, where the run began, the verdict box
(critical findings first, in words), restarts shown as restarts, the second stage's scale, the LR reconstructed.
The Markdown of each part, laid out from the Analysis without a kernel."""
from __future__ import annotations

import pytest

from radiodiff_lib.analysis import analyze
from radiodiff_lib.logs import read_run
from radiodiff_lib.report import text
from tests.helpers.researcher import crashed_then_relaunched, finetune_then_fresh, resumed_at_35000


@pytest.fixture(scope="module")
def late(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_Vae")
    want = resumed_at_35000(folder)
    run = read_run(folder)
    return run, analyze(run), want


@pytest.fixture(scope="module")
def restart(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radiodiff_LDM")
    want = finetune_then_fresh(folder)
    run = read_run(folder)
    return run, analyze(run), want


def test_title_names_the_stage_and_the_run(late, restart):
    run, a, want = late
    md = text.title(run, a).data
    assert md.splitlines()[0] == f"# First-stage (VAE) run `{want['log'].parent.name}`"
    assert f"**Read from** `{want['log'].parent}` (1 file(s): radiodiff-log;" in md
    run2, a2, _ = restart
    assert text.title(run2, a2).data.startswith("# Second-stage (latent diffusion) run `")


def test_where_the_run_began_is_said_at_the_top(late):
    run, a, _ = late
    md = text.title(run, a).data
    assert "**Where the run began:** The logs begin at step 35,000, not 0: the run was resumed from model-7.pt" in md


def test_verdict_box_puts_critical_findings_first_in_words(late):
    run, a, _ = late
    lines = [ln for ln in text.verdict_box(a).data.splitlines() if ln.startswith("> - ")]
    marks = [ln.split(":")[0] for ln in lines]
    assert marks[0] == "> - **CRITICAL"
    assert marks == sorted(marks, key=lambda m: 0 if "CRITICAL" in m else 1)
    assert "The discriminator was never trained." in text.verdict_box(a).data
    assert "discriminator\\_not\\_trained" not in lines[0]  # words, not the identifier


def test_verdict_box_says_when_nothing_is_critical(restart):
    run, a, _ = restart
    md = text.verdict_box(a).data
    assert md.startswith("> **Verdict: no critical findings, 2 warnings.**")
    assert "No critical finding" in md
    assert "The folder holds more than one experiment." in md


def test_recommendations_by_severity_none_against_the_critical_root_cause(late):
    run, a, _ = late
    lines = text.recommendations(a).data.splitlines()
    assert lines[0].startswith("1. **CRITICAL: ")
    sat = next(ln for ln in lines if "`adaptive_weight_saturated`" in ln)
    assert "lower lossconfig" not in sat
    assert "follows from the untrained discriminator" in sat


def test_a_restart_is_shown_as_a_restart_with_what_it_sets_aside(restart):
    run, a, want = restart
    progress = text.progress(a).data
    assert "Restart at step 0" in progress
    assert "no metric jumps" not in progress
    md = text.resume_text(a, 0).data
    assert md.startswith("### Restart at step 0")
    assert "**Set aside**" in md
    assert f"| `{want['tune']}` | 0 .. 5000 | 51 |" in md
    assert "| `trainer.train_num_steps` | 5000 | 80000 | length (train\\_num\\_steps) |" in md
    assert "12.5x" in md


def test_a_relaunch_names_the_stopped_launch_and_its_error(tmp_path):
    crashed_then_relaunched(tmp_path)
    a = analyze(read_run(tmp_path))
    md = text.resume_text(a, 0).data
    assert md.startswith("### Crash-and-relaunch at step 0")
    assert "RuntimeError: CUDA out of memory" in md
    assert "| `data.batch_size` | 4 | 2 | batch size |" in md


def test_second_stage_scale_as_radiodiff_applies_it(restart):
    run, a, _ = restart
    md = text.second_stage(a).data
    assert "scale\\_factor 0.3 is used as written and never measured" in md
    known, _, unknown = md.partition("**Keys the schema does not know**")
    assert "model.default\\_scale" in known
    assert "model.default\\_scale" not in unknown


def test_lr_text_gives_the_reconstruction(late):
    run, a, _ = late
    md = text.metric_text(a, "lr").data
    assert "reconstructed from the config as lr x max((1 - step / train\\_num\\_steps) \\*\\* 0.95, min\\_lr)" in md
    assert "Dashed in the figure." in md
    assert "lr" not in text.constant_metrics(a)  # printed as 0, yet drawn: its reconstruction is the curve


def test_constant_metrics_in_one_small_table(late):
    run, a, _ = late
    assert text.constant_metrics(a) == ["train/logvar", "train/d_weight"]
    table = text.constant_table(a).data
    assert table.count("\n| `") == 2


def test_the_latest_sample_beside_the_key_figure_is_the_newest_milestone(late, tmp_path):
    from PIL import Image

    from radiodiff_lib.report import sections
    run, a, want = late
    folder = want["log"].parent
    for name in ("sample-3.png", "sample-12.png", "gt-sample-20.png", "sample-0_50.png"):
        Image.new("L", (8, 8), 128).save(folder / name)
    path, milestone = sections.latest_sample(run)
    assert (path.name, milestone) == ("sample-12.png", 12)  # gt- and test_before samples are not RadioDiff's sample-<m>
    image, caption = sections.sample_image(run)
    assert image.shape == (8, 8)
    assert caption == "latest sample: sample-12.png, milestone 12 (step 60,000)"
