"""`python -m w2vexp.report outputs/<name>`: one self-contained HTML page of a sweep (table with
intervals, curves, stability across seeds, a t-SNE map of the best run)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..report import build
from . import fail
from .plot import require_plot_extra


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep", type=Path, help="a sweep folder, e.g. outputs/<name>")
    ap.add_argument("--out", type=Path, help="where to write the page (default: <sweep>/report.html)")
    args = ap.parse_args(argv)
    try:
        require_plot_extra("report")
        path = build(args.sweep, args.out)
    except Exception as e:  # noqa: BLE001
        return fail(e)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
