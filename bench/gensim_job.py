#!/usr/bin/env python
"""What a gensim user types: read a text file, train Word2Vec, save the vectors; one process.

    python bench/gensim_job.py CORPUS OUT_DIR --sg 1 --dim 128 --epochs 5 --workers 2

A corpus under 50 MB is split like w2vexp's data=file (lower-case, runs of letters) into
sentences of 1000 words held in memory (gensim's fastest way to be fed); a larger one is given
to gensim as `corpus_file` (its fastest path for files: its own reader, split on white space,
which equals w2vexp's tokenisation for a normalised text such as the Zipf corpus). Writes OUT_DIR/vectors.kv and OUT_DIR/timing.json
(seconds of vocabulary building and of training, the training loop's own figure)."""
from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

WORD = re.compile(r"[^\W\d_]+")


class Sentences:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self):
        rest: list = []
        tail = ""
        with open(self.path, encoding="utf-8") as fh:
            while True:
                block = fh.read(16 << 20)
                text = tail + block
                if block:  # keep a word cut at the block's end for the next block
                    m = re.search(r"[^\W\d_]+$", text)
                    tail, text = (text[m.start():], text[:m.start()]) if m else ("", text)
                rest += WORD.findall(text.lower())
                n = len(rest) // 1000 * 1000
                for i in range(0, n, 1000):
                    yield rest[i:i + 1000]
                rest = rest[n:]
                if not block:
                    break
        if rest:
            yield rest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--sg", type=int, default=1)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    from gensim.models import Word2Vec

    logging.getLogger("gensim").setLevel(logging.ERROR)
    m = Word2Vec(vector_size=a.dim, window=a.window, min_count=a.min_count, sample=a.sample, sg=a.sg,
                 negative=a.negative, hs=0, workers=a.workers, seed=a.seed)
    if a.corpus.stat().st_size <= 50e6:  # in memory: gensim's fastest way to be fed a small corpus
        sentences = list(Sentences(a.corpus))
        t0 = time.perf_counter()
        m.build_vocab(sentences)
        t1 = time.perf_counter()
        m.train(sentences, total_examples=m.corpus_count, epochs=a.epochs)
    else:  # gensim's fastest path for a file: corpus_file (its own reader, split on white space,
        # which is w2vexp's tokenisation for an already normalised text such as the Zipf corpus)
        t0 = time.perf_counter()
        m.build_vocab(corpus_file=str(a.corpus))
        t1 = time.perf_counter()
        m.train(corpus_file=str(a.corpus), total_examples=m.corpus_count, total_words=m.corpus_total_words,
                epochs=a.epochs)
    t2 = time.perf_counter()
    a.out.mkdir(parents=True, exist_ok=True)
    m.wv.save(str(a.out / "vectors.kv"))
    (a.out / "timing.json").write_text(json.dumps({"vocab_s": t1 - t0, "train_s": t2 - t1,
                                                   "words": m.corpus_total_words}))


if __name__ == "__main__":
    main()
