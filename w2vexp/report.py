"""`python -m w2vexp.report outputs/<name>`: one self-contained HTML page of a sweep.

The page (`<sweep>/report.html`, every picture embedded as a data: URI, no network needed) holds
the compare table with 95 % intervals and the "vs best" marks (seeds aggregated when the sweep
has several), Mikolov et al.'s Table 1 columns, the loss and evaluation curves, the stability
across seeds (when runs differ only by seed) and a t-SNE map of the best run.
"""
from __future__ import annotations

import base64
import html
import sys
import tempfile
from pathlib import Path

from .compare import aggregate, collect, ranked, render, sort_key


def _png(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def build(sweep: Path, out: Path | None = None, top: int = 300) -> Path:
    """Write the report of `sweep` (default `<sweep>/report.html`); return its path."""
    from .plot import sweep_curves, tsne_map
    from .stability import plot as stability_plot
    from .stability import stability, table

    sweep = Path(sweep)
    rows = sorted(collect(sweep), key=sort_key)
    seeds = aggregate(rows, "seed")
    aggregated = any(g["n"] >= 2 for g in seeds)
    shown = ranked(seeds if aggregated else rows, aggregated)
    parts = [f"<h1>w2vexp sweep {html.escape(str(sweep))}</h1>",
             f"<p>{len(rows)} runs{' (seeds aggregated: mean ± std [95% t-interval], n)' if aggregated else ''}; "
             "best first by analogy accuracy. vs best: ~ cannot be told from the best, &lt; lower at p &lt; 0.05 "
             f"({'Welch’s t-test over seeds' if aggregated else 'paired bootstrap over the analogy questions'}).</p>",
             "<h2>Runs</h2>", render(shown, "html", aggregated, "default"),
             "<h2>Mikolov et al. 2013, Table 1 columns</h2>", render(shown, "html", aggregated, "paper")]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            parts += ["<h2>Loss and evaluation curves</h2>",
                      f'<img alt="curves" src="{_png(sweep_curves(sweep, tmp / "curves.png"))}">']
        except Exception as e:  # noqa: BLE001 - a sweep without event files still gets its table
            parts.append(f"<p>No curves: {html.escape(str(e))}</p>")
        if aggregated:
            result = stability(sweep)
            parts += ["<h2>Stability across seeds</h2>", f"<pre>{html.escape(table(result))}</pre>",
                      f'<img alt="stability" src="{_png(stability_plot(result, tmp / "stability.png"))}">']
        best = next((r for r in rows if r["status"] == "finished"), None)
        if best is not None:
            parts += [f"<h2>t-SNE map of the best run ({html.escape(best['run'])})</h2>",
                      f'<img alt="tsne" src="{_png(tsne_map(best["path"], tmp / "tsne.png", top=top))}">']
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>w2vexp report: "
            f"{html.escape(sweep.name)}</title><style>body{{font-family:sans-serif;margin:2em}}"
            "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px;"
            "text-align:left}img{max-width:100%}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")
    out = Path(out) if out else sweep / "report.html"
    out.write_text(page, encoding="utf-8")
    return out


if __name__ == "__main__":  # python -m w2vexp.report: the command is w2vexp.cli.report
    from .cli.report import main

    sys.exit(main())
