"""How sure a user can be of a metric and of a difference between runs.

- `interval`: a 95 % percentile-bootstrap interval of a metric over its items (analogy questions,
  word pairs), from a fixed seed, so the same vectors always get the same interval.
- `paired_test`: whether two runs evaluated on the same items differ, by a paired bootstrap of
  the difference (Efron & Tibshirani 1993, ch. 16; the usual test for accuracy differences on a
  shared test set, e.g. Koehn 2004 for MT): both runs are resampled with the same item indices,
  so what the items have in common cancels out.
- `seeds_test`: whether two configs differ across seeds, by Welch's t-test on their per-seed
  values (seeds are independent replicates; Welch does not assume equal variances).
- `mean_interval`: mean, std and the 95 % t-interval of per-seed values.
- `rankdata`, `spearman`: scipy.stats' numbers, computed here because importing scipy.stats
  takes about 0.5 s, a tenth of a small run's wall time (tests check they are scipy's exactly).

Nothing here imports TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np

RESAMPLES = 1000
SEED = 20131016  # fixed: the same items always give the same interval
LEVEL = 0.95


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def rankdata(x) -> np.ndarray:
    """Ranks (1..n) along the last axis, ties sharing the mean of their positions: what
    `scipy.stats.rankdata(x, axis=-1)` returns, by its own steps (stable sort, tie groups, ranks
    put back in input order)."""
    x = np.asarray(x)
    n = x.shape[-1]
    order = np.argsort(x, axis=-1, kind="stable")
    y = np.take_along_axis(x, order, axis=-1)
    first = np.ones(x.shape, dtype=bool)  # the first of each tie group, row by row
    first[..., 1:] = y[..., 1:] != y[..., :-1]
    starts = np.flatnonzero(first)
    counts = np.diff(starts, append=y.size)
    ordinal = np.broadcast_to(np.arange(1, n + 1, dtype=np.float64), x.shape)
    ranks = np.repeat(ordinal[first] + (counts.astype(np.float64) - 1) / 2, counts).reshape(x.shape)
    out = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(out, order, ranks, axis=-1)
    return out


def spearman(x, y) -> float:
    """Spearman's rho of two 1-D samples: `scipy.stats.spearmanr(x, y).statistic`, the number
    gensim's `evaluate_word_pairs` reports (NaN when there are fewer than 2 items or either
    sample is constant, as scipy)."""
    a = np.column_stack((np.asarray(x), np.asarray(y)))
    if a.shape[0] <= 1 or (a[:, 0][0] == a[:, 0]).all() or (a[:, 1][0] == a[:, 1]).all() or np.isnan(a).any():
        return float("nan")
    ranked = np.column_stack((rankdata(a[:, 0]), rankdata(a[:, 1])))
    return float(np.corrcoef(ranked, rowvar=False)[1, 0])


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of x and y [R, n] (average ranks for ties, as scipy)."""
    return _rho_of_ranks(rankdata(x), rankdata(y))


def _rho_of_ranks(rx: np.ndarray, ry: np.ndarray) -> np.ndarray:
    """Pearson's r of each row pair of two rank matrices [R, n] (changes them)."""
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis=1) / den


def resampled_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """`rankdata(values[idx])` for bootstrap resamples idx [R, n] of finite values, without a
    sort per resample: a value's average rank in a resample is the number of drawn items below
    it plus (the number drawn equal to it + 1) / 2, counted per distinct value (the same exact
    half-integers, so the same bits)."""
    distinct, group = np.unique(values, return_inverse=True)
    R, m = idx.shape[0], len(distinct)
    drawn = group.reshape(-1)[idx]
    counts = np.bincount((drawn + m * np.arange(R)[:, None]).ravel(), minlength=R * m).reshape(R, m)
    rank_of = (np.cumsum(counts, axis=1) - counts) + (counts + 1) / 2.0
    return np.take_along_axis(rank_of, drawn, axis=1)


