"""`python -m w2vexp.neighbors RUN_DIR WORD [WORD ...] [--k 10]`: cosine nearest neighbours."""
from __future__ import annotations

import argparse
import sys

from ..runs import load_run
from . import fail, resolve_words


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.neighbors",
                                 description="Cosine nearest neighbours of words in a finished run's vectors.")
    ap.add_argument("run_dir", help="a finished run folder, e.g. outputs/default/default")
    ap.add_argument("words", nargs="+", metavar="WORD")
    ap.add_argument("--k", type=int, default=10, help="how many neighbours (default 10)")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run_dir)
        words = resolve_words(run.kv, args.words)
    except Exception as e:  # noqa: BLE001
        return fail(e)
    for w in words:
        print(f"{w}:")
        for other, sim in run.kv.most_similar(w, topn=args.k):
            print(f"  {other:<20} {sim:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
