"""`python -m w2vexp.compare outputs/<name>`: one table of a sweep's runs, best first.

Columns: the run (its overrides), status, steps, final loss, the eval metrics, words/s and wall
time. Best first means highest analogy accuracy, then WordSim-353, then lowest loss; runs that
did not finish come last. `--aggregate seed` folds runs that differ only by seed into one row
with mean +- std and n. `--format table|markdown|csv`.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
import sys
from pathlib import Path

from .names import kept_overrides, override_key
from .runs import find_runs, read_info

NUMERIC = ("steps", "final_loss", "analogy_acc", "ws353", "simlex", "words_per_sec", "wall_s")


def _wall(info: dict):
    try:
        return (dt.datetime.fromisoformat(info["ended"]) - dt.datetime.fromisoformat(info["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def collect(sweep: Path) -> list[dict]:
    """One row per run folder below `sweep` (a run folder itself gives one row)."""
    rows = []
    for d in find_runs(sweep):
        info = read_info(d)
        m = info.get("metrics") or {}
        overrides = kept_overrides(info.get("overrides") or [])
        rows.append({"run": d.name, "overrides": overrides, "status": info.get("status"),
                     "steps": info.get("steps"), "final_loss": info.get("final_loss"),
                     "analogy_acc": m.get("analogy_acc"), "ws353": m.get("ws353"), "simlex": m.get("simlex"),
                     "words_per_sec": info.get("words_per_sec"), "wall_s": _wall(info),
                     "reason": info.get("reason") if info.get("status") != "finished" else None})
    return rows


def sort_key(r: dict):
    """Best first: finished, highest analogy accuracy, then WordSim-353, then lowest loss."""
    def neg(v):
        return -v if isinstance(v, (int, float)) and not math.isnan(v) else math.inf
    loss = r["final_loss"] if isinstance(r["final_loss"], (int, float)) else math.inf
    return (r["status"] != "finished", neg(r["analogy_acc"]), neg(r["ws353"]), loss, r["run"])


def aggregate(rows: list[dict], key: str = "seed") -> list[dict]:
    """Fold runs that differ only by `key` into one row: mean, std and n of each number."""
    groups: dict = {}
    for r in rows:
        rest = [o for o in r["overrides"] if override_key(o) != key]
        groups.setdefault(",".join(sorted(rest)) or "default", []).append(r)
    out = []
    for name, rs in groups.items():
        row = {"run": name, "overrides": [], "n": len(rs),
               "status": rs[0]["status"] if len({r["status"] for r in rs}) == 1 else "mixed", "reason": None}
        for k in NUMERIC:
            vals = [r[k] for r in rs if isinstance(r[k], (int, float)) and not math.isnan(r[k])]
            row[k] = statistics.fmean(vals) if vals else None
            row[k + "_std"] = statistics.stdev(vals) if len(vals) > 1 else (0.0 if vals else None)
        out.append(row)
    return out


def _fmt(k: str, v, std=None) -> str:
    if v is None:
        return "-"
    if k in ("analogy_acc",):
        s, sd = f"{100 * v:.2f}%", (f"{100 * std:.2f}" if std is not None else None)
    elif k in ("words_per_sec", "steps"):
        s, sd = f"{v:,.0f}", (f"{std:,.0f}" if std is not None else None)
    elif k == "wall_s":
        s, sd = f"{v:.0f}s", (f"{std:.0f}" if std is not None else None)
    else:
        s, sd = f"{v:.4f}", (f"{std:.4f}" if std is not None else None)
    return f"{s} ± {sd}" if sd is not None else s


COLUMNS = [("run", "run"), ("status", "status"), ("steps", "steps"), ("final_loss", "final loss"),
           ("analogy_acc", "analogy"), ("ws353", "ws353"), ("simlex", "simlex"),
           ("words_per_sec", "words/s"), ("wall_s", "wall")]


def render(rows: list[dict], fmt: str, aggregated: bool) -> str:
    cols = COLUMNS + ([("n", "n")] if aggregated else [])
    if fmt == "csv":
        buf = io.StringIO()
        names = [k for k, _ in cols] + ([k + "_std" for k in NUMERIC] if aggregated else ["reason"])
        w = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in names})
        return buf.getvalue()
    table = [[h for _, h in cols]]
    for r in rows:
        table.append([str(r[k]) if k in ("run", "status", "n") else
                      _fmt(k, r[k], r.get(k + "_std") if aggregated else None) for k, _ in cols])
    if fmt == "markdown":
        lines = ["| " + " | ".join(table[0]) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    else:
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    failed = [r for r in rows if r.get("reason")]
    lines += [f"{r['run']}: {r['status']} - {r['reason']}" for r in failed] if fmt != "markdown" else []
    return "\n".join(lines) + "\n"


def compare_table(sweep: Path, fmt: str = "table", aggregate_by=None) -> str:
    rows = collect(sweep)
    if aggregate_by:
        rows = aggregate(rows, aggregate_by)
    rows.sort(key=sort_key)
    return render(rows, fmt, bool(aggregate_by))


if __name__ == "__main__":  # python -m w2vexp.compare: the command is w2vexp.cli.compare
    from .cli.compare import main

    sys.exit(main())
