"""The terminal summary of a comparison (``radiodiff compare``): runs, whether they are like for like,
verdicts, launches that died early, config keys that differ."""
from __future__ import annotations

from typing import Any

from ..formatting import num
from .compare import died_early


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]


def comparability_lines(c: Any) -> list[str]:
    """Whether the runs are like for like, and in which aspects they are not."""
    if c.like_for_like:
        return ["Like for like: data set, simulation, checkpoints, architecture, length, LR and batch size agree."]
    out = ["NOT LIKE FOR LIKE: the runs differ in " + ", ".join(x["aspect"] for x in c.comparability) + ":"]
    for x in c.comparability:
        for key, values in x["values"].items():
            out.append(f"  {x['aspect']}: {key} = " + " | ".join(repr(v) for v in values))
    return out


def comparison_text(c: Any) -> str:
    """Runs, comparability, the verdict per main metric, launches that died early, the diagnostics per run
    and the config keys that differ."""
    rows = [[e.label, e.analysis.stage, str(e.analysis.entries), f"{e.analysis.first_step}..{e.analysis.latest_step}",
             f"{e.analysis.total_steps} ({e.analysis.total_steps_source})" if e.analysis.total_steps else "unknown",
             ", ".join(e.paths)] for e in c.entries]
    out = _table(["run", "stage", "entries", "steps", "total steps", "read from"], rows)
    out += [""] + comparability_lines(c)
    n = max((v.level_n for v in c.metrics.values()), default=10)
    vrows = [[m, f"{v.shared_steps[0]}..{v.shared_steps[1]}" if v.shared_steps else "-",
              " / ".join(num(x, ".5g") for x in v.at_shared_end) if v.at_shared_end else "-",
              " / ".join(num(x, ".5g") for x in v.end_levels), v.verdict + (f" ({v.caveat})" if v.caveat else ""),
              num(v.ratio, ".3g")]
             for m, v in c.metrics.items()]
    out += ["", "Verdicts on the shared steps (" + " / ".join(c.labels) + f"; levels are medians of {n} entries):"]
    out += _table(["metric", "shared steps", "level at last shared step", "end level", "verdict", "ratio"], vrows) \
        if vrows else ["  none"]
    died = [(e.label, x) for e in c.entries for x in died_early(e.analysis)]
    if died:
        out += ["", "Launches that died early or were set aside:"]
        out += [f"  {label}: {x['file']} ({x['entries']} entries; {x['reason']})"
                + (f"; {x['last_error']}" if x["last_error"] else "") for label, x in died]
    out += ["", "Diagnostics:"] + [f"  {e.label}: {', '.join(e.analysis.diagnostic_ids) or 'none'}" for e in c.entries]
    out += ["", f"Config keys that differ ({len(c.config_diff)}):"]
    for d in c.config_diff:
        only = f"  [only in {', '.join(c.labels[i] for i in d['only_in'])}]" if d["only_in"] is not None else ""
        out.append(f"  {d['key']}: " + " | ".join(repr(v) for v in d["values"]) + only)
    for err in c.errors:
        out += ["", f"NOT READ: {err['label']} ({', '.join(err['paths'])}): {err['error']}"]
    return "\n".join(out)
