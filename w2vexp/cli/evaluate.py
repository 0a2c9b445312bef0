"""`python -m w2vexp.evaluate RUN_DIR`: analogy accuracy, WordSim-353 and SimLex-999 of a finished
run, as gensim computes them."""
from __future__ import annotations

import argparse
import sys

from ..evaluate import RESTRICT_VOCAB, evaluate_kv, format_value
from ..runs import load_run
from . import fail


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.evaluate",
                                 description="Analogy accuracy, WordSim-353 and SimLex-999 of a finished run.")
    ap.add_argument("run_dir", help="a finished run folder")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except Exception as e:  # noqa: BLE001 - tools report user errors in one line
        return fail(e)
    m = evaluate_kv(run.kv, intervals=True)
    print(f"{run.path}:  [95% bootstrap intervals over questions / word pairs]")
    print(f"  analogy (questions-words, top {RESTRICT_VOCAB}): {format_value(m, 'analogy_acc')} "
          f"of {m['analogy_n']} questions  (semantic {format_value(m, 'analogy_semantic')}, "
          f"syntactic {format_value(m, 'analogy_syntactic')})")
    for key, label in (("ws353", "WordSim-353"), ("simlex", "SimLex-999")):
        print(f"  {label} Spearman: {format_value(m, key)}  "
              f"(pairs out of vocabulary: {m.get(key + '_oov') or 0:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
