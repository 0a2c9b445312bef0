"""`python -m w2vexp.compare outputs/<name>`: one table of a sweep's runs, best first.

Columns: the run (its overrides), status, steps, final loss, the eval metrics with their 95 %
bootstrap intervals, words/s and wall time, and "vs best": whether each row's analogy accuracy
can be told apart from the best row's (w2vexp.uncertainty). Best first means highest analogy
accuracy, then WordSim-353, then lowest loss; runs that did not finish come last.
`--aggregate seed` folds runs that differ only by seed into one row with mean +- std, the 95 %
t-interval of the mean and n. `--columns paper`: Mikolov et al.'s Table 1 (total, semantic,
syntactic accuracy, time). `--format table|markdown|csv`.
"""
from __future__ import annotations

import csv
import html
import datetime as dt
import io
import math
import sys
from pathlib import Path

from .names import kept_overrides, override_key
from .runs import find_runs, read_info

NUMERIC = ("steps", "final_loss", "analogy_acc", "analogy_semantic", "analogy_syntactic", "ws353", "simlex",
           "words_per_sec", "wall_s")
INTERVALS = ("analogy_acc", "analogy_semantic", "analogy_syntactic", "ws353", "simlex")  # with a 95 % interval
RANKED_BY = "analogy_acc"  # best first, and what the marks compare


