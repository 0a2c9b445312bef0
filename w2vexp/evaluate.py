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

import contextlib
import functools
import logging
import sys

import numpy as np

from .artifacts import keyed_vectors
from .sources import gensim_datapath

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


@functools.lru_cache(maxsize=None)
def _analogy_questions() -> tuple:
    """questions-words.txt as ((section, ((A, B, C, EXPECTED), ...)), ...), upper-cased as
    gensim's case-insensitive evaluation reads it; lines that are not four words are skipped."""
    sections = []
    with open(gensim_datapath(ANALOGIES), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(": "):
                sections.append((line.lstrip(": ").strip(), []))
            elif sections and len(line.split()) == 4:
                sections[-1][1].append(tuple(w.upper() for w in line.split()))
    return tuple((name, tuple(qs)) for name, qs in sections)


def analogy_sections(kv, restrict_vocab: int = RESTRICT_VOCAB, chunk: int = 2048) -> list:
    """gensim's `evaluate_word_analogies(restrict_vocab, case_insensitive=True)`, batched.

    The same questions (those whose four words are among the first `restrict_vocab` words), the
    same rule (the answer is the word whose unit vector is nearest to the unit mean of b, c and
    -a, a, b and c themselves excluded) and the same float32 arithmetic, but every question of a
    chunk is answered by one matrix product instead of one `most_similar` call each: 8.5 s -> a
    fraction of a second at a 23.5k vocabulary. Returns [{"section", "correct", "incorrect"}]
    with counts, the sections of the file in order (gensim's "Total accuracy" left out).
    A vocabulary with words that differ only by case falls back to gensim's own method."""
    keys = list(kv.index_to_key[:restrict_vocab])
    ok_vocab = {k.upper(): i for i, k in reversed(list(enumerate(keys)))}
    if len(ok_vocab) != len(keys):  # case variants: gensim's per-question rules, its own code
        with _quiet(), np.errstate(all="ignore"):
            _, secs = kv.evaluate_word_analogies(str(gensim_datapath(ANALOGIES)), restrict_vocab=restrict_vocab,
                                                 case_insensitive=True)
        return [{"section": x["section"], "correct": len(x["correct"]), "incorrect": len(x["incorrect"])}
                for x in secs[:-1]]
    vectors = np.asarray(kv.vectors[: len(keys)], dtype=np.float32)
    with np.errstate(all="ignore"):
        unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]  # gensim's get_normed_vectors()
    out = []
    for name, questions in _analogy_questions():
        q = np.array([[ok_vocab[w] for w in qs] for qs in questions if all(w in ok_vocab for w in qs)],
                     dtype=np.int64).reshape(-1, 4)
        correct = 0
        for start in range(0, len(q), chunk):
            a, b, c, expected = q[start:start + chunk].T
            mean = np.stack([unit[b], unit[c], -unit[a]]).mean(axis=0)  # most_similar's weighted mean
            with np.errstate(all="ignore"):
                mean = (mean / np.linalg.norm(mean, axis=1)[:, None]).astype(np.float32)  # matutils.unitvec
            sims = unit @ mean.T  # [words, questions]
            cols = np.arange(len(a))
            sims[a, cols] = sims[b, cols] = sims[c, cols] = -np.inf
            correct += int((np.argmax(sims, axis=0) == expected).sum())
        out.append({"section": name, "correct": correct, "incorrect": len(q) - correct})
    return out


def evaluate_kv(kv) -> dict:
    """All metrics of one set of vectors: analogy_acc (+ _semantic, _syntactic, _n: questions
    answered), ws353, simlex (Spearman; NaN when too few pairs are in the vocabulary) -- the
    numbers of gensim's evaluate_word_analogies / evaluate_word_pairs."""
    out = {}
    sections = analogy_sections(kv)
    right = sum(s["correct"] for s in sections)
    out["analogy_n"] = right + sum(s["incorrect"] for s in sections)
    out["analogy_acc"] = right / out["analogy_n"] if out["analogy_n"] else 0.0
    for name, semantic in (("analogy_semantic", True), ("analogy_syntactic", False)):
        part = [s for s in sections if s["section"].startswith("gram") != semantic]
        right = sum(s["correct"] for s in part)
        n = right + sum(s["incorrect"] for s in part)
        out[name] = right / n if n else 0.0
    with _quiet(), np.errstate(all="ignore"):
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


if __name__ == "__main__":  # python -m w2vexp.evaluate: the command is w2vexp.cli.evaluate
    from .cli.evaluate import main

    sys.exit(main())
