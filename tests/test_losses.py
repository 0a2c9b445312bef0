"""The losses and optimizers are numerically right (against numpy and against each other) and
sparse (only the rows of a batch move)."""
from __future__ import annotations

import functools

import itertools

import numpy as np
import pytest

from w2vexp.config import LOSSES, compose
from w2vexp.tfsetup import configure

tf = configure(0, True, 0)

from w2vexp.losses import huffman_codes, make_loss  # noqa: E402
from w2vexp.optim import make_optimizer, sum_duplicates  # noqa: E402

RNG = np.random.default_rng(0)
COUNTS = np.sort(RNG.zipf(1.3, 40).clip(max=10_000))[::-1].astype(np.int64) + 1


@functools.lru_cache(maxsize=None)
def _group(group: str, choice: str):
    """conf/<group>/<choice>.yaml as a user gets it (composed once per test session)."""
    return compose([f"{group}={choice}"])[group]


def _loss(name, counts=COUNTS, dim=8, **kw):
    cfg = _group("loss", name).copy()
    for k, v in kw.items():
        cfg[k] = v
    return make_loss(cfg, counts, dim, seed=5)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _randomise(module, scale=0.3):
    for v in module.trainable_variables:
        v.assign(RNG.normal(0, scale, v.shape).astype(np.float32))


# ---------------------------------------------------------------- hierarchical softmax

def test_huffman_codes_are_prefix_free_and_short_for_frequent_words():
    P, C, L = huffman_codes(COUNTS)
    codes = ["".join(str(int(c)) for c in C[w, :L[w]]) for w in range(len(COUNTS))]
    assert len(set(codes)) == len(codes)
    for a, b in itertools.permutations(codes, 2):
        assert not b.startswith(a)
    for i, j in itertools.combinations(range(len(COUNTS)), 2):
        if COUNTS[i] > COUNTS[j]:
            assert L[i] <= L[j]
    assert P.max() == len(COUNTS) - 2 and (P[:, 0] == P[0, 0]).all()  # V-1 inner nodes, one root


def test_hs_probabilities_of_all_words_sum_to_one():
    loss = _loss("hs")
    _randomise(loss, 1.0)
    h = tf.constant(RNG.normal(0, 1, (3, 8)), tf.float32)
    V = len(COUNTS)
    total = np.zeros(3)
    for w in range(V):
        total += np.exp(-loss(h, tf.fill([3], w), 0).numpy())
    assert np.allclose(total, 1.0, atol=1e-4)


def test_hs_loss_and_gradient_match_numpy():
    loss = _loss("hs")
    _randomise(loss)
    P, C, L = huffman_codes(COUNTS)
    W = loss.weights.numpy()
    h = tf.Variable(RNG.normal(0, 1, (4, 8)).astype(np.float32))
    labels = np.array([0, 5, 17, 39])
    with tf.GradientTape() as tape:
        out = loss(h, tf.constant(labels, tf.int32), 0)
        total = tf.reduce_sum(out)
    g = tape.gradient(total, h).numpy()
    for b, w in enumerate(labels):
        pts, target = P[w, :L[w]], 1 - C[w, :L[w]]
        x = W[pts] @ h.numpy()[b]
        ref = -np.sum(target * np.log(_sigmoid(x)) + (1 - target) * np.log(1 - _sigmoid(x)))
        assert out.numpy()[b] == pytest.approx(ref, rel=1e-4)
        assert np.allclose(g[b], ((_sigmoid(x) - target)[:, None] * W[pts]).sum(0), atol=1e-5)


# ---------------------------------------------------------------- negative sampling

