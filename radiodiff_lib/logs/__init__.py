"""Reading training logs into one tidy DataFrame: RadioDiff text logs, our metrics.jsonl and
train.log, TensorBoard event files; launches stitched into one timeline; a live run followed
incrementally. ``read_run(paths)`` is the entry point; ``RunReader`` follows a growing run.
"""
from ..vocabulary import LOG_METRICS, TENSORBOARD_NAMES
from .events import Event, SegmentInfo
from .reader import Run, RunReader, SkippedLine, read_run, resolve_total_steps

__all__ = ["Event", "LOG_METRICS", "Run", "RunReader", "SegmentInfo", "SkippedLine", "TENSORBOARD_NAMES",
           "read_run", "resolve_total_steps"]
