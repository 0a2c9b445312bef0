#!/usr/bin/env python
"""w2vexp against gensim's Word2Vec on the same corpus with the same hyperparameters.

    python bench/compare_gensim.py [--corpus PATH] [--runs 3] [--models sg cbow]
    python bench/compare_gensim.py --zipf 17000000 --runs 1 --models sg --epochs 1   # memory

Skip-gram (and CBOW) with negative sampling, window 5, dim 100, min_count 5, sample 1e-3,
5 epochs, 2 threads. Each training runs in a fresh subprocess (so peak RSS is its own), gensim
and w2vexp alternately, `--runs` times each. Reported per tool: words/s = corpus words x epochs /
training wall time (vocabulary building is timed apart and excluded), peak RSS, analogy accuracy
and WordSim-353 (both evaluated by gensim's own methods, w2vexp.evaluate), and the w2vexp/gensim
words/s ratio (median and range). The default corpus is wiki_sample.

`--zipf N` trains on a synthetic corpus of N tokens drawn from a Zipf law over 250,000 word
types (text8 has 17M tokens and 254k types) to measure memory at text8 scale; the peak RSS of a
process that only starts TensorFlow and runs one compiled function (the TensorFlow runtime) is
reported beside it. gensim streams corpora larger than 50 MB from the file (as a user would with
LineSentence) so that its figure is its model, not a Python list of the corpus.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

SETTINGS = dict(window=5, dim=100, min_count=5, sample=1e-3, epochs=5, negative=5, threads=2)
# w2vexp's fast settings: batches of 4096 cut into 8 parts, each sharing one pool of 8 noise
# words (batched matrix products; the same expected objective as 5 per example), a constant lr
FAST = ["loss.shared_negatives=8", "loss.negative_groups=8", "batch_size=4096", "lr=2.0",
        "optimizer.schedule=constant"]


class Sentences:
    """The corpus as sentences of 1000 words, read from the file on every pass."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self):
        from w2vexp.data import iter_text_blocks, tokenize

        rest: list = []
        for block in iter_text_blocks(self.path):
            rest += tokenize(block)
            n = len(rest) // 1000 * 1000
            for i in range(0, n, 1000):
                yield rest[i:i + 1000]
            rest = rest[n:]
        if rest:
            yield rest


def zipf_corpus(n_tokens: int, folder: Path, types: int = 250_000, seed: int = 0) -> Path:
    """A synthetic corpus of n_tokens words drawn from a Zipf law (exponent 1) over `types`
    letter-only word types, 1000 words per line."""
    import numpy as np

    path = folder / f"zipf-{n_tokens}.txt"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, types + 1)
    p /= p.sum()
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    names = []
    for r in range(types):  # bijective base 26: a..z, aa..zz, ...
        w, r = "", r + 1
        while r:
            r, d = divmod(r - 1, 26)
            w = letters[d] + w
        names.append(w)
    names = np.array(names)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        for start in range(0, n_tokens, 1_000_000):
            ids = rng.choice(types, size=min(1_000_000, n_tokens - start), p=p)
            fh.write("\n".join(" ".join(line) for line in names[ids].reshape(-1, 1000).tolist()) + "\n")
    tmp.rename(path)
    return path


def run_tf_runtime() -> dict:
    """TensorFlow alone: import, thread setup, one small XLA-compiled function."""
    from w2vexp.tfsetup import configure

    tf = configure(SETTINGS["threads"], True, 1)
    x = tf.Variable(tf.ones([1000, 100]))
    tf.function(lambda: tf.reduce_sum(tf.matmul(x, x, transpose_b=True)), jit_compile=True)().numpy()
    return {"words": 0, "train_s": 1.0, "vocab_s": 0.0}


