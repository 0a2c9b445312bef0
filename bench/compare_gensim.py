#!/usr/bin/env python
"""w2vexp against gensim's Word2Vec: the whole command as a user types it, on several corpora.

    python bench/compare_gensim.py [--corpora wiki_sample docs zipf] [--models sg cbow] [--runs 3]
    python bench/compare_gensim.py --corpora docs --models sg --runs 1 --w2vexp lr=2.0   # try a setting
    python bench/compare_gensim.py --threads 1 2 --corpora wiki_sample   # thread scaling

Each tool runs in a fresh process, gensim and w2vexp alternately (this machine's speed swings by
up to 2x), `--runs` times each, timed from start to exit:

- w2vexp: `python -m w2vexp.run data=file data.path=CORPUS [model=cbow] seed=RUN` and nothing
  else (plus `--w2vexp` settings when given; the seed, as gensim's, differs between runs so the
  quality statistics see seed-to-seed spread), in a fresh folder with a fresh cache (W2VEXP_CACHE_DIR): the
  corpus is prepared and the step program compiled, as on a user's first run of that corpus.
  Its evaluations, checkpoints, summaries and exports are all in the time.
- gensim: bench/gensim_job.py, what a gensim user writes: read the file, Word2Vec with the
  matching settings (sg=1 or 0, negative 5, window 5, w2vexp's default dimension, min_count 5,
  sample 1e-3, w2vexp's default epochs, workers=2), train, save the vectors.

Reported per run: whole-command words/s (corpus words x epochs / wall time), wall time, the
training loop's own words/s (second), peak RSS, and the vectors' analogy accuracy, WordSim-353
and SimLex-999 (evaluated afterwards, the same way for both: w2vexp.evaluate, which gives
gensim's own answers). Then medians, the w2vexp/gensim ratio of whole-command words/s, and how
sure each quality difference is: Welch's t-test over the runs and, for the analogies, a paired
bootstrap over the questions both tools answered.

Corpora: `wiki_sample` (the English Wikipedia text gensim ships, 0.5M tokens), `docs` (English
docstrings of the installed Python packages, bench/corpora.py: about 5M tokens of technical
English), `zipf` (17M tokens drawn from a Zipf law over 250k types: speed and memory only),
or a path to any text file.

With `--threads N...` each tool runs at each thread count (gensim `workers=N`, w2vexp
`train.threads=N`), alternately, and the medians and each tool's speed-up from the first count to
the others are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OVERHEADS = ("evaluate", "checkpoints", "summaries", "exports")  # the run.json time parts whose share is bounded (10 %)
sys.path.insert(0, str(HERE))

from corpora import corpus_path  # noqa: E402


def w2vexp_defaults() -> dict:
    """The defaults a user gets (the composed conf/config.yaml), for gensim's matching settings."""
    from w2vexp.config import compose

    cfg = compose(["data=file", "data.path=x"])
    return {"dim": cfg.embed_size, "epochs": int(cfg.train.epochs), "window": cfg.window,
            "min_count": cfg.min_count, "sample": cfg.subsample}


# forks the command from a small fresh process and reports its wall time and peak RSS on the pipe
# whose descriptor it is given: a child forked by this (large) process would inherit its peak in
# ru_maxrss (Linux keeps the high-water mark of the memory a child starts from), so a gensim run
# after w2vexp's showed w2vexp's peak, or this process's own after it loaded vectors
_LAUNCHER = """
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvpe(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
os.write(int(sys.argv[1]), f"{time.perf_counter() - t0} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}".encode())
"""


def timed(cmd: list, cwd: Path, env: dict) -> tuple[float, float, subprocess.CompletedProcess]:
    """Run cmd to its end: (wall seconds, peak RSS in MB of the process, the result), both
    measured by a small launcher process around it (`_LAUNCHER`)."""
    r, w = os.pipe()
    proc = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(w), *cmd], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(w,))
    os.close(w)
    out = proc.stdout.read()
    proc.wait()
    with os.fdopen(r) as fh:
        wall, rss_kb, code = fh.read().split()
    return float(wall), int(rss_kb) / 1024, subprocess.CompletedProcess(cmd, int(code), out.decode(errors="replace"))