def accuracy_interval(correct, resamples: int = RESAMPLES, seed: int = SEED) -> tuple | None:
    """95 % bootstrap interval of the share of True in `correct` (one flag per question). The
    count of right answers in a resample of n questions is Binomial(n, share): drawn directly,
    it is the same bootstrap distribution at O(resamples) instead of O(resamples x n)."""
    correct = np.asarray(correct, dtype=np.float64)
    n = len(correct)
    if n == 0:
        return None
    means = np.random.default_rng(seed).binomial(n, correct.mean(), size=resamples) / n
    return _percentiles(means)


def spearman_interval(gold, model, resamples: int = RESAMPLES, seed: int = SEED) -> tuple | None:
    """95 % bootstrap interval of Spearman's rho between human and model similarities (pairs
    resampled together)."""
    gold, model = np.asarray(gold, np.float64), np.asarray(model, np.float64)
    if len(gold) < 3:
        return None
    idx = _indices(len(gold), resamples, seed)
    if np.isfinite(gold).all() and np.isfinite(model).all():
        rhos = _rho_of_ranks(resampled_ranks(gold, idx), resampled_ranks(model, idx))
    else:
        rhos = spearman_rows(gold[idx], model[idx])
    return _percentiles(rhos[np.isfinite(rhos)])


def _percentiles(values: np.ndarray) -> tuple | None:
    """The LEVEL interval's ends: `np.percentile(values, [tail, 100 - tail])` of finite values,
    by its own steps for its default ('linear') method -- the same floats (a test compares them
    bit for bit) -- without its first call's import of numpy.ma (0.006 s of a run's final
    evaluation, for a check that finite values never need)."""
    if len(values) == 0:
        return None
    tail = (1 - LEVEL) / 2 * 100
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = len(v)
    ends = []
    for q in (tail / 100, (100 - tail) / 100):
        virtual = (n - 1) * q  # numpy's virtual index for 'linear'
        if virtual >= n - 1:
            ends.append(float(v[-1]))
            continue
        i = math.floor(virtual)
        t = virtual - i
        a, b = float(v[i]), float(v[i + 1])
        d = b - a
        ends.append(b - d * (1 - t) if t >= 0.5 else a + d * t)  # numpy's _lerp
    return ends[0], ends[1]


def paired_test(a, b, resamples: int = 2000, seed: int = SEED) -> dict:
    """Paired bootstrap of mean(a) - mean(b) over the same items (per-item scores of two runs,
    e.g. 1/0 per analogy question): the difference, its 95 % interval and a two-sided p-value
    (twice the share of resampled differences on the other side of zero). The runs cannot be
    told apart at the 5 % level when the interval contains 0."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError("a paired test needs the same, non-empty set of items for both runs")
    d = a - b
    diffs = d[_indices(len(d), resamples, seed)].mean(axis=1)
    lo, hi = _percentiles(diffs)
    p = min(1.0, 2 * min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0))))
    return {"diff": float(d.mean()), "lo": lo, "hi": hi, "p": p, "distinguishable": not (lo <= 0 <= hi)}


def seeds_test(a, b) -> dict:
    """Welch's t-test of per-seed values a and b (at least 2 each): the difference of means, a
    two-sided p-value, and whether they differ at the 5 % level."""
    from scipy.stats import ttest_ind

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's t-test needs at least 2 seeds of each config")
    if np.all(a == a[0]) and np.all(b == b[0]):  # no spread at all: any difference is real
        return {"diff": diff, "p": 0.0 if diff else 1.0, "distinguishable": diff != 0}
    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return {"diff": diff, "p": p, "distinguishable": p < 1 - LEVEL}


def mean_interval(values) -> dict:
    """mean, std (n - 1), n and the 95 % t-interval of the mean of per-seed values."""
    from scipy.stats import t

    v = np.asarray([x for x in values if x is not None and not math.isnan(x)], np.float64)
    n = len(v)
    if n == 0:
        return {"mean": None, "std": None, "n": 0, "lo": None, "hi": None}
    mean = float(v.mean())
    if n == 1:
        return {"mean": mean, "std": 0.0, "n": 1, "lo": None, "hi": None}
    std = float(v.std(ddof=1))
    half = float(t.ppf(1 - (1 - LEVEL) / 2, n - 1)) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "n": n, "lo": mean - half, "hi": mean + half}
