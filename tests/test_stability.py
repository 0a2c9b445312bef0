"""Stability across seeds: 1.0 for identical runs, lower for runs whose vectors differ."""
from __future__ import annotations

import json

import numpy as np
import pytest

from w2vexp.artifacts import write_vectors
from w2vexp.stability import stability, table


def fake_run(folder, overrides, vectors, words):
    folder.mkdir(parents=True)
    write_vectors(folder, words, vectors.astype(np.float32))
    (folder / "run.json").write_text(json.dumps({"status": "finished", "overrides": overrides, "metrics": {}}))


@pytest.fixture
def words():
    return ["UNK"] + [f"w{i}" for i in range(300)]


def test_identical_seeds_are_perfectly_stable(tmp_path, words):
    v = np.random.default_rng(0).normal(size=(len(words), 16))
    for seed in (1, 2):
        fake_run(tmp_path / f"lr=0.5,seed={seed}", ["lr=0.5", f"seed={seed}"], v, words)
    r = stability(tmp_path)["lr=0.5"]
    assert r["runs"] == 2 and r["top"] == 300
    assert np.all(r["overlap"] == 1.0) and np.allclose(r["distance"], 0.0, atol=1e-5)


def test_a_rotation_is_stable_and_noise_is_not(tmp_path, words):
    """A rotated copy has the same neighbours and no distance after alignment; a copy with
    noise added loses neighbours and distance grows."""
    rng = np.random.default_rng(1)
    v = rng.normal(size=(len(words), 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    fake_run(tmp_path / "a" / "seed=1", ["seed=1"], v, words)
    fake_run(tmp_path / "a" / "seed=2", ["seed=2"], v @ q, words)
    fake_run(tmp_path / "b" / "seed=1", ["seed=1"], v, words)
    fake_run(tmp_path / "b" / "seed=2", ["seed=2"], v + rng.normal(scale=0.7, size=v.shape), words)
    rotated = stability(tmp_path / "a")["default"]
    noisy = stability(tmp_path / "b")["default"]
    assert rotated["overlap"].mean() == 1.0 and rotated["distance"].max() < 1e-4
    assert noisy["overlap"].mean() < 0.8 and noisy["distance"].mean() > 0.05
    text = table({"noisy": noisy})
    assert "1-100" in text and "101-300" in text


def test_no_seed_groups_is_a_clear_error(tmp_path, words):
    from w2vexp.errors import UserError

    fake_run(tmp_path / "lr=0.5", ["lr=0.5"], np.ones((len(words), 4)), words)
    with pytest.raises(UserError, match="differ only by seed"):
        stability(tmp_path)
