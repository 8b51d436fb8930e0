"""Markdown for a comparison of runs.

Every run label, path, metric name, config key and value is data: escaped (``report.markdown``)
wherever it is shown, so a label like ``<b>`` or ``*x*`` appears as written and never becomes markup.
"""
from __future__ import annotations

from typing import Any

from IPython.display import Markdown

from ..analysis import SEVERITY_ORDER, died_early, provenance_sentence
from ..formatting import num
from . import markdown as md
from . import text
from .markdown import Md


def cell(value: Any) -> Md:
    """A value as escaped Markdown text, for a ``text.table`` cell or a sentence."""
    return md.text(value)


def _value(v: Any) -> str:
    return "absent" if v is None else cell(repr(v) if isinstance(v, str) else v)


def runs_table(c: Any) -> Markdown:
    """One row per run: label, stage, what it was read from, entries, steps, total steps, launches."""
    rows = []
    for e in c.entries:
        a = e.analysis
        kinds = sorted({s["kind"] for s in a.sources if s.get("rows_used")})
        total = f"{a.total_steps} (from the {a.total_steps_source})" if a.total_steps else "unknown"
        rows.append([cell(e.label), a.stage, cell(", ".join(e.paths)), cell(", ".join(kinds)), a.entries,
                     f"{a.first_step} .. {a.latest_step}", total, a.segments, len(a.crashed_launches)])
    out = text.table(["run", "stage", "read from", "sources", "entries", "steps", "train_num_steps", "launches",
                      "launches without a step"], rows)
    died = [(e.label, x) for e in c.entries for x in died_early(e.analysis)]
    if died:
        out += "\n\n**Launches that died early or were set aside** (not in any number below)\n\n" + text.table(
            ["run", "file", "steps", "entries", "why", "config changed after it", "last error"],
            [[cell(label), md.code(x["file"]),
              f"{x['first_step']} .. {x['last_step']}" if x["first_step"] is not None else "none",
              x["entries"], cell(x["reason"]),
              cell("; ".join(f"{k['key']} {k['before']!r} -> {k['after']!r}" for k in x.get("config_changes", [])) or "-"),
              cell(x["last_error"] or "-")] for label, x in died])
    starts = [(e.label, e.analysis) for e in c.entries if e.analysis.first_step]
    if starts:
        out += "\n\n" + "\n".join(f"- {cell(label)}: {cell(provenance_sentence(a))}" for label, a in starts)
    if c.errors:
        out += "\n\n" + "\n".join(f"- **Not read:** {cell(err['label'])} ({cell(', '.join(err['paths']))}): "
                                  f"{cell(err['error'])}" for err in c.errors)
    return Markdown(out)


def comparability(c: Any) -> Markdown:
    """Before any verdict: whether the runs are like for like, and the aspects in which they are not."""
    if c.like_for_like:
        return Markdown("**Like for like:** the runs agree in data set, simulation, first-stage checkpoint, fine-tune "
                        "source, architecture, length (train_num_steps), LR and batch size, so a difference below is "
                        "the runs' own (other keys may differ: section 6).")
    rows = []
    for x in c.comparability:
        if not x["values"]:
            rows.append([cell(x["aspect"]), "-"] + ["-" for _ in c.labels])
        for key, values in x["values"].items():
            rows.append([cell(x["aspect"]), md.code(key)] + [_value(v) for v in values])
    return Markdown("**Not like for like:** these runs differ in "
                    + ", ".join(md.bold(x["aspect"]) for x in c.comparability)
                    + ". A verdict below says which run is lower, not why: with these differences it cannot tell "
                      "the runs' settings apart from their data, checkpoints or schedules.\n\n"
                    + text.table(["aspect", "config key"] + [cell(x) for x in c.labels], rows))


