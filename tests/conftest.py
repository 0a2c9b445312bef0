"""Shared test fixtures. Tests never read ../shared: they make their own corpora or use the data
that the installed packages ship (gensim's test data)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if "W2VEXP_CACHE_DIR" not in os.environ:  # keep test corpora out of the user's cache
    os.environ["W2VEXP_CACHE_DIR"] = tempfile.mkdtemp(prefix="w2vexp-test-cache-")

SMOKE = """\
defaults:
  - config
  - _self_
vocab_size: 2000
embed_size: 32
train:
  steps: 300
  checkpoint_every: 100
  log_every: 25
"""


def planted_corpus(path: Path, groups: int = 4, per_group: int = 8, sentences: int = 3000,
                   length: int = 10, seed: int = 0) -> list[list[str]]:
    """Write a corpus whose words come in groups that never share a sentence: words of one group
    share their contexts, so a working word2vec puts them nearest to each other."""
    rng = np.random.default_rng(seed)
    vocab = [[f"{chr(97 + g)}{chr(97 + i)}{chr(97 + g)}" for i in range(per_group)] for g in range(groups)]
    with open(path, "w") as fh:
        for _ in range(sentences):
            g = rng.integers(groups)
            fh.write(" ".join(rng.choice(vocab[g], size=length)) + "\n")
    return vocab


@pytest.fixture
def cli(tmp_path):
    """Run a w2vexp command as a user would, in a fresh folder holding conf/smoke.yaml."""
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "smoke.yaml").write_text(SMOKE)

    def run(module: str, *args: str, smoke: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        extra = ["--config-dir", str(tmp_path / "conf"), "--config-name", "smoke"] if smoke else []
        return subprocess.run([sys.executable, "-m", module, *extra, *args], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))

    run.dir = tmp_path
    return run
