"""TensorBoard event files for tests: written by TensorBoard's own writer, and located byte by byte.

``write_scalars`` uses ``tensorboard.summary.writer.event_file_writer.EventFileWriter`` (TensorBoard's
framing and checksums, not ours), one event per scalar; ``record_spans`` walks the framing to give
each record's byte range, so a test can damage one chosen record.
"""
from __future__ import annotations

import struct
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter


def write_scalars(folder: Path, scalars: list[tuple[int, str, float]], wall_time: float = 1.75e9) -> Path:
    """An event file holding one event per (step, tag, value), in that order; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder))
    for k, (step, tag, value) in enumerate(scalars):
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
        writer.add_event(event_pb2.Event(wall_time=wall_time + k, step=step, summary=summary))
    writer.close()
    (path,) = folder.glob("events.out.tfevents.*")
    return path


def record_spans(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every record of an intact event file (the first one is the file_version event)."""
    spans, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        spans.append((pos, pos + 12 + length + 4))
        pos = spans[-1][1]
    assert pos == len(data), "not an intact event file"
    return spans