def run_tool(tool: str, corpus: Path, model: str, seed: int, extra: list, shared: dict,
             threads: int | None = None) -> dict:
    """One fresh-process run of `tool`; `threads`: gensim's workers / w2vexp's train.threads
    (None: gensim 2 workers, w2vexp as typed)."""
    work = Path(tempfile.mkdtemp(prefix=f"w2vbench-{tool}-"))
    env = dict(os.environ, W2VEXP_CACHE_DIR=str(work / "cache"), PYTHONUNBUFFERED="1")
    if tool == "gensim":
        cmd = [sys.executable, str(HERE / "gensim_job.py"), str(corpus), str(work / "out"),
               "--sg", "1" if model == "sg" else "0", "--dim", str(shared["dim"]), "--epochs", str(shared["epochs"]),
               "--window", str(shared["window"]), "--min-count", str(shared["min_count"]),
               "--sample", str(shared["sample"]), "--workers", str(threads or 2), "--seed", str(seed)]
    else:
        cmd = [sys.executable, "-m", "w2vexp.run", "data=file", f"data.path={corpus}",
               *(["model=cbow"] if model == "cbow" else []), f"seed={seed}", *extra,
               *([f"train.threads={threads}"] if threads else [])]
    wall, rss, p = timed(cmd, work, env)
    if p.returncode != 0:
        sys.exit(f"{tool} failed ({' '.join(cmd)}):\n{p.stdout[-3000:]}")
    if tool == "gensim":
        t = json.loads((work / "out" / "timing.json").read_text())
        vectors, loop_wps, words = work / "out", t["words"] * shared["epochs"] / t["train_s"], t["words"]
    else:
        (run,) = [d.parent for d in (work / "outputs").rglob("run.json")]
        info = json.loads((run / "run.json").read_text())
        vectors, loop_wps, words = run, info["words_per_sec"], info["corpus"]["raw_tokens"]
        r_time = info.get("time") or {}
    from w2vexp.evaluate import evaluation_items, metrics_of
    from w2vexp.runs import load_vectors

    kv = load_vectors(vectors)
    items = evaluation_items(kv)
    out = {"wall": wall, "rss": rss, "words": words, "loop_wps": loop_wps, "vocab": len(kv.index_to_key),
           "wps": words * shared["epochs"] / wall, "metrics": metrics_of(items), "analogy_flags": items["analogy"],
           "time": r_time if tool == "w2vexp" else {}}
    shutil.rmtree(work, ignore_errors=True)
    return out


def fmt(x, pct=False) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2f}%" if pct else f"{x:.3f}"


def line(tag: str, r: dict) -> str:
    m = r["metrics"]
    return (f"  {tag:<16} {r['wps']:>11,.0f} words/s  wall {r['wall']:6.1f}s  (loop {r['loop_wps']:>11,.0f} words/s)"
            f"  rss {r['rss']:5.0f} MB  analogy {fmt(m.get('analogy_acc'), True):>6}  ws353 {fmt(m.get('ws353')):>6}"
            f"  simlex {fmt(m.get('simlex')):>6}")


def med(rs: list, f):
    xs = [f(r) for r in rs if f(r) is not None]
    return statistics.median(xs) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpora", nargs="+", default=["wiki_sample", "docs", "zipf"])
    ap.add_argument("--models", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--w2vexp", nargs="*", default=[], metavar="KEY=VALUE",
                    help="extra w2vexp overrides (default: none, the settings as a user types them)")
    ap.add_argument("--threads", nargs="+", type=int, default=None, metavar="N",
                    help="thread counts to compare (gensim workers, w2vexp train.threads)")
    args = ap.parse_args()
    shared = w2vexp_defaults()
    print(f"machine: {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}; shared settings {shared}; "
          f"w2vexp extra {args.w2vexp or 'none'}", flush=True)
    scaling: dict = {}
    for name in args.corpora:
        corpus = corpus_path(name)
        for model in args.models:
            counts = args.threads or [None]
            res = compare(name, corpus, model, args.runs, args.w2vexp, shared, counts)
            for t in counts:
                scaling[(name, model, t)] = {tool: med(rs, lambda r: r["wps"]) for tool, rs in res[t].items()}
    if args.threads and len(args.threads) > 1:
        first = args.threads[0]
        print(f"whole-command words/s by threads (medians of {args.runs}), speed-up from {first} thread(s):")
        for name in args.corpora:
            for model in args.models:
                base = scaling[(name, model, first)]
                for t in args.threads:
                    row = scaling[(name, model, t)]
                    print(f"  {name} {model} threads {t}: gensim {row['gensim']:>11,.0f} ({row['gensim'] / base['gensim']:.2f}x)"
                          f"  w2vexp {row['w2vexp']:>11,.0f} ({row['w2vexp'] / base['w2vexp']:.2f}x)", flush=True)


