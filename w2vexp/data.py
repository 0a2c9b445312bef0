"""Corpora and vocabulary (SPEC section 4): wiki_sample, text8, any UTF-8 file.

Every source ends as a plain text file of words; `prepare_corpus` turns it into a prepared
corpus -- the word ids as an `.npy` file that training memory-maps, plus the vocabulary with its
counts -- cached under `data.cache_dir` keyed by the source and the vocabulary settings, so a
sweep prepares it once. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import bz2
import collections
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from .errors import DataError

UNK = "UNK"
NORMALISATION_VERSION = 1  # bump when the text normalisation changes: invalidates caches
BLOCK_CHARS = 16 << 20  # text is tokenised in blocks of this many characters (bounded memory)
TEXT8_MEMBER = "text8"
TEXT8_LENGTH = 100_000_000  # the text8 member: the first 10^8 characters
TEXT8_ZIP_SIZE = 31_344_016  # the canonical text8.zip
WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

_DIGITS = {str(d): f" {w} " for d, w in enumerate(
    "zero one two three four five six seven eight nine".split())}
_DIGIT_RE = re.compile(r"[0-9]")
_NON_AZ = re.compile(r"[^a-z]+")
_WORD_RE = re.compile(r"[^\W\d_]+")  # runs of letters (any script): "split on non-letters"


# ---------------------------------------------------------------- normalisation

def normalise_text8(text: str) -> str:
    """Normalise text the way Matt Mahoney's wikifil.pl made text8: lower-case a-z only, each
    digit spelled out ("1984" -> "one nine eight four"), everything else a single space."""
    text = _DIGIT_RE.sub(lambda m: _DIGITS[m.group(0)], text.lower())
    return _NON_AZ.sub(" ", text)


def tokenize(text: str) -> list[str]:
    """Lower-case and split on non-letters (SPEC section 4, data=file)."""
    return _WORD_RE.findall(text.lower())


def iter_text_blocks(path: Path, block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """Yield the UTF-8 text of `path` in blocks that end on white space (a word is never split).

    Raises DataError naming the file when it is missing, a folder, or not UTF-8 text."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"corpus file {path} does not exist (data.path)")
    if not path.is_file():
        raise DataError(f"corpus file {path} is not a regular file (data.path)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
        if b"\x00" in head:
            raise DataError(f"corpus file {path} is binary, not UTF-8 text")
        with open(path, "r", encoding="utf-8", errors="strict", newline="") as fh:
            rest = ""
            while True:
                block = fh.read(block_chars)
                if not block:
                    break
                block = rest + block
                cut = max(block.rfind(" "), block.rfind("\n"))
                if cut <= 0:
                    rest = block
                    continue
                rest = block[cut:]
                yield block[:cut]
            if rest:
                yield rest
    except UnicodeDecodeError as e:
        raise DataError(f"corpus file {path} is not UTF-8 text ({e.reason} near byte {e.start})") from None
    except OSError as e:
        raise DataError(f"corpus file {path} cannot be read: {e.strerror or e}") from None


# ---------------------------------------------------------------- sources

def cache_root(data_cfg) -> Path:
    """The cache folder (`data.cache_dir`, default ~/.cache/w2vexp, or $W2VEXP_CACHE_DIR)."""
    return Path(os.path.expanduser(str(data_cfg.cache_dir)))


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive lock on `path` (a lock file), so parallel jobs prepare a cache entry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _atomic_text(path: Path, chunks: Iterator[str]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(c)
    os.replace(tmp, path)


def gensim_datapath(name: str) -> Path:
    """A file of gensim's test data -- what gensim.test.utils.datapath returns, without importing
    that module (it builds demo corpora and logs at import)."""
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    return Path(spec.origin).parent / "test" / "test_data" / name


def wiki_sample_path(data_cfg) -> Path:
    """The text of the shortened English Wikipedia dump in gensim's test data, normalised like
    text8 and cached (article text only: markup and redirect pages are dropped)."""
    src = gensim_datapath(WIKI_SAMPLE)
    if not src.is_file():
        raise DataError(f"gensim's test data lacks {WIKI_SAMPLE}; reinstall gensim or use data=file")
    out = cache_root(data_cfg) / "wiki_sample" / f"wiki_sample-v{NORMALISATION_VERSION}-{src.stat().st_size}.txt"
    if out.is_file():
        return out
    with _locked(out.parent / (out.name + ".lock")):
        if not out.is_file():
            from gensim.corpora.wikicorpus import extract_pages, filter_wiki

            def articles() -> Iterator[str]:
                with bz2.open(src, "rb") as fh:
                    for _title, text, _pageid in extract_pages(fh):
                        if text.lstrip().lower().startswith("#redirect"):
                            continue
                        yield normalise_text8(filter_wiki(text)).strip() + "\n"
            _atomic_text(out, articles())
    return out


def _download(url: str, dest: Path, size: Optional[int]) -> None:
    from tqdm import tqdm

    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as out:
            total = int(r.headers.get("Content-Length") or 0) or size
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                while True:
                    buf = r.read(1 << 20)
                    if not buf:
                        break
                    out.write(buf)
                    bar.update(len(buf))
    except (urllib.error.URLError, socket.timeout, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(f"cannot download text8 from {url} ({reason}); offline? Put the text in a file "
                        f"and use data=file data.path=/path/to/text8") from None
    os.replace(tmp, dest)


def _check_text8_zip(zpath: Path, size: Optional[int], sha256: Optional[str]) -> None:
    got = zpath.stat().st_size
    if size is not None and got != size:
        raise DataError(f"downloaded {zpath} has {got} bytes, expected {size} (data.size); removed it, try again")
    if sha256:
        h = hashlib.sha256()
        with open(zpath, "rb") as fh:
            for buf in iter(lambda: fh.read(1 << 20), b""):
                h.update(buf)
        if h.hexdigest() != sha256.lower():
            raise DataError(f"downloaded {zpath} has sha256 {h.hexdigest()}, expected {sha256} (data.sha256)")
    try:
        with zipfile.ZipFile(zpath) as z:
            if TEXT8_MEMBER not in z.namelist():
                raise DataError(f"{zpath} holds no member named {TEXT8_MEMBER!r}")
            bad = z.testzip()  # checks every member's CRC-32
            if bad:
                raise DataError(f"{zpath}: member {bad} fails its CRC-32 check")
    except zipfile.BadZipFile as e:
        raise DataError(f"{zpath} is not a valid zip file ({e})") from None


def text8_path(data_cfg) -> Path:
    """text8, downloaded once from `data.url` with a progress bar, checked and cached."""
    folder = cache_root(data_cfg) / "text8"
    out = folder / TEXT8_MEMBER
    if out.is_file():
        return out
    url = data_cfg.url
    if not url:
        raise DataError("data=text8 needs data.url")
    with _locked(folder / "text8.lock"):
        if out.is_file():
            return out
        zpath = folder / "text8.zip"
        if not zpath.is_file():
            _download(url, zpath, data_cfg.size)
        try:
            _check_text8_zip(zpath, data_cfg.size, data_cfg.sha256)
        except DataError:
            zpath.unlink(missing_ok=True)
            raise
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        with zipfile.ZipFile(zpath) as z, z.open(TEXT8_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if data_cfg.size == TEXT8_ZIP_SIZE and tmp.stat().st_size != TEXT8_LENGTH:
            tmp.unlink()
            raise DataError(f"text8 from {url} is not {TEXT8_LENGTH} bytes long")
        os.replace(tmp, out)
    return out


def source_path(data_cfg) -> Path:
    """The plain-text file behind `data` (downloading or extracting it first if needed)."""
    if data_cfg.name == "wiki_sample":
        return wiki_sample_path(data_cfg)
    if data_cfg.name == "text8":
        return text8_path(data_cfg)
    return Path(os.path.expanduser(str(data_cfg.path)))


# ---------------------------------------------------------------- vocabulary and ids

class IdFile:
    """The prepared word ids (an int32 `.npy` file) read through memory-mapped windows: slicing
    maps just the slice asked for and returns a copy, so neither memory nor address space ever
    has to hold the whole corpus (corpora larger than RAM work)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            shape, fortran, dtype = (np.lib.format.read_array_header_1_0(fh) if version == (1, 0)
                                     else np.lib.format.read_array_header_2_0(fh))
            self.offset = fh.tell()
        if len(shape) != 1 or dtype != np.int32:
            raise DataError(f"{self.path} is not a prepared id file (shape {shape}, dtype {dtype})")
        self.n = int(shape[0])

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice):
            raise TypeError("IdFile supports slices only")
        start, stop, step = key.indices(self.n)
        if stop <= start:
            return np.zeros(0, np.int32)
        window = np.memmap(self.path, dtype=np.int32, mode="r", offset=self.offset + 4 * start,
                           shape=(stop - start,))
        out = np.array(window[::step])
        del window
        return out


@dataclass
class Corpus:
    """A prepared corpus: `ids` (int32, memory-mapped), `words` in id order and their `counts`."""

    ids: IdFile  # or any 1-D int array: sliced, never loaded whole
    words: list
    counts: np.ndarray  # int64, counts[i] = occurrences of words[i] in the corpus (UNK: replaced tokens)
    raw_tokens: int  # tokens in the source text, before UNK removal and subsampling
    folder: Path

    @property
    def vocab_size(self) -> int:
        return len(self.words)


def build_vocab(counter: collections.Counter, vocab_size: int, min_count: int, keep_unk: bool):
    """The `vocab_size` most frequent words with count >= min_count (ties broken alphabetically),
    after `UNK` at id 0 when keep_unk (the lecture's choice: UNK counts toward vocab_size)."""
    ranked = sorted(((c, w) for w, c in counter.items() if c >= min_count and w != UNK),
                    key=lambda cw: (-cw[0], cw[1]))
    room = vocab_size - 1 if keep_unk else vocab_size
    kept = ranked[:room]
    words = [w for _, w in kept]
    counts = [c for c, _ in kept]
    if keep_unk:
        total = sum(counter.values())
        words.insert(0, UNK)
        counts.insert(0, total - sum(counts))
    return words, np.asarray(counts, dtype=np.int64)


def _file_identity(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def prepare_corpus(cfg, min_words: int = 2) -> Corpus:
    """Turn the configured corpus into ids + vocabulary, cached on disk (see the module doc).

    Raises DataError for a missing, empty, binary or too-small corpus."""
    src = source_path(cfg.data)
    key_src = json.dumps({"src": _file_identity(src) if src.exists() else str(src),
                          "v": NORMALISATION_VERSION, "vocab_size": cfg.vocab_size,
                          "min_count": cfg.min_count, "keep_unk": cfg.keep_unk}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    folder = cache_root(cfg.data) / "prepared" / f"{src.stem[:40]}-{key}"
    if not (folder / "meta.json").is_file():
        with _locked(folder.parent / (folder.name + ".lock")):
            if not (folder / "meta.json").is_file():
                _prepare_into(src, folder, cfg)
    return load_prepared(folder, cfg, min_words)


def _prepare_into(src: Path, folder: Path, cfg) -> None:
    counter: collections.Counter = collections.Counter()
    for block in iter_text_blocks(src):
        counter.update(tokenize(block))
    total = sum(counter.values())
    if total == 0:
        raise DataError(f"corpus file {src} is empty: it holds no words")
    words, counts = build_vocab(counter, cfg.vocab_size, cfg.min_count, cfg.keep_unk)
    index = {w: i for i, w in enumerate(words)}
    n_ids = total if cfg.keep_unk else int(counts.sum())
    tmpdir = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        ids = np.lib.format.open_memmap(tmpdir / "ids.npy", mode="w+", dtype=np.int32, shape=(n_ids,))
        pos = 0
        unk = 0 if cfg.keep_unk else -1
        for block in iter_text_blocks(src):
            arr = np.fromiter((index.get(w, unk) for w in tokenize(block)), dtype=np.int32)
            if not cfg.keep_unk:
                arr = arr[arr >= 0]
            ids[pos:pos + len(arr)] = arr
            pos += len(arr)
        assert pos == n_ids, (pos, n_ids)
        ids.flush()
        del ids
        with open(tmpdir / "vocab.tsv", "w", encoding="utf-8") as fh:
            for w, c in zip(words, counts):
                fh.write(f"{w}\t{c}\n")
        (tmpdir / "meta.json").write_text(json.dumps({"source": str(src), "raw_tokens": total,
                                                      "tokens": n_ids, "distinct_words": len(counter)}))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmpdir, folder)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def load_prepared(folder: Path, cfg, min_words: int = 2) -> Corpus:
    """Open a prepared corpus (ids memory-mapped) and check it is big enough to train on."""
    meta = json.loads((folder / "meta.json").read_text())
    words, counts = [], []
    with open(folder / "vocab.tsv", encoding="utf-8") as fh:
        for line in fh:
            w, c = line.rstrip("\n").split("\t")
            words.append(w)
            counts.append(int(c))
    ids = IdFile(folder / "ids.npy")
    real = len(words) - (1 if words and words[0] == UNK else 0)
    if real < min_words:
        raise DataError(
            f"corpus {meta['source']} is too small: only {real} distinct words occur at least "
            f"min_count={cfg.min_count} times ({meta['distinct_words']} distinct words in all), "
            f"need at least {min_words} for this config; use a bigger corpus or lower min_count")
    if len(ids) < 2:
        raise DataError(f"corpus {meta['source']} is too small: {len(ids)} words left to train on")
    return Corpus(ids=ids, words=words, counts=np.asarray(counts, dtype=np.int64),
                  raw_tokens=int(meta["raw_tokens"]), folder=folder)
