"""EvalResult: strict JSON, inf encoded as a string."""
from __future__ import annotations

import json

from tests.helpers.evaluation import fake_eval_result


def test_json_is_strict_and_encodes_inf_as_string():
    result = fake_eval_result()
    payload = result.to_json()
    text = json.dumps(payload, allow_nan=False)  # raises if an inf/NaN slipped through
    back = json.loads(text)
    assert back["n_maps"] == 6
    assert back["metrics"]["psnr"]["p95"] == "inf"
    for section in ("metrics", "metrics_street"):
        assert set(back[section]) == {"nmse", "rmse", "ssim", "psnr"}
        for stats in back[section].values():
            assert {"mean", "median", "p5", "p95"} <= set(stats)
    assert set(back["latent"]) >= {"mean", "std", "scale_factor"}
    assert len(back["latent"]["std"]) == 3
    assert back["seconds_per_map"] == 0.01
    assert "inf" in result.summary_text()
    assert "scale_factor" in result.summary_text()
