#!/usr/bin/env python
"""w2vexp against gensim's Word2Vec on the same corpus with the same hyperparameters.

    python bench/compare_gensim.py [--corpus PATH] [--runs 3] [--models sg cbow]

Skip-gram (and CBOW) with negative sampling, window 5, dim 100, min_count 5, sample 1e-3,
5 epochs, 2 threads. Each training runs in a fresh subprocess (so peak RSS is its own), gensim
and w2vexp alternately, `--runs` times each. Reported per tool: words/s = corpus words x epochs /
training wall time (vocabulary building is timed apart and excluded), peak RSS, analogy accuracy
and WordSim-353 (both evaluated by gensim's own methods, w2vexp.evaluate), and the w2vexp/gensim
words/s ratio (median and range). The default corpus is wiki_sample.
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
# w2vexp's fast settings: one pool of 64 noise words per batch (a matrix product; the same
# expected objective as 5 per example), batches of 1024, a constant lr
FAST = ["loss.shared_negatives=64", "batch_size=1024", "lr=2.0", "optimizer.schedule=constant"]


def corpus_words(path: Path) -> list:
    from w2vexp.data import iter_text_blocks, tokenize

    words = []
    for block in iter_text_blocks(path):
        words += tokenize(block)
    return words


def run_gensim(path: Path, model: str, seed: int) -> dict:
    import logging

    from gensim.models import Word2Vec

    logging.getLogger("gensim").setLevel(logging.ERROR)
    words = corpus_words(path)
    sentences = [words[i:i + 1000] for i in range(0, len(words), 1000)]
    s = SETTINGS
    m = Word2Vec(vector_size=s["dim"], window=s["window"], min_count=s["min_count"], sample=s["sample"],
                 sg=1 if model == "sg" else 0, negative=s["negative"], hs=0, workers=s["threads"], seed=seed)
    t0 = time.perf_counter()
    m.build_vocab(sentences)
    t_vocab = time.perf_counter() - t0
    t0 = time.perf_counter()
    m.train(sentences, total_examples=len(sentences), epochs=s["epochs"])
    t_train = time.perf_counter() - t0
    from w2vexp.evaluate import evaluate_kv

    return {"words": len(words), "vocab": len(m.wv), "vocab_s": t_vocab, "train_s": t_train,
            "metrics": evaluate_kv(m.wv)}


def run_w2vexp(path: Path, model: str, seed: int, extra: list) -> dict:
    from omegaconf import OmegaConf

    from w2vexp.config import Config
    from w2vexp.data import prepare_corpus
    from w2vexp.evaluate import evaluate_embeddings
    from w2vexp.rundir import RunFolder
    from w2vexp.tfsetup import configure
    from w2vexp.train import Trainer

    s = SETTINGS
    cfg = OmegaConf.structured(Config)
    cfg.data.name, cfg.data.path = "file", str(path)
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
    t0 = time.perf_counter()
    corpus = prepare_corpus(cfg)
    t_vocab = time.perf_counter() - t0
    tf = configure(cfg.train.threads, cfg.deterministic, cfg.seed)
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
    path = Path(args.corpus)
    if args.one == "gensim":
        r = run_gensim(path, args.model, args.seed)
    else:
        r = run_w2vexp(path, args.model, args.seed, args.w2vexp)
    r["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    r["words_per_sec"] = r["words"] * SETTINGS["epochs"] / r["train_s"]
    print(json.dumps(r))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", help="a text file (default: wiki_sample, prepared by w2vexp)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    ap.add_argument("--w2vexp", nargs="*", default=FAST, metavar="KEY=VALUE",
                    help=f"w2vexp config settings on top of the shared ones (default: {' '.join(FAST)})")
    ap.add_argument("--one", choices=["gensim", "w2vexp"], help=argparse.SUPPRESS)
    ap.add_argument("--model", default="sg", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args)
    if not args.corpus:
        from omegaconf import OmegaConf

        from w2vexp.config import Config
        from w2vexp.data import wiki_sample_path

        args.corpus = str(wiki_sample_path(OmegaConf.structured(Config).data if not os.environ.get("W2VEXP_CACHE_DIR")
                                           else OmegaConf.create({"cache_dir": os.environ["W2VEXP_CACHE_DIR"]})))
    print(f"corpus {args.corpus}; settings {SETTINGS}; w2vexp extra {args.w2vexp or '-'}", flush=True)
    for model in args.models:
        res: dict = {"gensim": [], "w2vexp": []}
        for i in range(args.runs):
            for tool in ("gensim", "w2vexp"):
                cmd = [sys.executable, __file__, "--one", tool, "--model", model, "--seed", str(i + 1),
                       "--corpus", args.corpus, "--w2vexp", *args.w2vexp]
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.exit(f"{tool} failed:\n{p.stderr[-3000:]}")
                r = json.loads(p.stdout.strip().splitlines()[-1])
                res[tool].append(r)
                m = r["metrics"]
                print(f"  {model} run {i + 1} {tool:<6}: {r['words_per_sec']:>11,.0f} words/s  train {r['train_s']:6.1f}s"
                      f"  vocab {r['vocab_s']:5.1f}s  rss {r['peak_rss_mb']:6.0f} MB  analogy {100 * m['analogy_acc']:.2f}%"
                      f"  ws353 {m['ws353']:.3f}", flush=True)
        print(f"{model}: (medians of {args.runs})")
        for tool in ("gensim", "w2vexp"):
            rs = res[tool]
            med = lambda f: statistics.median(f(r) for r in rs)  # noqa: E731
            print(f"  {tool:<6} {med(lambda r: r['words_per_sec']):>11,.0f} words/s  peak RSS {med(lambda r: r['peak_rss_mb']):.0f} MB"
                  f"  analogy {100 * med(lambda r: r['metrics']['analogy_acc']):.2f}%  ws353 {med(lambda r: r['metrics']['ws353']):.3f}"
                  f"  (vocab {rs[0]['vocab']}, vocab build {med(lambda r: r['vocab_s']):.1f}s excluded)")
        ratios = [w["words_per_sec"] / g["words_per_sec"] for w, g in zip(res["w2vexp"], res["gensim"])]
        print(f"  ratio w2vexp/gensim words/s: median {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})", flush=True)


if __name__ == "__main__":
    main()