def run_gensim(path: Path, model: str, seed: int) -> dict:
    import logging

    from gensim.models import Word2Vec

    logging.getLogger("gensim").setLevel(logging.ERROR)
    sentences = Sentences(path)
    if path.stat().st_size <= 50e6:  # in memory: gensim's fastest way to be fed a small corpus
        sentences = list(sentences)
    s = SETTINGS
    m = Word2Vec(vector_size=s["dim"], window=s["window"], min_count=s["min_count"], sample=s["sample"],
                 sg=1 if model == "sg" else 0, negative=s["negative"], hs=0, workers=s["threads"], seed=seed)
    t0 = time.perf_counter()
    m.build_vocab(sentences)
    t_vocab = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.train(sentences, total_examples=m.corpus_count, epochs=s["epochs"])
    t_train = time.perf_counter() - t0
    from w2vexp.evaluate import evaluate_kv

    return {"words": m.corpus_total_words, "vocab": len(m.wv), "vocab_s": t_vocab, "train_s": t_train,
            "metrics": evaluate_kv(m.wv)}


def run_w2vexp(path: Path, model: str, seed: int, extra: list) -> dict:
    from omegaconf import OmegaConf

    from w2vexp.config import Config
    from w2vexp.data import prepare_corpus
    from w2vexp.evaluate import evaluate_embeddings
    from w2vexp.rundir import RunFolder
    from w2vexp.tfsetup import compile_cache_dir, configure
    from w2vexp.train import Trainer

    s = SETTINGS
    cfg = OmegaConf.structured(Config)
    cfg.data.name, cfg.data.path = "file", str(path)
    user_cache = cfg.data.cache_dir
    cfg.data.cache_dir = tempfile.mkdtemp(prefix="w2vbench-cache-")  # vocabulary built here, timed apart
    cfg.model.name = "skipgram" if model == "sg" else "cbow"
    cfg.loss.name, cfg.loss.num_sampled = "neg", s["negative"]
    cfg.window, cfg.embed_size, cfg.min_count, cfg.subsample = s["window"], s["dim"], s["min_count"], s["sample"]
    cfg.vocab_size, cfg.keep_unk = 10_000_000, False  # like gensim: every word >= min_count, no UNK
    cfg.train.epochs, cfg.train.threads, cfg.seed = s["epochs"], s["threads"], seed
    cfg.train.checkpoint_every = 10**9
    cfg.probe_words = []
    for kv in extra:
        k, v = kv.split("=", 1)
        OmegaConf.update(cfg, k, OmegaConf.create({"v": v})["v"] if not v.replace(".", "").replace("-", "").replace("e", "").isdigit() else float(v) if any(c in v for c in ".e") else int(v))
    # the user's compile cache (train.compile_cache=false turns it off), not a temporary one
    xla_cache = compile_cache_dir(OmegaConf.merge(cfg, {"data": {"cache_dir": user_cache}}))
    t0 = time.perf_counter()
    corpus = prepare_corpus(cfg)
    t_vocab = time.perf_counter() - t0
    tf = configure(cfg.train.threads, cfg.deterministic, cfg.seed, xla_cache)
    folder = RunFolder(Path(tempfile.mkdtemp(prefix="w2vbench-run-")))
    t0 = time.perf_counter()
    trainer = Trainer(cfg, corpus, folder, tf, on_status=lambda m: None, evaluate=False)
    trainer.run(trainer.restore())
    t_train = time.perf_counter() - t0
    return {"words": corpus.raw_tokens, "vocab": corpus.vocab_size, "vocab_s": t_vocab, "train_s": t_train,
            "metrics": evaluate_embeddings(corpus.words, trainer.model.embeddings()),
            "steps": trainer.total_steps, "batch_size": cfg.batch_size, "lr": cfg.lr}


