"""Evaluation with gensim's own methods and the data gensim ships (SPEC section 8).

- analogy accuracy on Mikolov's questions-words set, restricted to the 30000 most frequent
  words and case-insensitive (gensim's `evaluate_word_analogies`), also split into its semantic
  (the first five sections) and syntactic (`gram*`) parts;
- Spearman correlation with WordSim-353 and SimLex-999 (`evaluate_word_pairs`).

`python -m w2vexp.evaluate RUN_DIR` prints them for a finished run. During training they are
computed every `train.eval_every` steps and at the end, logged as `eval/analogy_acc`,
`eval/ws353`, `eval/simlex` and stored in run.json.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import numpy as np

from .artifacts import keyed_vectors
from .data import gensim_datapath

RESTRICT_VOCAB = 30000
ANALOGIES = "questions-words.txt"
WS353 = "wordsim353.tsv"
SIMLEX = "simlex999.txt"
from .config import OPTIMIZED_METRICS as METRICS  # noqa: E402 - one list of the headline metrics


@contextlib.contextmanager
def _quiet():
    log = logging.getLogger("gensim")
    old = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(old)


def evaluate_kv(kv) -> dict:
    """All metrics of one set of vectors: analogy_acc (+ _semantic, _syntactic, _n: questions
    answered), ws353, simlex (Spearman; NaN when too few pairs are in the vocabulary)."""
    out = {}
    with _quiet(), np.errstate(all="ignore"):
        score, sections = kv.evaluate_word_analogies(str(gensim_datapath(ANALOGIES)),
                                                     restrict_vocab=RESTRICT_VOCAB, case_insensitive=True)
        out["analogy_acc"] = float(score) if sections[-1]["correct"] or sections[-1]["incorrect"] else 0.0
        sem = [s for s in sections[:-1] if not s["section"].startswith("gram")]
        syn = [s for s in sections[:-1] if s["section"].startswith("gram")]
        for name, part in (("analogy_semantic", sem), ("analogy_syntactic", syn)):
            right = sum(len(s["correct"]) for s in part)
            n = right + sum(len(s["incorrect"]) for s in part)
            out[name] = right / n if n else 0.0
        out["analogy_n"] = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
        for key, fname in (("ws353", WS353), ("simlex", SIMLEX)):
            try:
                _pearson, spearman, oov = kv.evaluate_word_pairs(str(gensim_datapath(fname)),
                                                                 restrict_vocab=RESTRICT_VOCAB,
                                                                 case_insensitive=True)
                out[key] = float(spearman.statistic if hasattr(spearman, "statistic") else spearman[0])
                out[f"{key}_oov"] = float(oov)
            except (ValueError, ZeroDivisionError, IndexError):
                out[key] = float("nan")
    return {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in out.items()}


def evaluate_embeddings(words: list, emb: np.ndarray) -> dict:
    return evaluate_kv(keyed_vectors(words, emb))


def format_metrics(m: dict) -> str:
    def f(v, pct=False):
        if v is None:
            return "n/a"
        return f"{100 * v:.2f}%" if pct else f"{v:.4f}"

    return (f"analogy accuracy {f(m.get('analogy_acc'), True)} of {m.get('analogy_n', 0)} questions "
            f"(semantic {f(m.get('analogy_semantic'), True)}, syntactic {f(m.get('analogy_syntactic'), True)}); "
            f"WordSim-353 Spearman {f(m.get('ws353'))}; SimLex-999 Spearman {f(m.get('simlex'))}")


def main(argv=None) -> int:
    from .tools import fail, load_run

    ap = argparse.ArgumentParser(prog="python -m w2vexp.evaluate",
                                 description="Analogy accuracy, WordSim-353 and SimLex-999 of a finished run.")
    ap.add_argument("run_dir", help="a finished run folder")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run_dir)
    except Exception as e:  # noqa: BLE001 - tools report user errors in one line
        return fail(e)
    m = evaluate_kv(run.kv)
    print(f"{run.path}:")
    print(f"  analogy (questions-words, top {RESTRICT_VOCAB}): {100 * m['analogy_acc']:.2f}% "
          f"of {m['analogy_n']} questions  (semantic {100 * m['analogy_semantic']:.2f}%, "
          f"syntactic {100 * m['analogy_syntactic']:.2f}%)")
    for key, label in (("ws353", "WordSim-353"), ("simlex", "SimLex-999")):
        v = m.get(key)
        print(f"  {label} Spearman: {'n/a' if v is None else f'{v:.4f}'}  "
              f"(pairs out of vocabulary: {m.get(key + '_oov') or 0:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
