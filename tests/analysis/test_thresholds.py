"""The analysis thresholds: an unknown name is refused with the valid ones."""
from __future__ import annotations

import pytest

from radiodiff_lib.analysis import AnalysisError, analyze
from tests.helpers.runs import healthy_run


def test_unknown_threshold_refused():
    with pytest.raises(AnalysisError, match="valid names"):
        analyze(healthy_run(), rec_targt=0.1)