def test_neg_loss_and_gradient_match_numpy():
    loss = _loss("neg", num_sampled=5)
    _randomise(loss)
    W = loss.weights.numpy()
    h = tf.Variable(RNG.normal(0, 1, (4, 8)).astype(np.float32))
    labels = np.array([1, 2, 3, 30])
    step = 7
    noise = loss.sampler.sample([4, 5], step).numpy()  # the same draws the loss makes at this step
    with tf.GradientTape() as tape:
        out = loss(h, tf.constant(labels, tf.int32), step)
        total = tf.reduce_sum(out)
    g = tape.gradient(total, h).numpy()
    for b in range(4):
        hb = h.numpy()[b]
        pos, neg = W[labels[b]] @ hb, W[noise[b]] @ hb
        ref = -np.log(_sigmoid(pos)) - np.log(_sigmoid(-neg)).sum()
        assert out.numpy()[b] == pytest.approx(ref, rel=1e-4)
        ref_g = -(1 - _sigmoid(pos)) * W[labels[b]] + (_sigmoid(neg)[:, None] * W[noise[b]]).sum(0)
        assert np.allclose(g[b], ref_g, atol=1e-5)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_shared_negatives_are_one_pool_per_group_scaled_to_num_sampled(groups):
    """loss.shared_negatives=S, loss.negative_groups=G: the batch is cut into G equal parts in
    order, each part shares one pool of S noise words, each weighted num_sampled / S."""
    loss = _loss("neg", num_sampled=5, shared_negatives=3, negative_groups=groups)
    _randomise(loss)
    W = loss.weights.numpy()
    h = RNG.normal(0, 1, (8, 8)).astype(np.float32)
    labels = np.array([1, 2, 3, 30, 4, 5, 6, 7])
    step = 11
    pools = loss.sampler.sample([groups, 3], step).numpy()
    out = loss(tf.constant(h), tf.constant(labels, tf.int32), step).numpy()
    for b in range(8):
        pool = pools[b // (8 // groups)]
        pos, neg = W[labels[b]] @ h[b], W[pool] @ h[b]
        ref = -np.log(_sigmoid(pos)) - 5 / 3 * np.log(_sigmoid(-neg)).sum()
        assert out[b] == pytest.approx(ref, rel=1e-4)


def test_noise_follows_unigram_to_the_ns_exponent_and_depends_only_on_seed_and_step():
    loss = _loss("neg", num_sampled=5, ns_exponent=0.75)
    draws = loss.sampler.sample([200_000], 3).numpy()
    p = COUNTS ** 0.75 / (COUNTS ** 0.75).sum()
    freq = np.bincount(draws, minlength=len(COUNTS)) / len(draws)
    assert np.allclose(freq, p, atol=0.004)
    assert np.array_equal(draws, loss.sampler.sample([200_000], 3).numpy())
    assert not np.array_equal(draws[:100], loss.sampler.sample([200_000], 4).numpy()[:100])


def _numpy_draws(sampler, seed, step, n):
    """UnigramSampler's documented draw, in NumPy: splitmix64 of (seed, step, j), multiply-shift
    for the word, 24 bits for the alias test."""
    from w2vexp.losses import GOLDEN, MIX1, MIX2, SALT_NOISE

    def mix(x):
        x = x + np.uint64(GOLDEN)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(MIX1)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(MIX2)
        return x ^ (x >> np.uint64(31))

    with np.errstate(over="ignore"):
        key = mix(mix(np.uint64(seed)) + np.uint64(step) * np.uint64(16) + np.uint64(SALT_NOISE))
        x = mix(key + np.arange(n, dtype=np.uint64) * np.uint64(GOLDEN))
    i = ((x >> np.uint64(32)) * np.uint64(sampler.vocab) >> np.uint64(32)).astype(np.int64)
    u = (x & np.uint64(0xFFFFFF)).astype(np.float32) * np.float32(2.0 ** -24)
    return np.where(u < sampler.accept.numpy()[i], i, sampler.alias.numpy()[i])


def test_noise_draws_are_the_same_in_tensorflows_kernels_in_xla_and_in_numpy():
    """The fused kernel's noise is drawn by TensorFlow's own kernels, the XLA graph's inside
    its compiled program: both must be the one documented function of (seed, step)."""
    sampler = _loss("neg").sampler
    steps = tf.constant([0, 1, 7, 2 ** 40 + 3], tf.int64)
    eager = sampler.sample_steps(steps, 1000).numpy()
    xla = tf.function(lambda s: sampler.sample_steps(s, 1000), jit_compile=True)(steps).numpy()
    one = tf.function(lambda s: sampler.sample([10, 100], s), jit_compile=True)(steps[2]).numpy()
    assert np.array_equal(eager, xla)
    assert np.array_equal(one.ravel(), eager[2])
    for k, step in enumerate([0, 1, 7, 2 ** 40 + 3]):
        assert np.array_equal(eager[k], _numpy_draws(sampler, 5, step, 1000))


# ---------------------------------------------------------------- softmax and its approximations

def test_softmax_equals_numpy_log_softmax():
    loss = _loss("softmax")
    _randomise(loss)
    h = RNG.normal(0, 1, (5, 8)).astype(np.float32)
    labels = np.array([0, 3, 9, 22, 39])
    logits = h @ loss.weights.numpy().T + loss.biases.numpy()
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    got = loss(tf.constant(h), tf.constant(labels, tf.int32), 0).numpy()
    assert np.allclose(got, -logp[np.arange(5), labels], atol=1e-5)


def _big_vocab():
    return (np.sort(RNG.zipf(1.2, 2000).clip(max=100_000))[::-1] + 1).astype(np.int64)


def test_sampled_softmax_loss_approaches_the_full_softmax_as_num_sampled_grows():
    counts = _big_vocab()
    h = tf.constant(RNG.normal(0, 1, (64, 8)), tf.float32)
    labels = tf.constant(RNG.integers(0, 2000, 64), tf.int32)
    full = _loss("softmax", counts)
    _randomise(full, 0.5)
    exact = full(h, labels, 0).numpy().mean()
    errors = []
    for k in (4, 64, 1024, 16384):
        s = _loss("sampled_softmax", counts, num_sampled=k, remove_accidental_hits=True)
        s.weights.assign(full.weights)
        s.biases.assign(full.biases)
        est = np.mean([s(h, labels, step).numpy().mean() for step in range(10)])
        errors.append(abs(est - exact))
    assert errors == sorted(errors, reverse=True), errors
    assert errors[-1] < errors[0] / 5, errors  # the value converges only as the samples cover the vocabulary


@pytest.mark.parametrize("name", ["nce", "sampled_softmax"])
def test_sampled_gradients_approach_the_softmax_gradient_as_num_sampled_grows(name):
    """The mean gradient of NCE and of sampled softmax tends to the full softmax's as
    num_sampled grows -- for NCE when the model is self-normalised (Z = 1), as the theory says
    (Gutmann & Hyvarinen 2010; Mnih & Teh 2012; Jean et al. 2015)."""
    counts = _big_vocab()
    full = _loss("softmax", counts)
    _randomise(full, 0.5)
    h = tf.Variable(RNG.normal(0, 1, (1, 8)).astype(np.float32))
    logits = h.numpy() @ full.weights.numpy().T
    full.biases.assign(-np.log(np.exp(logits).sum()) * np.ones(2000, np.float32))  # Z(h) = 1
    label = tf.constant([7], tf.int32)

    def grad(module, steps):
        gs = []
        for step in steps:
            with tf.GradientTape() as tape:
                val = tf.reduce_sum(module(h, label, step))
            gs.append(tape.gradient(val, h).numpy().ravel())
        return np.mean(gs, axis=0)

    ref = grad(full, [0])
    cos = []
    for k in (8, 4000):
        approx = _loss(name, counts, num_sampled=k)
        approx.weights.assign(full.weights)
        approx.biases.assign(full.biases)
        g = grad(approx, range(30))
        cos.append(float(g @ ref / np.linalg.norm(g) / np.linalg.norm(ref)))
    assert cos[1] > cos[0] and cos[1] > 0.99, cos


# ---------------------------------------------------------------- sparse optimizers

def test_sum_duplicates_matches_numpy():
    idx = tf.constant([4, 1, 4, 0, 1, 4], tf.int32)
    vals = tf.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
    got = sum_duplicates(idx, vals).numpy()
    for i, j in enumerate(idx.numpy()):
        assert np.allclose(got[i], vals.numpy()[idx.numpy() == j].sum(0))


@pytest.mark.parametrize("loss_name,opt", list(itertools.product(LOSSES, ["sgd", "adagrad", "adam"])))
def test_optimizers_move_only_the_rows_of_the_batch(loss_name, opt):
    V, D = len(COUNTS), 8
    emb = tf.Variable(RNG.normal(0, 0.1, (V, D)).astype(np.float32))
    loss = _loss(loss_name, num_sampled=3) if loss_name in ("nce", "neg", "sampled_softmax") else _loss(loss_name)
    _randomise(loss)
    variables = [emb, *loss.trainable_variables]
    optimizer = make_optimizer(_group("optimizer", opt), variables)
    before = [v.numpy().copy() for v in variables]
    inputs = tf.constant([2, 5, 5, 11], tf.int32)
    labels = tf.constant([3, 3, 8, 20], tf.int32)
    for step in range(2):
        with tf.GradientTape() as tape:
            val = tf.reduce_mean(loss(tf.gather(emb, inputs), labels, step))
        grads = tape.gradient(val, variables)
        optimizer.apply(zip(grads, variables), tf.constant(0.1), tf.constant(step, tf.int64))
    moved = np.where((emb.numpy() != before[0]).any(axis=1))[0]
    assert set(moved.tolist()) == {2, 5, 11}
    if loss_name == "neg":  # output side: the labels and the noise words of those steps only
        noise = set(np.concatenate([loss.sampler.sample([4, 3], s).numpy().ravel() for s in range(2)]).tolist())
        moved_out = set(np.where((loss.weights.numpy() != before[1]).any(axis=1))[0].tolist())
        assert moved_out and moved_out <= {3, 8, 20} | noise
