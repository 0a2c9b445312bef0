"""Corpora and vocabulary (SPEC section 4).

Every source (`w2vexp.sources`) ends as a plain text file of words; `prepare_corpus` turns it into a prepared
corpus -- the word ids as an `.npy` file that training memory-maps, plus the vocabulary with its
counts -- cached under `data.cache_dir` keyed by the source and the vocabulary settings, so a
sweep prepares it once. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DataError
from .sources import NORMALISATION_VERSION, cache_root, locked, source_path

UNK = "UNK"
BLOCK_CHARS = 16 << 20  # text is tokenised in blocks of this many characters (bounded memory)
_WORD_RE = re.compile(r"[^\W\d_]+")  # runs of letters (any script): "split on non-letters"
_ASCII_NON_LETTERS = str.maketrans({chr(i): " " for i in range(128) if not chr(i).isalpha()})


# ---------------------------------------------------------------- normalisation

def tokenize(text: str) -> list[str]:
    """Lower-case and split on non-letters (SPEC section 4, data=file). ASCII text (most corpora)
    takes a path 3x faster with the same tokens: every ASCII non-letter becomes a space, then
    `str.split` (1.0 -> 0.3 s for 5M tokens)."""
    if text.isascii():
        return text.lower().translate(_ASCII_NON_LETTERS).split()
    return _WORD_RE.findall(text.lower())


def check_text_file(path: Path) -> Path:
    """The faults of a corpus file that show at once -- missing, not a regular file, binary (a
    NUL byte in its first 64 KB), unreadable -- as a DataError naming the file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"corpus file {path} does not exist (data.path)")
    if not path.is_file():
        raise DataError(f"corpus file {path} is not a regular file (data.path)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
    except OSError as e:
        raise DataError(f"corpus file {path} cannot be read: {e.strerror or e}") from None
    if b"\x00" in head:
        raise DataError(f"corpus file {path} is binary, not UTF-8 text")
    return path


def failure_window(data, small_bytes: int = 64 << 10, window: float = 0.3) -> float:
    """How long to let the corpus preparation fail on bad input before TensorFlow's import
    starts (`tfsetup.import_while`), so that bad input fails at once. A file's faults that show
    at once are checked here (`check_text_file`, raising DataError); a tiny file (under
    `small_bytes`, prepared in milliseconds, and the kind that is too small to train on) gets
    `window` to fail; a larger one none: the import waits for nothing, and a fault that shows
    only in its words (no words, bad UTF-8 deep inside) is reported after the import, 2 s
    later. Waiting for a 3 MB file's preparation (wiki_sample's text) held the import back by
    0.15-0.25 s of every first run on it. Downloads and extractions (text8, wiki_sample) get
    `window`."""
    if data.name != "file":
        return window
    path = check_text_file(source_path(data))
    return window if path.stat().st_size < small_bytes else 0.0


def iter_text_blocks(path: Path, block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """Yield the UTF-8 text of `path` in blocks that end on white space (a word is never split).

    Raises DataError naming the file when it is missing, a folder, or not UTF-8 text."""
    path = check_text_file(path)
    try:
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


def prepare_corpus(data, *, vocab_size: int, min_count: int, keep_unk: bool, min_words: int = 2) -> Corpus:
    """Turn the corpus of the `data` config node into ids + a vocabulary of at most `vocab_size`
    words seen at least `min_count` times (the others become UNK, or are dropped without
    `keep_unk`), cached on disk (see the module doc).

    Raises DataError for a missing, empty, binary or too-small corpus."""
    src = source_path(data)
    key_src = json.dumps({"src": _file_identity(src) if src.exists() else str(src),
                          "v": NORMALISATION_VERSION, "vocab_size": vocab_size,
                          "min_count": min_count, "keep_unk": keep_unk}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
    folder = cache_root(data) / "prepared" / f"{src.stem[:40]}-{key}"
    if not (folder / "meta.json").is_file():
        with locked(folder.parent / (folder.name + ".lock")):
            if not (folder / "meta.json").is_file():
                _prepare_into(src, folder, vocab_size, min_count, keep_unk)
    return load_prepared(folder, min_count, min_words)


def _prepare_into(src: Path, folder: Path, vocab_size: int, min_count: int, keep_unk: bool) -> None:
    """Prepare `src` into `folder` (built in a temporary folder, then renamed): the text is read
    and tokenised once; each token gets the number of its word in order of first appearance
    (a dict whose missing keys take the next number, at C speed), kept in a scratch file so no
    corpus has to fit in memory; the words are counted from those numbers, the vocabulary is
    chosen, and the scratch file is renumbered into the final ids by one table lookup per chunk."""
    tmpdir = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder.parent))
    try:
        first_seen: collections.defaultdict = collections.defaultdict()
        first_seen.default_factory = first_seen.__len__  # a new word: the next number
        counts = np.zeros(0, dtype=np.int64)
        scratch = tmpdir / "tokens.i32"
        with open(scratch, "wb") as fh:
            for block in iter_text_blocks(src, BLOCK_CHARS):
                tokens = tokenize(block)
                numbers = np.fromiter(map(first_seen.__getitem__, tokens), dtype=np.int32, count=len(tokens))
                block_counts = np.bincount(numbers, minlength=len(first_seen))
                block_counts[: len(counts)] += counts
                counts = block_counts
                fh.write(numbers.tobytes())
        total = int(counts.sum())
        if total == 0:
            raise DataError(f"corpus file {src} is empty: it holds no words")
        words, kept_counts = build_vocab(dict(zip(first_seen, counts.tolist())), vocab_size, min_count, keep_unk)
        index = {w: i for i, w in enumerate(words)}
        unk = 0 if keep_unk else -1
        final = np.array([index.get(w, unk) for w in first_seen], dtype=np.int32)  # number -> id
        n_ids = total if keep_unk else int(kept_counts.sum())
        ids = np.lib.format.open_memmap(tmpdir / "ids.npy", mode="w+", dtype=np.int32, shape=(n_ids,))
        pos = 0
        chunk = BLOCK_CHARS // 4
        for start in range(0, total, chunk):
            arr = final[np.fromfile(scratch, dtype=np.int32, count=min(chunk, total - start), offset=4 * start)]
            if not keep_unk:
                arr = arr[arr >= 0]
            ids[pos:pos + len(arr)] = arr
            pos += len(arr)
        assert pos == n_ids, (pos, n_ids)
        ids.flush()
        del ids
        scratch.unlink()
        with open(tmpdir / "vocab.tsv", "w", encoding="utf-8") as fh:
            for w, c in zip(words, kept_counts):
                fh.write(f"{w}\t{c}\n")
        (tmpdir / "meta.json").write_text(json.dumps({"source": str(src), "raw_tokens": total,
                                                      "tokens": n_ids, "distinct_words": len(first_seen)}))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmpdir, folder)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def load_prepared(folder: Path, min_count: int, min_words: int = 2) -> Corpus:
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
            f"min_count={min_count} times ({meta['distinct_words']} distinct words in all), "
            f"need at least {min_words} for this config; use a bigger corpus or lower min_count")
    if len(ids) < 2:
        raise DataError(f"corpus {meta['source']} is too small: {len(ids)} words left to train on")
    return Corpus(ids=ids, words=words, counts=np.asarray(counts, dtype=np.int64),
                  raw_tokens=int(meta["raw_tokens"]), folder=folder)