def verdicts(c: Any) -> Markdown:
    """Whether the runs are like for like, then the verdict per main metric on the shared steps, with the rule;
    levels at the last shared step and at each run's end (medians), the latest single values beside them."""
    if not c.metrics:
        return Markdown(comparability(c).data + "\n\nNo main loss is logged by these runs.")
    rows = []
    for name, v in c.metrics.items():
        shared = f"{v.shared_steps[0]} .. {v.shared_steps[1]}" if v.shared_steps else "none"
        why = cell(v.evidence.get("reason", "")) if v.verdict == "not comparable" else ""
        caveat = f"<br>({cell(v.caveat)})" if v.caveat else ""
        at_shared = " / ".join(num(x, ".5g") for x in v.at_shared_end) if v.at_shared_end else "-"
        rows.append([cell(name), shared, at_shared, " / ".join(num(x, ".5g") for x in v.end_levels),
                     " / ".join(num(x, ".5g") for x in v.latest), Md(f"**{cell(v.verdict)}** {why}{caveat}"),
                     num(v.ratio, ".3g")])
    labels = " / ".join(cell(x) for x in c.labels)
    n = max((v.level_n for v in c.metrics.values()), default=10)
    return Markdown(comparability(c).data + "\n\n"
                    + text.table(["metric", "shared steps", Md(f"level at the last shared step ({labels})"),
                                  Md(f"end level ({labels})"), Md(f"latest single value ({labels})"), "verdict",
                                  "ratio lowest / next"], rows)
                    + f"\n\nLevels are medians of {n} entries (the last {n} at or before the last shared step, and "
                    f"each run's last {n}), so one noisy entry does not rank the runs; the latest single values are "
                    "at different steps when the runs have different lengths. On the steps all runs logged, each run's "
                    "value for the verdict is the mean of its means over 20 equal step bins (fewer when a run has few "
                    "entries), so different logging frequencies weigh alike. "
                    "A run is *lower* when it is below every other by more than 3 combined noise units (each run's "
                    "point-to-point noise over the square root of its entries per bin) and by more than 1% of "
                    "the other's value; otherwise the runs are *indistinguishable*.")


def statistics(c: Any, names: list[str]) -> Markdown:
    """Latest, min, window mean and status of each metric, the runs side by side."""
    rows = []
    for name in names:
        for e in c.entries:
            m = e.analysis.metrics.get(name)
            if m is None or not m.count:
                rows.append([cell(name), cell(e.label), "not logged", "-", "-", "-"])
                continue
            window = f"{num(m.window_mean, '.4g')} ± {num(m.window_sigma, '.2g')}" if m.window_mean is not None else "-"
            rows.append([cell(name), cell(e.label), f"{num(m.latest)} @ {m.latest_step}", num(m.min, ".4g"), window,
                         md.bold(m.status)])
    return Markdown(text.table(["metric", "run", "latest @ step", "min", "window mean ± spread", "status"], rows))


def diagnostics(c: Any) -> Markdown:
    """Which diagnostic fires in which run (its severity), one row per diagnostic."""
    found: dict[str, dict[str, str]] = {}
    for e in c.entries:
        for d in e.analysis.diagnostics:
            found.setdefault(d.id, {})[e.label] = d.severity
    if not found:
        return Markdown("No diagnostic rule fired in any run.")
    order = sorted(found, key=lambda k: min(SEVERITY_ORDER.get(s, 3) for s in found[k].values()))
    rows = [[md.code(k)] + [found[k].get(e.label, "-") for e in c.entries] for k in order]
    return Markdown(text.table(["diagnostic"] + [cell(x) for x in c.labels], rows)
                    + "\n\nEach run's own report (`radiodiff report analyze`) has the sentence and the evidence.")


def config_diff(c: Any) -> Markdown:
    """The config keys whose values differ, flattened; keys that only some runs have say so."""
    if not c.config_diff:
        return Markdown("The runs' configs are identical (or none was found in their logs).")
    rows = []
    for d in c.config_diff:
        only = "only in " + ", ".join(cell(c.labels[i]) for i in d["only_in"]) if d["only_in"] is not None else ""
        rows.append([cell(d["key"])] + [_value(v) for v in d["values"]] + [only])
    return Markdown(text.table(["key"] + [cell(x) for x in c.labels] + ["note"], rows))