def _wall(info: dict):
    try:
        return (dt.datetime.fromisoformat(info["ended"]) - dt.datetime.fromisoformat(info["started"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def collect(sweep: Path) -> list[dict]:
    """One row per run folder below `sweep` (a run folder itself gives one row), with each
    metric's 95 % interval when run.json has it (<metric>_lo, <metric>_hi)."""
    rows = []
    for d in find_runs(sweep):
        info = read_info(d)
        m = info.get("metrics") or {}
        overrides = kept_overrides(info.get("overrides") or [])
        row = {"run": d.name, "path": d, "members": [d], "overrides": overrides, "status": info.get("status"),
               "steps": info.get("steps"), "final_loss": info.get("final_loss"),
               "words_per_sec": info.get("words_per_sec"), "wall_s": _wall(info),
               "reason": info.get("reason") if info.get("status") != "finished" else None}
        for k in INTERVALS:
            row[k], row[k + "_lo"], row[k + "_hi"] = m.get(k), m.get(k + "_lo"), m.get(k + "_hi")
        rows.append(row)
    return rows


def sort_key(r: dict):
    """Best first: finished, highest analogy accuracy, then WordSim-353, then lowest loss."""
    def neg(v):
        return -v if isinstance(v, (int, float)) and not math.isnan(v) else math.inf
    loss = r["final_loss"] if isinstance(r["final_loss"], (int, float)) else math.inf
    return (r["status"] != "finished", neg(r["analogy_acc"]), neg(r["ws353"]), loss, r["run"])


def aggregate(rows: list[dict], key: str = "seed") -> list[dict]:
    """Fold runs that differ only by `key` into one row: for each number its mean, std, n and
    the 95 % t-interval of the mean over the runs (w2vexp.uncertainty.mean_interval)."""
    from .uncertainty import mean_interval

    groups: dict = {}
    for r in rows:
        rest = [o for o in r["overrides"] if override_key(o) != key]
        groups.setdefault(",".join(sorted(rest)) or "default", []).append(r)
    out = []
    for name, rs in groups.items():
        row = {"run": name, "overrides": [], "n": len(rs), "members": [r["path"] for r in rs],
               "values": {k: [r[k] for r in rs] for k in NUMERIC},
               "status": rs[0]["status"] if len({r["status"] for r in rs}) == 1 else "mixed", "reason": None}
        for k in NUMERIC:
            vals = [r[k] for r in rs if isinstance(r[k], (int, float)) and not math.isnan(r[k])]
            st = mean_interval(vals)
            row[k], row[k + "_std"] = st["mean"], st["std"]
            row[k + "_lo"], row[k + "_hi"] = st["lo"], st["hi"]
        out.append(row)
    return out


def _flags(path: Path):
    """Per-question analogy outcomes of a run (w2vexp.evaluate.analogy_flags of its vectors)."""
    from .evaluate import analogy_flags
    from .runs import load_vectors

    return analogy_flags(load_vectors(path))


def mark_best(rows: list[dict], aggregated: bool) -> None:
    """Set row["vs_best"] for finished rows sorted best first: "best" for the first, "~" where
    the analogy accuracy cannot be told from the best's at the 5 % level, "<" where it is lower.
    Runs of several seeds: Welch's t-test over the seeds' accuracies; single runs: a paired
    bootstrap over the questions both answered (w2vexp.uncertainty)."""
    from .uncertainty import paired_test, seeds_test

    done = [r for r in rows if r["status"] == "finished" and r.get(RANKED_BY) is not None]
    if not done:
        return
    best = done[0]
    best["vs_best"] = "best"
    cache: dict = {}

    def flags(path):
        if path not in cache:
            cache[path] = _flags(path)
        return cache[path]

    for r in done[1:]:
        if aggregated and r["n"] >= 2 and best["n"] >= 2:
            test = seeds_test(best["values"][RANKED_BY], r["values"][RANKED_BY])
        else:
            a, b = flags(best["members"][0]), flags(r["members"][0])
            both = (a >= 0) & (b >= 0)
            test = paired_test(a[both], b[both]) if both.any() else {"distinguishable": False, "p": 1.0}
        r["vs_best"] = "<" if test["distinguishable"] else "~"
        r["p_vs_best"] = test["p"]


def _fmt(k: str, v, std=None, lo=None, hi=None) -> str:
    if v is None:
        return "-"
    pct = k.startswith("analogy")
    if pct:
        s, sd = f"{100 * v:.2f}%", (f"{100 * std:.2f}" if std is not None else None)
    elif k in ("words_per_sec", "steps"):
        s, sd = f"{v:,.0f}", (f"{std:,.0f}" if std is not None else None)
    elif k == "wall_s":
        s, sd = f"{v:.0f}s", (f"{std:.0f}" if std is not None else None)
    else:
        s, sd = f"{v:.4f}", (f"{std:.4f}" if std is not None else None)
    if sd is not None:
        s = f"{s} ± {sd}"
    if lo is not None and hi is not None:
        s += f" [{100 * lo:.2f}, {100 * hi:.2f}]" if pct else f" [{lo:.3f}, {hi:.3f}]"
    return s


COLUMNS = [("run", "run"), ("status", "status"), ("steps", "steps"), ("final_loss", "final loss"),
           ("analogy_acc", "analogy"), ("ws353", "ws353"), ("simlex", "simlex"),
           ("words_per_sec", "words/s"), ("wall_s", "wall")]
# Mikolov et al. 2013 (NIPS), Table 1: total, semantic and syntactic analogy accuracy, and time
PAPER_COLUMNS = [("run", "run"), ("analogy_acc", "total"), ("analogy_semantic", "semantic"),
                 ("analogy_syntactic", "syntactic"), ("wall_s", "time")]


def render(rows: list[dict], fmt: str, aggregated: bool, columns: str = "default") -> str:
    cols = (PAPER_COLUMNS if columns == "paper" else COLUMNS) + ([("n", "n")] if aggregated else [])
    if any("vs_best" in r for r in rows):
        cols = cols + [("vs_best", "vs best")]
    if fmt == "csv":
        buf = io.StringIO()
        names = [k for k, _ in cols] + [k + end for k in INTERVALS for end in ("_lo", "_hi")] + \
            ([k + "_std" for k in NUMERIC] if aggregated else ["reason"])
        w = csv.DictWriter(buf, fieldnames=names, extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in names})
        return buf.getvalue()
    table = [[h for _, h in cols]]
    for r in rows:
        table.append([str(r.get(k) or "") if k in ("run", "status", "n", "vs_best") else
                      _fmt(k, r[k], r.get(k + "_std") if aggregated else None,
                           *((r.get(k + "_lo"), r.get(k + "_hi")) if k in INTERVALS else ()))
                      for k, _ in cols])
    if fmt == "html":  # the table alone (w2vexp.report explains the marks in its own words)
        cell = lambda tag, c: f"<{tag}>{html.escape(c)}</{tag}>"  # noqa: E731
        return "\n".join(["<table>", "<tr>" + "".join(cell("th", c) for c in table[0]) + "</tr>",
                          *("<tr>" + "".join(cell("td", c) for c in row) + "</tr>" for row in table[1:]),
                          "</table>"])
    if fmt == "markdown":
        lines = ["| " + " | ".join(table[0]) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in table[1:]]
    else:
        widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table]
    failed = [r for r in rows if r.get("reason")]
    lines += [f"{r['run']}: {r['status']} - {r['reason']}" for r in failed] if fmt != "markdown" else []
    if any("vs_best" in r for r in rows) and fmt != "csv":
        how = ("Welch's t-test over seeds" if aggregated else "a paired bootstrap over the analogy questions")
        lines.append(f"[...]: 95% intervals ({'t-interval of the mean over seeds' if aggregated else 'bootstrap'}); "
                     f"vs best: ~ cannot be told from the best, < lower (p < 0.05, {how})")
    return "\n".join(lines) + "\n"


def ranked(rows: list[dict], aggregated: bool, marks: bool = True) -> list[dict]:
    """The rows (of `collect`, or of `aggregate` when `aggregated`) best first, marked against
    the best (`mark_best`) when there are several and `marks`."""
    rows = sorted(rows, key=sort_key)
    if marks and len(rows) > 1:
        mark_best(rows, aggregated)
    return rows


def compare_table(sweep: Path, fmt: str = "table", aggregate_by=None, columns: str = "default",
                  marks: bool = True) -> str:
    rows = collect(sweep)
    if aggregate_by:
        rows = aggregate(rows, aggregate_by)
    return render(ranked(rows, bool(aggregate_by), marks), fmt, bool(aggregate_by), columns)


if __name__ == "__main__":  # python -m w2vexp.compare: the command is w2vexp.cli.compare
    from .cli.compare import main

    sys.exit(main())
