"""`python -m w2vexp.compare outputs/<name>`: one table of a sweep's runs, best first."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..compare import compare_table
from . import fail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.compare",
                                 description="One table of a sweep's runs, best first (highest analogy accuracy).")
    ap.add_argument("sweep", type=Path, help="a sweep folder, e.g. outputs/<name>")
    ap.add_argument("--format", choices=("table", "markdown", "csv"), default="table")
    ap.add_argument("--aggregate", metavar="KEY", choices=("seed",),
                    help="fold runs that differ only by this key (seed) into mean ± std, a 95%% interval and n")
    ap.add_argument("--columns", choices=("default", "paper"), default="default",
                    help="paper: Mikolov et al. 2013's Table 1 (total, semantic, syntactic accuracy, time)")
    args = ap.parse_args(argv)
    try:
        sys.stdout.write(compare_table(args.sweep, args.format, args.aggregate, args.columns))
    except Exception as e:  # noqa: BLE001
        return fail(e)
    return 0


if __name__ == "__main__":
    sys.exit(main())
