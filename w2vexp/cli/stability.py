"""`python -m w2vexp.stability outputs/<name>`: how much the vectors of runs that differ only by
seed agree (nearest-neighbour overlap by frequency band, cosine distance after alignment)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..stability import plot, stability, table
from . import fail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.stability",
                                 description="Stability across seeds: 10-NN overlap and aligned cosine distances.")
    ap.add_argument("sweep", type=Path, help="a sweep folder with runs that differ only by seed, e.g. outputs/<name>")
    ap.add_argument("--top", type=int, default=10000, help="the most frequent words compared (default 10000)")
    ap.add_argument("--out", type=Path, help="where to write the PNG (default: <sweep>/stability.png)")
    args = ap.parse_args(argv)
    try:
        result = stability(args.sweep, args.top)
    except Exception as e:  # noqa: BLE001
        return fail(e)
    sys.stdout.write(table(result))
    path = plot(result, args.out or args.sweep / "stability.png")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
