"""The model learns: every model x loss x optimizer recovers a planted structure."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from omegaconf import OmegaConf

from conftest import planted_corpus
from w2vexp.config import LOSSES, MODELS, OPTIMIZERS, compose

LRS = {"sgd": 1.0, "adagrad": 0.5, "adam": 0.02}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("planted")
    groups = planted_corpus(d / "planted.txt")
    return d, groups


def train_inprocess(folder, corpus_file, cache, **kw):
    """Train one run in this process with the pipeline every command uses; return (words, the
    vectors it exported, its run.json)."""
    from w2vexp.pipeline import train
    from w2vexp.runs import load_vectors

    choices = [f"{g}={kw.pop(g)}" for g in ("model", "loss", "optimizer") if g in kw]
    cfg = compose(["data=file", f"data.path={corpus_file}", f"data.cache_dir={cache}", *choices])
    settings = {"min_count": 1, "keep_unk": False, "subsample": 0.0, "embed_size": 16, "batch_size": 128,
                "window": 2, "loss.num_sampled": 5, "train.steps": 600, "train.checkpoint_every": 600}
    settings.update(kw)
    for k, v in settings.items():
        if k != "loss.num_sampled" or "num_sampled" in cfg.loss:
            OmegaConf.update(cfg, k, v)
    info = train(cfg, folder, [])
    kv = load_vectors(folder)
    return list(kv.index_to_key), np.asarray(kv.vectors), info


def group_scores(emb, words, groups):
    """(share of words whose nearest neighbour is in their group, mean cosine within groups minus
    mean cosine across groups)."""
    g = {w: i for i, grp in enumerate(groups) for w in grp}
    idx = [i for i, w in enumerate(words) if w in g]
    lab = np.array([g[words[i]] for i in idx])
    u = emb[idx] / np.linalg.norm(emb[idx], axis=1, keepdims=True)
    sim = u @ u.T
    np.fill_diagonal(sim, -np.inf)
    nn_ok = float(np.mean(lab[np.argmax(sim, axis=1)] == lab))
    same = lab[:, None] == lab[None, :]
    np.fill_diagonal(sim, np.nan)
    off = ~np.eye(len(idx), dtype=bool)
    margin = float(np.nanmean(sim[same & off]) - np.nanmean(sim[~same]))
    return nn_ok, margin


# every loss, optimizer and model at least once in the quick tests; the rest of the grid is slow
QUICK = {("skipgram", "neg", "sgd"), ("cbow", "hs", "adagrad"), ("skipgram", "nce", "adam"),
         ("cbow", "sampled_softmax", "sgd"), ("skipgram", "softmax", "adagrad"), ("cbow", "neg", "sgd")}
GRID = [c if c in QUICK else pytest.param(*c, marks=pytest.mark.slow)
        for c in itertools.product(MODELS, LOSSES, OPTIMIZERS)]


@pytest.mark.parametrize("model,loss,optimizer", GRID)
def test_every_combination_learns_the_planted_structure(planted, tmp_path, model, loss, optimizer):
    d, groups = planted
    words, vectors, info = train_inprocess(tmp_path / "run", d / "planted.txt", d / "cache",
                                              **{"model": model, "loss": loss, "optimizer": optimizer,
                                                 "lr": LRS[optimizer]})
    nn_ok, margin = group_scores(vectors, words, groups)
    assert nn_ok >= 0.95, (nn_ok, margin)
    assert margin > 0.3, (nn_ok, margin)
    assert info["status"] == "finished" and info["steps"] == 600 and np.isfinite(info["final_loss"])


def test_untrained_vectors_show_no_structure(planted, tmp_path):
    """The control for the test above: one step of training is not enough to see the groups."""
    d, groups = planted
    words, vectors, _ = train_inprocess(tmp_path / "run", d / "planted.txt", d / "cache", **{"train.steps": 1})
    nn_ok, margin = group_scores(vectors, words, groups)
    assert nn_ok < 0.6 and margin < 0.1