def one(args) -> None:
    """Child process: one training, result as JSON on the last line."""
    path = Path(args.corpus or ".")
    SETTINGS["epochs"] = args.epochs
    if args.one == "tf":
        r = run_tf_runtime()
    elif args.one == "gensim":
        r = run_gensim(path, args.model, args.seed)
    else:
        r = run_w2vexp(path, args.model, args.seed, args.w2vexp)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r["words_per_sec"] = r["words"] * SETTINGS["epochs"] / r["train_s"]
    print(json.dumps(r))


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def num(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def med_of(rs: list, metric: str):
    """Median of a metric over runs; None when no run has it (no test words in the vocabulary)."""
    xs = [r["metrics"][metric] for r in rs if r["metrics"].get(metric) is not None]
    return statistics.median(xs) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="a text file (default: wiki_sample, prepared by w2vexp)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    ap.add_argument("--w2vexp", nargs="*", default=FAST, metavar="KEY=VALUE",
                    help=f"w2vexp config settings on top of the shared ones (default: {' '.join(FAST)})")
    ap.add_argument("--epochs", type=int, default=SETTINGS["epochs"], help="passes over the corpus (default 5)")
    ap.add_argument("--zipf", type=int, metavar="N", help="train on a synthetic Zipf corpus of N tokens instead")
    ap.add_argument("--one", choices=["gensim", "w2vexp", "tf"], help=argparse.SUPPRESS)
    ap.add_argument("--model", default="sg", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args)
    if args.zipf:
        folder = Path(os.environ.get("W2VEXP_CACHE_DIR", "~/.cache/w2vexp")).expanduser() / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        args.corpus = str(zipf_corpus(args.zipf, folder))
    if not args.corpus:
        from omegaconf import OmegaConf

        from w2vexp.config import Config
        from w2vexp.data import wiki_sample_path

        args.corpus = str(wiki_sample_path(OmegaConf.structured(Config).data if not os.environ.get("W2VEXP_CACHE_DIR")
                                           else OmegaConf.create({"cache_dir": os.environ["W2VEXP_CACHE_DIR"]})))
    SETTINGS["epochs"] = args.epochs
    print(f"corpus {args.corpus}; settings {SETTINGS}; w2vexp extra {args.w2vexp or '-'}", flush=True)
    p = subprocess.run([sys.executable, __file__, "--one", "tf"], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"TensorFlow runtime measurement failed:\n{p.stderr[-3000:]}")
    tf_rss = json.loads(p.stdout.strip().splitlines()[-1])["peak_rss_mb"]
    print(f"  TensorFlow runtime alone (import + one compiled function): peak RSS {tf_rss:.0f} MB", flush=True)
    for model in args.models:
        res: dict = {"gensim": [], "w2vexp": []}
        for i in range(args.runs):
            for tool in ("gensim", "w2vexp"):
                cmd = [sys.executable, __file__, "--one", tool, "--model", model, "--seed", str(i + 1),
                       "--epochs", str(args.epochs), "--corpus", args.corpus, "--w2vexp", *args.w2vexp]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"{tool} failed:\n{p.stderr[-3000:]}")
                r = json.loads(p.stdout.strip().splitlines()[-1])
                res[tool].append(r)
                m = r["metrics"]
                print(f"  {model} run {i + 1} {tool:<6}: {r['words_per_sec']:>11,.0f} words/s  train {r['train_s']:6.1f}s"
                      f"  vocab {r['vocab_s']:5.1f}s  rss {r['peak_rss_mb']:6.0f} MB  analogy {pct(m['analogy_acc'])}"
                      f"  ws353 {num(m['ws353'])}", flush=True)
        print(f"{model}: (medians of {args.runs})")
        for tool in ("gensim", "w2vexp"):
            rs = res[tool]
            med = lambda f: statistics.median(f(r) for r in rs)  # noqa: E731
            print(f"  {tool:<6} {med(lambda r: r['words_per_sec']):>11,.0f} words/s  peak RSS {med(lambda r: r['peak_rss_mb']):.0f} MB"
                  f"  analogy {pct(med_of(rs, 'analogy_acc'))}  ws353 {num(med_of(rs, 'ws353'))}"
                  f"  (vocab {rs[0]['vocab']}, vocab build {med(lambda r: r['vocab_s']):.1f}s excluded)")
        rss = {t: statistics.median(r["peak_rss_mb"] for r in res[t]) for t in res}
        print(f"  memory: w2vexp {rss['w2vexp']:.0f} MB - TensorFlow runtime {tf_rss:.0f} MB = "
              f"{rss['w2vexp'] - tf_rss:.0f} MB for the model and data, gensim {rss['gensim']:.0f} MB")
        ratios = [w["words_per_sec"] / g["words_per_sec"] for w, g in zip(res["w2vexp"], res["gensim"])]
        print(f"  ratio w2vexp/gensim words/s: median {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    main()
