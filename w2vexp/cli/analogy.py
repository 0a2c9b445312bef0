"""`python -m w2vexp.analogy RUN_DIR A B C [--k 5]`: the words nearest to A - B + C
(`king man woman` answers king - man + woman), by gensim's most_similar."""
from __future__ import annotations

import argparse
import sys

from ..runs import load_run
from . import fail, resolve_words


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.analogy",
                                 description="Solve A - B + C (king man woman -> queen?) in a finished run.")
    ap.add_argument("run_dir", help="a finished run folder")
    ap.add_argument("a", metavar="A")
    ap.add_argument("b", metavar="B")
    ap.add_argument("c", metavar="C")
    ap.add_argument("--k", type=int, default=5, help="how many answers (default 5)")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run_dir)
        a, b, c = resolve_words(run.kv, [args.a, args.b, args.c])
    except Exception as e:  # noqa: BLE001
        return fail(e)
    print(f"{a} - {b} + {c}:")
    for word, sim in run.kv.most_similar(positive=[a, c], negative=[b], topn=args.k):
        print(f"  {word:<20} {sim:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
