"""Intervals cover what they claim, significance marks match hand-worked cases."""
from __future__ import annotations

import numpy as np
import pytest

from w2vexp.uncertainty import (accuracy_interval, mean_interval, paired_test, seeds_test, spearman_interval,
                                spearman_rows)


def test_accuracy_intervals_cover_the_true_rate_about_95_percent_of_the_time():
    """Simulation: 400 test sets of 500 questions answered right with probability 0.3."""
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        lo, hi = accuracy_interval(rng.random(500) < 0.3)
        hits += lo <= 0.3 <= hi
    assert 0.91 <= hits / 400 <= 0.98, hits / 400


def test_spearman_intervals_cover_the_true_correlation():
    """Simulation: 100 samples of 200 pairs from a bivariate normal with correlation 0.5, whose Spearman rho is
    (6 / pi) asin(0.25) = 0.4826."""
    true = 6 / np.pi * np.arcsin(0.25)
    rng = np.random.default_rng(2)
    cov = [[1, 0.5], [0.5, 1]]
    hits = 0
    for _ in range(100):
        x, y = rng.multivariate_normal([0, 0], cov, size=200).T
        lo, hi = spearman_interval(x, y, resamples=400)
        hits += lo <= true <= hi
    assert 0.87 <= hits / 100 <= 1.0, hits / 100


def test_spearman_rows_is_scipys_spearman():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, size=(4, 30)).astype(float), rng.random((4, 30))  # ties in x
    assert np.allclose(spearman_rows(x, y), [spearmanr(a, b).statistic for a, b in zip(x, y)])


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_rankdata_and_spearman_are_scipys_exactly():
    """Ours replace scipy.stats in a run (its import is 0.5 s): the same numbers, bit for bit."""
    from scipy.stats import rankdata as scipy_rankdata
    from scipy.stats import spearmanr

    from w2vexp.uncertainty import rankdata, spearman

    rng = np.random.default_rng(5)
    for n in (2, 3, 17, 999):
        x = rng.integers(0, 7, size=(3, n)).astype(float)  # many ties
        y = rng.random((3, n)).astype(np.float32)
        assert np.array_equal(rankdata(x), scipy_rankdata(x, axis=-1))
        assert np.array_equal(rankdata(y), scipy_rankdata(y, axis=-1))
        for a, b in zip(x, y):
            ours, theirs = spearman(a, b), spearmanr(a, b).statistic
            assert ours == theirs or (np.isnan(ours) and np.isnan(theirs))
    assert np.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])) and np.isnan(spearman([1.0], [2.0]))



def test_resampled_ranks_are_scipys_ranks_of_each_resample_exactly():
    """The bootstrap of Spearman's rho ranks each resample by counting, not sorting: the same
    ranks as scipy's rankdata of the resampled values, bit for bit, ties and repeats included,
    so the same intervals."""
    from scipy.stats import rankdata as scipy_rankdata

    from w2vexp.uncertainty import _indices, _percentiles, resampled_ranks

    rng = np.random.default_rng(8)
    for n in (3, 20, 353):
        for values in (rng.integers(0, 6, n) / 2, rng.random(n).astype(np.float32).astype(np.float64)):
            idx = _indices(n, 50, n)
            assert np.array_equal(resampled_ranks(values, idx), scipy_rankdata(values[idx], axis=-1))
        gold, model = rng.integers(0, 10, n).astype(float), rng.random(n)
        sorted_rhos = spearman_rows(gold[_indices(n, 1000, 4)], model[_indices(n, 1000, 4)])
        assert spearman_interval(gold, model, seed=4) == _percentiles(sorted_rhos[np.isfinite(sorted_rhos)])


def test_intervals_are_deterministic():
    flags = np.random.default_rng(4).random(300) < 0.4
    assert accuracy_interval(flags) == accuracy_interval(flags)


def test_paired_test_by_hand():
    """100 shared questions. A is right on the first 60, B on the first 40: B is wrong on 20
    questions A gets right and never the other way, so every resample favours A (p = 0). With
    one question of difference the runs cannot be told apart."""
    a = np.r_[np.ones(60), np.zeros(40)]
    b = np.r_[np.ones(40), np.zeros(60)]
    t = paired_test(a, b)
    assert t["diff"] == pytest.approx(0.2) and t["p"] == 0.0 and t["distinguishable"]
    assert 0.1 < t["lo"] <= 0.2 <= t["hi"] < 0.3
    c = np.r_[np.ones(59), np.zeros(41)]
    t = paired_test(a, c)
    assert not t["distinguishable"] and t["p"] > 0.05


