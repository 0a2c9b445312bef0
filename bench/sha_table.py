#!/usr/bin/env python
"""The fingerprint of w2vexp's behaviour: sha256 of the trained vectors of a fixed set of runs.

    python bench/sha_table.py [OUT.tsv]

Every loss with both models and two seeds (a small, quick setting on wiki_sample, run as one
in-process Hydra sweep, as a user's -m sweep runs), plus one run killed after its first
checkpoint and resumed, which must give the bits of the same run uninterrupted. A refactor that
claims to change nothing must leave this table unchanged (compare two outputs with `diff`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL = ["vocab_size=2000", "embed_size=32", "train.steps=300", "train.checkpoint_every=100", "train.log_every=50"]
LOSSES = "nce,neg,sampled_softmax,softmax,hs"


def sha(run: Path) -> str:
    return hashlib.sha256((run / "vectors.kv.vectors.npy").read_bytes()).hexdigest()[:16]


def w2vexp(work: Path, *args: str, wait: bool = True):
    cmd = [sys.executable, "-m", "w2vexp.run", *args]
    env = dict(os.environ, W2VEXP_CACHE_DIR=str(work / "cache"))
    if wait:
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        return done
    return subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="w2vexp-sha-"))
    try:
        table(work)
    finally:  # 85 MB of run folders a table
        shutil.rmtree(work, ignore_errors=True)


def table(work: Path) -> None:
    rows = []
    w2vexp(work, "-m", "name=grid", f"loss={LOSSES}", "model=skipgram,cbow", "seed=1,2", *SMALL)
    for info in sorted((work / "outputs" / "grid").glob("*/run.json")):
        run = info.parent
        rows.append((run.name, json.loads(info.read_text())["final_loss"], sha(run)))
    # killed after its first checkpoint, then resumed by the same command
    resumed = ["name=resume", "train.steps=1500", "train.checkpoint_every=300", *SMALL[:2], "train.log_every=50"]
    proc = w2vexp(work, *resumed, wait=False)
    ckpts = work / "outputs" / "resume"
    while proc.poll() is None and not list(ckpts.glob("*/checkpoints/ckpt-*.index")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    w2vexp(work, *resumed)
    (run,) = [p.parent for p in ckpts.glob("*/run.json")]
    info = json.loads((run / "run.json").read_text())
    rows.append(("resumed:" + run.name + f" (resumes {len(info.get('resumes') or [])})", info["final_loss"], sha(run)))
    w2vexp(work, *[a.replace("name=resume", "name=straight") for a in resumed])
    (run,) = [p.parent for p in (work / "outputs" / "straight").glob("*/run.json")]
    rows.append(("uninterrupted:" + run.name, json.loads((run / "run.json").read_text())["final_loss"], sha(run)))
    text = "".join(f"{name}\t{loss!r}\t{digest}\n" for name, loss, digest in rows)
    sys.stdout.write(text)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)


if __name__ == "__main__":
    main()
