"""The shared names are spelled once: a read run's row columns and segment table, the checkpoint formats."""
from __future__ import annotations

import ast
from pathlib import Path

from radiodiff_lib.logs import read_run
from radiodiff_lib.vocabulary import (
    CHECKPOINT_FORMATS, KIND_EVENTS, KIND_METRICS, KIND_RADIODIFF_LOG, KIND_WORKBENCH_LOG, LOG_METRICS, LR_DISC,
    ROW_COLUMNS, SEGMENT_COLUMNS,
)
from tests.helpers.logfactory import write_radiodiff_log

LIB = Path(__file__).resolve().parent.parent / "radiodiff_lib"


def test_a_read_runs_columns_are_the_row_columns_and_its_metrics(tmp_path):
    path = tmp_path / "train_vae.log"
    write_radiodiff_log(path, range(0, 500, 100))
    run = read_run(path)
    assert [c for c in run.df.columns if c not in run.metric_names()] == [c for c in run.df.columns
                                                                           if c in ROW_COLUMNS]
    assert set(run.metric_names()) <= set(LOG_METRICS) | {LR_DISC}
    assert tuple(run.segments.columns) == SEGMENT_COLUMNS


def test_checkpoint_formats_are_compared_by_name_not_spelled():
    spelled = []
    for path in sorted(LIB.rglob("*.py")):
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                formats = [s for s in sides if isinstance(s, ast.Constant) and s.value in CHECKPOINT_FORMATS]
                about_format = any(w in ast.unparse(node) for w in ("fmt", "format"))
                if formats and about_format:
                    spelled.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
            elif isinstance(node, ast.Constant) and node.value == "workbench":
                spelled.append(f"{path.name}:{node.lineno}: 'workbench'")
    assert spelled == []


def test_file_kinds_are_compared_by_name_not_spelled():
    kinds = {KIND_EVENTS, KIND_METRICS, KIND_RADIODIFF_LOG, KIND_WORKBENCH_LOG}
    spelled = []
    for path in sorted(LIB.rglob("*.py")):
        if path.name == "vocabulary.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and "kind" in ast.unparse(node):
                sides = [node.left, *node.comparators]
                if any(isinstance(s, ast.Constant) and s.value in kinds for s in sides):
                    spelled.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert spelled == []