def test_seeds_test_by_hand():
    """Welch's t by hand: means 0.51 and 0.41, variances 1e-4 each, n = 3: t = 0.10 /
    sqrt(2e-4 / 3) = 12.25 on 4 degrees of freedom, p = 0.00026."""
    t = seeds_test([0.50, 0.52, 0.51], [0.40, 0.41, 0.42])
    assert t["diff"] == pytest.approx(0.10) and t["p"] == pytest.approx(0.000256, rel=0.05) and t["distinguishable"]
    t = seeds_test([0.50, 0.52, 0.51], [0.49, 0.53, 0.50])
    assert not t["distinguishable"]


def test_mean_interval_by_hand():
    """Values 1, 2, 3: mean 2, std 1, half-width t(0.975, 2) / sqrt(3) = 4.303 / 1.732 = 2.484."""
    m = mean_interval([1.0, 2.0, 3.0])
    assert m["mean"] == 2 and m["std"] == 1 and m["n"] == 3
    assert m["lo"] == pytest.approx(2 - 2.4841, abs=1e-3) and m["hi"] == pytest.approx(2 + 2.4841, abs=1e-3)
    assert mean_interval([0.5])["lo"] is None


def test_compare_aggregates_seeds_with_intervals_and_marks(tmp_path):
    """Two configs x 3 seeds: compare --aggregate seed shows mean, std, the t-interval and n,
    and marks the clearly worse config with '<' (Welch: p = 0.00026 as above)."""
    import json

    from w2vexp.compare import compare_table

    for lr, accs in (("0.5", [0.50, 0.52, 0.51]), ("1.0", [0.40, 0.41, 0.42])):
        for seed, acc in enumerate(accs, 1):
            d = tmp_path / f"lr={lr},seed={seed}"
            d.mkdir()
            (d / "run.json").write_text(json.dumps({
                "status": "finished", "overrides": [f"lr={lr}", f"seed={seed}"], "steps": 10, "final_loss": 1.0,
                "metrics": {"analogy_acc": acc, "analogy_acc_lo": acc - 0.01, "analogy_acc_hi": acc + 0.01}}))
    text = compare_table(tmp_path, aggregate_by="seed")
    best, worse = text.splitlines()[1], text.splitlines()[2]
    assert best.startswith("lr=0.5") and "51.00% ± 1.00 [48.52, 53.48]" in best and best.rstrip().endswith("best")
    assert worse.startswith("lr=1.0") and worse.rstrip().endswith("<") and "  3  " in worse
    single = compare_table(tmp_path / "lr=0.5,seed=1")
    assert "50.00% [49.00, 51.00]" in single


def test_interval_ends_are_numpys_percentiles_bit_for_bit():
    """`_percentiles` computes np.percentile's default ('linear') ends by its own steps (so that
    numpy.ma is not imported): the same floats for any finite values -- ties, one value, tiny
    and huge magnitudes -- and numpy.ma stays unimported in a fresh process."""
    import subprocess
    import sys

    from w2vexp.uncertainty import LEVEL, _percentiles

    rng = np.random.default_rng(5)
    tail = (1 - LEVEL) / 2 * 100
    for trial in range(3000):
        n = int(rng.integers(1, 1100))
        x = (rng.normal(size=n), rng.integers(-5, 5, size=n) / 4, rng.random(n) * 10.0 ** rng.integers(-300, 300),
             rng.random(n).astype(np.float32).astype(np.float64) - 0.5)[trial % 4]
        ours = np.array(_percentiles(x))
        assert np.array_equal(ours.view(np.uint64), np.percentile(x, [tail, 100 - tail]).view(np.uint64))
    code = ("import sys, numpy as np\nfrom w2vexp.uncertainty import spearman_interval\n"
            "g = np.random.default_rng(1).random(300)\n"
            "print(spearman_interval(g, g + np.random.default_rng(2).random(300)) is not None, 'numpy.ma' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split() == ["True", "False"]
