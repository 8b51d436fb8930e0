"""The sweep's Markdown: names are data, not markup; a report without a sweep says how to add one."""
from __future__ import annotations

from radiodiff_lib.report import sweep_text
from tests.helpers.hostile import IMG, LINK, SCRIPT, TICKS, active_content, page_text


def _payload(run_name: str = "run") -> dict:
    one = {"mean": 0.2, "low": 0.1, "high": 0.3}
    zero = {"mean": 0.0, "low": 0.0, "high": 0.0}
    return {"protocol": None, "split": "val", "data": "synthetic", "maps": 3, "transmitters": 6, "metric": "nmse",
            "level": 0.95, "bootstrap": {"draws": 100, "seed": 0, "unit": "map"}, "precision": "no",
            "precision_note": "", "device": "cpu",
            "checkpoints": [{"path": f"{run_name}/model-1.pt", "step": 5, "weights": "ema", "status": "ok",
                             "nmse": one, "ssim": one, "psnr": one, "diff_to_best": zero, "cached": False}],
            "best": f"{run_name}/model-1.pt", "best_weights": "ema", "indistinguishable": [f"{run_name}/model-1.pt"],
            "indistinguishable_weights": ["ema"], "earliest_indistinguishable": f"{run_name}/model-1.pt",
            "earliest_weights": "ema", "chosen": f"{run_name}/model-1.pt", "chosen_weights": "ema", "choose": "best",
            "excluded_items": 0, "confirmation": [], "latent": None, "handoff": f"{run_name}/sweep/handoff.yaml",
            "stage2": None, "stage2_warnings": [], "disc_start": 10, "notes": [], "timings": {}}


def test_names_in_the_sweep_text_are_data_not_markup():
    import mistune  # nbconvert's Markdown renderer

    hostile = f"runs/{IMG}{TICKS}{LINK}{SCRIPT}"
    payload = _payload(hostile)
    payload["stage2"] = {"source": hostile, "warnings": [f"{hostile}: model.scale_factor 0.3 is far"],
                         "merged_config": hostile, "differences": [{"key": LINK, "config": IMG, "handoff": TICKS}]}
    text = "\n\n".join(m.data for m in (sweep_text.title(payload, hostile), sweep_text.analyze_verdict(payload, hostile),
                                         sweep_text.candidates_table(payload), sweep_text.handoff(payload, IMG)))
    html = mistune.create_markdown(escape=False, plugins=["table"])(text)  # raw HTML kept, as nbconvert renders
    assert active_content(html) == []
    assert hostile in page_text(html)  # shown as written, not dropped


def test_analyze_without_a_sweep_says_how_to_add_one():
    assert "-p sweep RUN/sweep" in sweep_text.no_sweep().data
