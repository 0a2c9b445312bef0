"""The bench's corpora, made from what this machine has (no download), cached under
$W2VEXP_CACHE_DIR/bench (default ~/.cache/w2vexp/bench).

- `wiki_sample`: the English Wikipedia text gensim ships, as w2vexp prepares it (0.5M tokens);
- `docs`: the docstrings of every installed Python package (site-packages), letters only, one
  docstring per line -- about 5M tokens of technical English from TensorFlow, NumPy, gensim...;
- `zipf`: 17M tokens drawn from a Zipf law (exponent 1) over 250,000 letter-only word types,
  1000 words per line (text8 has 17M tokens and 254k types): speed and memory only;
- anything else: a path to a text file.
"""
from __future__ import annotations

import os
import re
import sysconfig
from pathlib import Path

DOCSTRING = re.compile(r'"""(.*?)"""|\'\'\'(.*?)\'\'\'', re.S)
LETTERS = re.compile(r"[A-Za-z]+")


def cache() -> Path:
    folder = Path(os.environ.get("W2VEXP_CACHE_DIR", "~/.cache/w2vexp")).expanduser() / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def docs_corpus(path: Path) -> Path:
    """The docstrings (of at least 5 words) of every .py file in site-packages, in path order."""
    site = Path(sysconfig.get_paths()["purelib"])
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        for p in sorted(site.rglob("*.py")):
            try:
                text = p.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            for m in DOCSTRING.finditer(text):
                words = LETTERS.findall(m.group(1) or m.group(2) or "")
                if len(words) >= 5:
                    out.write(" ".join(words) + "\n")
    tmp.rename(path)
    return path


def zipf_corpus(path: Path, n_tokens: int = 17_000_000, types: int = 250_000, seed: int = 0) -> Path:
    import numpy as np

    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, types + 1)
    p /= p.sum()
    letters = "abcdefghijklmnopqrstuvwxyz"
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


def corpus_path(name: str) -> Path:
    """The text file of a named corpus (made once), or `name` itself as a path."""
    if name == "wiki_sample":
        from omegaconf import OmegaConf

        from w2vexp.sources import wiki_sample_path

        return wiki_sample_path(OmegaConf.create({"cache_dir": str(cache().parent)}))
    if name == "docs":
        path = cache() / "docs.txt"
        return path if path.exists() else docs_corpus(path)
    if name == "zipf":
        path = cache() / "zipf-17000000.txt"
        return path if path.exists() else zipf_corpus(path)
    path = Path(name)
    if not path.is_file():
        raise SystemExit(f"--corpora: {name} is neither wiki_sample, docs, zipf nor a file")
    return path
