"""Training examples from a prepared corpus: subsampling, the dynamic window, batches.

Every random choice here is a pure function of (seed, epoch, chunk): the corpus is cut into
chunks of `train.chunk_tokens` tokens, and chunk c of epoch e is always turned into the same
shuffled examples. The position in the stream -- (epoch, chunk, offset) -- is all the state
there is, so a checkpoint that stores it resumes the exact same batches. All work is vectorised
with NumPy (no per-pair Python loops). Nothing here imports TensorFlow.
"""
from __future__ import annotations

import math
import queue
import threading
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np

from .errors import DataError


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """Probability of keeping each occurrence of each word under frequent-word subsampling
    (Mikolov et al. 2013, in the form word2vec.c and gensim use): with f the word's share of the
    corpus, keep = (sqrt(f / sample) + 1) * sample / f, capped at 1. sample=0 keeps everything."""
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    p[~np.isfinite(p)] = 1.0
    return np.minimum(p, 1.0)


def reduced_windows(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """word2vec's dynamic window: each centre word looks 1..window words to each side, uniformly,
    so nearer words are used more often."""
    return rng.integers(1, window + 1, size=n, dtype=np.int32)


def skipgram_pairs(tokens: np.ndarray, eff: np.ndarray, window: int) -> np.ndarray:
    """All (centre, context) pairs of `tokens` where the context is within the centre's reduced
    window `eff`, as the rows of one array [pairs, 2], in no particular order (by distance
    d = 1..window: centre i with context i + d, then centre i + d with context i), gathered
    straight into it."""
    picks = []  # (positions i, d, whether the centre is i + d)
    for d in range(1, min(window, len(tokens) - 1) + 1):
        picks.append((np.flatnonzero(eff[:-d] >= d), d, False))  # centre i, context i + d
        picks.append((np.flatnonzero(eff[d:] >= d), d, True))  # centre i + d, context i
    pairs = np.empty((sum(len(i) for i, _, _ in picks), 2), np.int32)
    o = 0
    for i, d, right_centre in picks:
        near, far = (1, 0) if right_centre else (0, 1)
        np.take(tokens, i, out=pairs[o:o + len(i), near])
        np.take(tokens[d:], i, out=pairs[o:o + len(i), far])
        o += len(i)
    return pairs


def cbow_examples(tokens: np.ndarray, eff: np.ndarray, window: int, pad: int,
                  rng: Optional[np.random.Generator] = None, rows=None) -> tuple[np.ndarray, np.ndarray]:
    """For each centre word, its context words within the reduced window as one row of
    2 * window ids padded with `pad`; rows without any context are dropped. With `rng`, the rows
    come in the order of `rng.permutation(number of rows)` -- the same arrays as shuffling the
    result afterwards, built in that order at once when every row is kept (then the shuffle
    costs no extra pass over the rows; `rows`, w2vexp.kernels' `BatchRows`, builds them in one
    pass instead of NumPy's 4 * window)."""
    n = len(tokens)
    every_row_kept = n >= 2 and eff.min() >= 1 and tokens.max() < pad  # a neighbour at distance 1
    if rng is not None and not every_row_kept:
        ctx, centre = cbow_examples(tokens, eff, window, pad)
        order = rng.permutation(len(centre))
        return ctx[order], centre[order]
    order = rng.permutation(n) if rng is not None else slice(None)
    if rows is not None and rng is not None:
        return rows.cbow_rows(tokens, eff, window, pad, order)
    padded = np.full(n + 2 * window, pad, dtype=np.int32)
    padded[window:window + n] = tokens
    ctx = np.empty((2 * window, n), dtype=np.int32)  # one offset per row: contiguous passes
    eff_rows = eff[order]
    for j, d in enumerate([*range(-window, 0), *range(1, window + 1)]):
        np.copyto(ctx[j], padded[window + d:window + d + n][order])
        np.copyto(ctx[j], pad, where=eff_rows < abs(d))
    ctx, centre = np.ascontiguousarray(ctx.T), tokens[order]
    if every_row_kept:
        return ctx, centre
    has = (ctx != pad).any(axis=1)
    return ctx[has], centre[has]


@dataclass
class Position:
    """Where the example stream stands: chunk `chunk` of epoch `epoch`, `offset` examples in."""

    epoch: int = 0
    chunk: int = 0
    offset: int = 0


class ExampleStream:
    """Deterministic batches of training examples from a prepared corpus.

    skip-gram examples are (centre, context) pairs; CBOW examples are (context row, centre).
    `take(k)` returns k batches plus the corpus words they consumed (counted before subsampling,
    the figure gensim reports) and advances the position. With `rows` (w2vexp.kernels'
    `BatchRows`) the pairs and rows are built by its C loops: the same arrays, several times
    faster."""

    def __init__(self, ids, counts: np.ndarray, *, model: str, window: int, sample: float,
                 batch_size: int, seed: int, chunk_tokens: int, pad: int, rows=None) -> None:
        self.ids = ids
        self.model = model
        self.window = window
        self.batch_size = batch_size
        self.seed = seed
        self.chunk_tokens = chunk_tokens
        self.pad = pad
        self.rows = rows
        self.counts = np.asarray(counts, dtype=np.float64)
        self.sample = sample
        self.keep = keep_probabilities(counts, sample)
        self.n_chunks = max(1, math.ceil(len(ids) / chunk_tokens))
        self.pos = Position()
        self._cache: Optional[tuple] = None

    # ------------------------------------------------------------ one chunk
    def chunk(self, epoch: int, c: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The shuffled examples of chunk c in epoch `epoch`, and the chunk's raw token count."""
        if self._cache and self._cache[0] == (epoch, c):
            return self._cache[1]
        rng = np.random.default_rng([self.seed, epoch, c, 0x77327665])
        raw = np.asarray(self.ids[c * self.chunk_tokens:(c + 1) * self.chunk_tokens])  # one window
        tokens = raw[rng.random(len(raw)) < self.keep[raw]]
        eff = reduced_windows(len(tokens), self.window, rng)
        if self.model == "skipgram":
            pairs = (self.rows.skipgram_pairs(tokens, eff, self.window) if self.rows is not None
                     else skipgram_pairs(tokens, eff, self.window))
            # the rows in the order of rng.permutation(len(pairs)) (the same draws and swaps),
            # moved in place as 8-byte items: no index array, no gather
            rng.shuffle(pairs.view(np.int64)[:, 0])
            inputs, labels = pairs[:, 0], pairs[:, 1]
        else:
            inputs, labels = cbow_examples(tokens, eff, self.window, self.pad, rng=rng, rows=self.rows)  # shuffled alike
        out = (inputs, labels, len(raw))
        self._cache = ((epoch, c), out)
        return out

    def examples_per_epoch(self) -> float:
        """Expected number of examples in one epoch (used to turn train.epochs into steps)."""
        return self.expected_examples(self.ids, self.counts, self.model, self.window, self.sample)

    @staticmethod
    def expected_examples(ids, counts, model: str, window: int, sample: float) -> float:
        """Expected examples per epoch of a corpus: the tokens kept by subsampling, times the
        mean number of context words (skip-gram) or once each (CBOW)."""
        counts = np.asarray(counts, dtype=np.float64)
        kept = float((counts * keep_probabilities(counts, sample)).sum()) * len(ids) / max(counts.sum(), 1.0)
        if model == "skipgram":
            return kept * (window + 1)  # 2 sides x mean reduced window (window + 1) / 2
        return kept

    # ------------------------------------------------------------ batches
    def take(self, k: int) -> tuple[np.ndarray, np.ndarray, float]:
        """The next k batches as arrays [k, batch, ...] and the corpus words they consumed."""
        B = self.batch_size
        need = k * B
        ins, labs = [], []
        words = 0.0
        empty_chunks = 0
        while need > 0:
            inputs, labels, n_raw = self.chunk(self.pos.epoch, self.pos.chunk)
            n = len(labels)
            got = min(need, n - self.pos.offset)
            if got > 0:
                ins.append(inputs[self.pos.offset:self.pos.offset + got])
                labs.append(labels[self.pos.offset:self.pos.offset + got])
                words += n_raw * got / n
                self.pos.offset += got
                need -= got
                empty_chunks = 0
            else:
                empty_chunks += 1
                if empty_chunks > self.n_chunks:
                    raise DataError("the corpus yields no training examples (too small for this window)")
            if self.pos.offset >= n:
                self.pos = Position(self.pos.epoch + (self.pos.chunk + 1) // self.n_chunks,
                                    (self.pos.chunk + 1) % self.n_chunks, 0)
        inputs = np.concatenate(ins).reshape((k, B) + ins[0].shape[1:])
        labels = np.concatenate(labs).reshape(k, B)
        return inputs, labels, words


@dataclass
class Block:
    """k consecutive batches (arrays, or what prefetch's `convert` made of them), with the stream
    position and words consumed after them."""

    inputs: np.ndarray
    labels: np.ndarray
    steps: int
    words: float
    position: Position


class prefetch:
    """Build blocks of batches in a background thread, started at once, so that batch building
    overlaps training (and the first block overlaps XLA compilation); the blocks come out in
    order and are the same as without the thread. `convert` is applied to each block's arrays
    in that thread too (the trainer turns them into tensors there: TensorFlow copies a NumPy
    argument twice, which would otherwise hold up the training thread). Iterate it once;
    `close()` (or leaving a `with` block) stops the thread."""

    def __init__(self, stream: ExampleStream, sizes: Iterator[int], depth: int = 8, convert=None) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, args=(stream, sizes, convert or (lambda a: a)),
                                        name="w2vexp-batches", daemon=True)
        self._thread.start()

    def _work(self, stream: ExampleStream, sizes: Iterator[int], convert) -> None:
        q = self._q
        try:
            for k in sizes:
                if self._stop.is_set():
                    return
                inputs, labels, words = stream.take(k)
                p = stream.pos
                q.put(Block(convert(inputs), convert(labels), k, words, Position(p.epoch, p.chunk, p.offset)))
            q.put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)

    def __iter__(self) -> Iterator[Block]:
        try:
            while True:
                item = self._q.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.close()

    def close(self) -> None:
        """Stop the thread (it may be blocked on a full queue: drain it until it exits)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)

    def __enter__(self) -> "prefetch":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