def compare(name: str, corpus: Path, model: str, runs: int, extra: list, shared: dict, counts: list) -> dict:
    """Both tools at each thread count, alternately (run 1 of every pair, then run 2, ...), `runs`
    times each; prints every run, then per thread count the medians and the ratio."""
    res: dict = {t: {"gensim": [], "w2vexp": []} for t in counts}
    for i in range(runs):
        for t in counts:
            for tool in ("gensim", "w2vexp"):
                r = run_tool(tool, corpus, model, i + 1, extra, shared, t)
                res[t][tool].append(r)
                print(line(f"run {i + 1} {tool}" + (f" t={t}" if t else ""), r), flush=True)
                if r["time"]:
                    print("    w2vexp time: " + ", ".join(f"{k} {v:.1f}s" for k, v in r["time"].items()), flush=True)
    for t in counts:
        print(f"{name} ({corpus.stat().st_size / 1e6:.1f} MB) {model}" + (f" at {t} thread(s)" if t else "") + ":")
        for tool in ("gensim", "w2vexp"):
            rs = res[t][tool]
            print(f"  median {tool:<9} {med(rs, lambda r: r['wps']):>11,.0f} words/s  wall {med(rs, lambda r: r['wall']):6.1f}s"
                  f"  (loop {med(rs, lambda r: r['loop_wps']):>11,.0f})  rss {med(rs, lambda r: r['rss']):5.0f} MB"
                  f"  analogy {fmt(med(rs, lambda r: r['metrics'].get('analogy_acc')), True):>6}"
                  f"  ws353 {fmt(med(rs, lambda r: r['metrics'].get('ws353'))):>6}"
                  f"  simlex {fmt(med(rs, lambda r: r['metrics'].get('simlex'))):>6}  vocab {rs[0]['vocab']}")
        ratios = [w["wps"] / g["wps"] for w, g in zip(res[t]["w2vexp"], res[t]["gensim"])]
        print(f"  ratio w2vexp/gensim whole-command words/s: median {statistics.median(ratios):.2f} "
              f"(range {min(ratios):.2f}-{max(ratios):.2f})", flush=True)
        shares = [100 * sum(r["time"].get(k, 0.0) for k in OVERHEADS) / r["time"]["total"]
                  for r in res[t]["w2vexp"] if r["time"] and r["time"].get("total")]
        if shares:
            print(f"  w2vexp overheads ({', '.join(OVERHEADS)}, each with its set-up): median "
                  f"{statistics.median(shares):.1f}% of the run (range {min(shares):.1f}-{max(shares):.1f}%)", flush=True)
        print("  " + differences(res[t]["w2vexp"], res[t]["gensim"]), flush=True)
    return res


def differences(ours: list, theirs: list) -> str:
    """How sure the quality differences are (w2vexp - gensim): per metric the mean difference over
    the runs, Welch's t-test over them (run-to-run spread; >= 2 runs), and for the analogies a
    paired bootstrap over the questions both answered in every pair of runs (w2vexp.uncertainty)."""
    import warnings

    from w2vexp.uncertainty import paired_test, seeds_test

    warnings.filterwarnings("ignore", message="Precision loss")  # scipy, on near-identical runs
    parts = []
    for key, scale, unit in (("analogy_acc", 100, " points"), ("ws353", 1, ""), ("simlex", 1, "")):
        a = [r["metrics"].get(key) for r in ours]
        b = [r["metrics"].get(key) for r in theirs]
        if None in a or None in b:
            continue
        text = f"{key} {scale * (sum(a) / len(a) - sum(b) / len(b)):+.3f}{unit}"
        if len(a) >= 2:
            text += f" (Welch p={seeds_test(a, b)['p']:.2f}"
        if key == "analogy_acc":
            fa = np.concatenate([r["analogy_flags"] for r in ours])
            fb = np.concatenate([r["analogy_flags"] for r in theirs])
            both = (fa >= 0) & (fb >= 0)
            if both.any():
                pt = paired_test(fa[both], fb[both])
                text += (", " if len(a) >= 2 else " (") + (f"paired bootstrap [{100 * pt['lo']:+.2f}, "
                                                           f"{100 * pt['hi']:+.2f}] p={pt['p']:.3f}")
        parts.append(text + (")" if "(" in text else ""))
    return "w2vexp - gensim: " + "; ".join(parts)


if __name__ == "__main__":
    main()
