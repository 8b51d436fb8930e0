"""The terminal summary of a comparison (``radiodiff compare``): runs, verdicts, config keys that differ."""
from __future__ import annotations

from typing import Any

from ..formatting import num


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(head), line(["-" * w for w in widths])] + [line(r) for r in rows]


def comparison_text(c: Any) -> str:
    """Runs, the verdict per main metric, the diagnostics per run and the config keys that differ."""
    rows = [[e.label, e.analysis.stage, str(e.analysis.entries), f"{e.analysis.first_step}..{e.analysis.latest_step}",
             f"{e.analysis.total_steps} ({e.analysis.total_steps_source})" if e.analysis.total_steps else "unknown",
             ", ".join(e.paths)] for e in c.entries]
    out = _table(["run", "stage", "entries", "steps", "total steps", "read from"], rows)
    vrows = [[m, f"{v.shared_steps[0]}..{v.shared_steps[1]}" if v.shared_steps else "-",
              " / ".join(num(x, ".5g") for x in v.latest), v.verdict, num(v.ratio, ".3g")]
             for m, v in c.metrics.items()]
    out += ["", "Verdicts on the shared steps (" + " / ".join(c.labels) + "):"]
    out += _table(["metric", "shared steps", "latest", "verdict", "ratio"], vrows) if vrows else ["  none"]
    out += ["", "Diagnostics:"] + [f"  {e.label}: {', '.join(e.analysis.diagnostic_ids) or 'none'}" for e in c.entries]
    out += ["", f"Config keys that differ ({len(c.config_diff)}):"]
    for d in c.config_diff:
        only = f"  [only in {', '.join(c.labels[i] for i in d['only_in'])}]" if d["only_in"] is not None else ""
        out.append(f"  {d['key']}: " + " | ".join(repr(v) for v in d["values"]) + only)
    for err in c.errors:
        out += ["", f"NOT READ: {err['label']} ({', '.join(err['paths'])}): {err['error']}"]
    return "\n".join(out)
