"""The five losses of SPEC section 5 and the noise sampler they share.

Each loss is a `tf.Module` that owns its output-side variables and maps the input-side vectors
`h` [B, D] of a batch and its target word ids [B] to one loss per example [B].

Noise samples are a pure function of (seed, step), never drawn by TensorFlow's stateful
candidate samplers: those keep hidden RNG state that a checkpoint does not restore and cannot be
compiled by XLA. Passing our own `sampled_values` to `tf.nn.nce_loss` and
`tf.nn.sampled_softmax_loss` keeps them exact on resume. The draws are integer arithmetic
(`counter_hash`), so TensorFlow's own kernels and an XLA program give the same words: the fused
kernel's noise needs no compiled program, and the XLA graph trains on the very same draws.
"""
from __future__ import annotations

import heapq

import numpy as np
import tensorflow as tf

SALT_INIT_EMBED = 1
SALT_INIT_OUT = 2
SALT_NOISE = 3


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias method (Vose's construction): draw i uniformly, keep it with probability
    accept[i], else take alias[i] -- an exact draw from `p` in O(1), with tables of size V."""
    V = len(p)
    scaled = np.asarray(p, dtype=np.float64) * V
    accept = np.ones(V, dtype=np.float64)
    alias = np.arange(V, dtype=np.int64)
    small = [i for i in range(V) if scaled[i] < 1.0]
    large = [i for i in range(V) if scaled[i] >= 1.0]
    while small and large:
        s, g = small.pop(), large.pop()
        accept[s], alias[s] = scaled[s], g
        scaled[g] -= 1.0 - scaled[s]
        (small if scaled[g] < 1.0 else large).append(g)
    return accept.astype(np.float32), alias.astype(np.int32)


# splitmix64 (Steele, Lea & Flood 2014; the seeder of Java's SplittableRandom): its increment
# and the two multipliers of its finaliser
GOLDEN, MIX1, MIX2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def counter_hash(x: tf.Tensor) -> tf.Tensor:
    """splitmix64 of a uint64 counter: 64 well-mixed bits per counter value, in integer ops only
    (uint64 multiplication wraps alike in TensorFlow's kernels, in XLA and in NumPy)."""
    def shift(v, n):
        return tf.bitwise.right_shift(v, tf.constant(n, tf.uint64))

    x = x + tf.constant(GOLDEN, tf.uint64)
    x = tf.bitwise.bitwise_xor(x, shift(x, 30)) * tf.constant(MIX1, tf.uint64)
    x = tf.bitwise.bitwise_xor(x, shift(x, 27)) * tf.constant(MIX2, tf.uint64)
    return tf.bitwise.bitwise_xor(x, shift(x, 31))


class UnigramSampler(tf.Module):
    """Noise words drawn from the unigram distribution raised to `ns_exponent` (word2vec: 0.75)
    with Walker's alias method: O(1) per sample. Draw j of step s is one `counter_hash` of
    (seed, s, j): its high 32 bits pick a word i uniformly (Lemire's multiply-shift), its low 24
    bits a uniform u in [0, 1) that keeps i when u < accept[i], else takes alias[i]."""

    def __init__(self, counts: np.ndarray, ns_exponent: float, seed: int) -> None:
        super().__init__(name="noise")
        p = np.asarray(counts, dtype=np.float64) ** ns_exponent
        p = p / p.sum()
        accept, alias = alias_table(p)
        self.probs = tf.constant(p, tf.float32)
        self.accept = tf.constant(accept)
        self.alias = tf.constant(alias)
        self.vocab = len(p)
        self.seed = seed

    def sample(self, shape, step) -> tf.Tensor:
        """Noise word ids of the given shape, a pure function of (seed, step)."""
        return tf.reshape(self.sample_steps(tf.reshape(step, [1]), tf.reduce_prod(shape)), shape)

    def sample_steps(self, steps: tf.Tensor, n) -> tf.Tensor:
        """The n noise word ids of each of the given steps [K] -> [K, n]; row k is
        `sample([n], steps[k])`."""
        u64 = lambda v: tf.cast(v, tf.uint64)  # noqa: E731
        key = counter_hash(counter_hash(u64(self.seed)) + u64(steps) * u64(16) + u64(SALT_NOISE))
        j = u64(tf.range(n, dtype=tf.int64))
        x = counter_hash(key[:, None] + j[None, :] * tf.constant(GOLDEN, tf.uint64))
        i = tf.cast(tf.bitwise.right_shift(tf.bitwise.right_shift(x, tf.constant(32, tf.uint64))
                                           * tf.constant(self.vocab, tf.uint64), tf.constant(32, tf.uint64)),
                    tf.int32)
        u = tf.cast(tf.bitwise.bitwise_and(x, tf.constant(0xFFFFFF, tf.uint64)), tf.float32) * (2.0 ** -24)
        return tf.where(u < tf.gather(self.accept, i), i, tf.gather(self.alias, i))

    def sampled_values(self, labels: tf.Tensor, num_sampled: int, step):
        """(sampled ids, expected count of each true label, expected count of each sample) in the
        form tf.nn.nce_loss / sampled_softmax_loss take, for sampling with replacement."""
        sampled = tf.cast(self.sample([num_sampled], step), tf.int64)
        true_expected = num_sampled * tf.gather(self.probs, labels)[:, None]
        sampled_expected = num_sampled * tf.gather(self.probs, sampled)
        return sampled, true_expected, sampled_expected


def row_sums(x: tf.Tensor) -> tf.Tensor:
    """The sum of each row of a matrix [B, n] -> [B], as a product with a column of ones: XLA's
    CPU backend vectorises that, not a reduction along the last axis (measured: the full neg step
    at batch 4096 takes ~20% less time). The order of the additions is fixed, so still exact
    from run to run."""
    return tf.matmul(x, tf.ones([x.shape[-1], 1], x.dtype))[:, 0]


def _output_init(vocab: int, dim: int, seed: int, kind: str) -> tf.Tensor:
    if kind == "zeros":  # word2vec's syn1 / syn1neg
        return tf.zeros([vocab, dim])
    # the lecture's nce_weight: truncated normal with stddev 1/sqrt(D)
    return tf.random.stateless_truncated_normal([vocab, dim], seed=[seed, SALT_INIT_OUT],
                                                stddev=1.0 / np.sqrt(dim))


class NCELoss(tf.Module):
    """Noise-contrastive estimation with TensorFlow's own `tf.nn.nce_loss` (the lecture's loss)."""

    def __init__(self, cfg, counts, dim: int, seed: int) -> None:
        super().__init__(name="nce")
        V = len(counts)
        self.num_sampled = cfg.num_sampled
        self.remove_accidental_hits = cfg.remove_accidental_hits
        self.sampler = UnigramSampler(counts, cfg.ns_exponent, seed)
        self.weights = tf.Variable(_output_init(V, dim, seed, "normal"), name="nce_weight")
        self.biases = tf.Variable(tf.zeros([V]), name="nce_bias")
        self.vocab = V

    def __call__(self, h, labels, step):
        labels = tf.cast(labels, tf.int64)
        return tf.nn.nce_loss(self.weights, self.biases, labels[:, None], h, self.num_sampled, self.vocab,
                              sampled_values=self.sampler.sampled_values(labels, self.num_sampled, step),
                              remove_accidental_hits=self.remove_accidental_hits)


class SampledSoftmaxLoss(NCELoss):
    """Sampled softmax with TensorFlow's own `tf.nn.sampled_softmax_loss` (Jean et al. 2015)."""

    def __init__(self, cfg, counts, dim: int, seed: int) -> None:
        super().__init__(cfg, counts, dim, seed)

    def __call__(self, h, labels, step):
        labels = tf.cast(labels, tf.int64)
        return tf.nn.sampled_softmax_loss(
            self.weights, self.biases, labels[:, None], h, self.num_sampled, self.vocab,
            sampled_values=self.sampler.sampled_values(labels, self.num_sampled, step),
            remove_accidental_hits=self.remove_accidental_hits)


class NegativeSamplingLoss(tf.Module):
    """Mikolov et al.'s negative sampling: -log s(u_o.h) - sum_k log s(-u_k.h) with num_sampled
    noise words k drawn from unigram^ns_exponent; no bias; output vectors start at zero.

    With `shared_negatives` = S > 0, one pool of S noise words serves the whole batch and each
    example's noise term is (num_sampled / S) * sum over the pool: the same expected objective
    and gradient (an average of S draws instead of num_sampled), computed as one matrix product
    instead of B * num_sampled gathers and scattered updates. With `negative_groups` = G the
    batch is cut into G equal parts, each with its own pool (a batched matrix product): the same
    arithmetic per example, G times as many distinct noise words per step, so no single noise
    row takes the summed push of a whole large batch (measured: S=8 with G=4 at batch 2048 learns
    as well as S=64 with G=1, at a fifth of the arithmetic). S = 0 draws num_sampled words per
    example, exactly as word2vec.c does."""

    def __init__(self, cfg, counts, dim: int, seed: int) -> None:
        super().__init__(name="neg")
        self.num_sampled = cfg.num_sampled
        self.shared = cfg.shared_negatives
        self.groups = cfg.negative_groups
        self.sampler = UnigramSampler(counts, cfg.ns_exponent, seed)
        self.weights = tf.Variable(_output_init(len(counts), dim, seed, "zeros"), name="neg_weight")

    def __call__(self, h, labels, step):
        pos = row_sums(h * tf.gather(self.weights, labels))
        if self.shared:
            G, S = self.groups, self.shared
            noise = self.sampler.sample([G, S], step)
            hg = tf.reshape(h, [G, -1, h.shape[-1]])
            neg = tf.reshape(tf.matmul(hg, tf.gather(self.weights, noise), transpose_b=True), [-1, S])
            scale = self.num_sampled / S
            return tf.nn.softplus(-pos) + scale * row_sums(tf.nn.softplus(neg))
        B = tf.shape(labels)[0]
        noise = self.sampler.sample([B, self.num_sampled], step)
        neg = tf.einsum("bd,bkd->bk", h, tf.gather(self.weights, noise))
        return tf.nn.softplus(-pos) + row_sums(tf.nn.softplus(neg))


class SoftmaxLoss(tf.Module):
    """The full softmax over the whole vocabulary: exact, the reference the sampled losses
    approximate, and O(V) per example (every output row is touched by every step)."""

    def __init__(self, cfg, counts, dim: int, seed: int) -> None:
        super().__init__(name="softmax")
        V = len(counts)
        self.weights = tf.Variable(_output_init(V, dim, seed, "normal"), name="softmax_weight")
        self.biases = tf.Variable(tf.zeros([V]), name="softmax_bias")

    def __call__(self, h, labels, step):
        logits = tf.matmul(h, self.weights, transpose_b=True) + self.biases
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)


def huffman_codes(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """word2vec's Huffman tree over the vocabulary counts.

    Returns (points [V, L], codes [V, L], lengths [V]): for word w, points[w, :lengths[w]] are the
    inner nodes (0..V-2) on the path from the root and codes[w, :lengths[w]] the 0/1 branch taken
    at each. Frequent words get short codes; the codes are prefix-free."""
    V = len(counts)
    if V < 2:
        raise ValueError("a Huffman tree needs at least 2 words")
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    parent = np.zeros(2 * V - 1, dtype=np.int64)
    branch = np.zeros(2 * V - 1, dtype=np.int8)
    nxt = V
    while len(heap) > 1:
        c1, a = heapq.heappop(heap)
        c2, b = heapq.heappop(heap)
        parent[a] = parent[b] = nxt
        branch[a], branch[b] = 0, 1
        heapq.heappush(heap, (c1 + c2, nxt))
        nxt += 1
    root = 2 * V - 2
    paths, codes = [], []
    for w in range(V):
        pts, cds, node = [], [], w
        while node != root:
            cds.append(int(branch[node]))
            node = int(parent[node])
            pts.append(node - V)
        paths.append(pts[::-1])
        codes.append(cds[::-1])
    L = max(len(p) for p in paths)
    P = np.zeros((V, L), dtype=np.int32)
    C = np.zeros((V, L), dtype=np.float32)
    lengths = np.array([len(p) for p in paths], dtype=np.int32)
    for w in range(V):
        P[w, :lengths[w]] = paths[w]
        C[w, :lengths[w]] = codes[w]
    return P, C, lengths


class HierarchicalSoftmaxLoss(tf.Module):
    """Hierarchical softmax over a Huffman tree (Morin & Bengio 2005, word2vec's -hs 1): the
    probability of a word is the product of binary decisions along its path, O(log V) each."""

    def __init__(self, cfg, counts, dim: int, seed: int) -> None:
        super().__init__(name="hs")
        P, C, lengths = huffman_codes(counts)
        self.points = tf.constant(P)
        self.codes = tf.constant(C)
        self.mask = tf.constant((np.arange(P.shape[1])[None, :] < lengths[:, None]).astype(np.float32))
        self.weights = tf.Variable(tf.zeros([len(counts) - 1, dim]), name="hs_weight")

    def __call__(self, h, labels, step):
        pts = tf.gather(self.points, labels)  # [B, L]
        logits = tf.einsum("bd,bld->bl", h, tf.gather(self.weights, pts))
        # word2vec: branch code 0 means the decision "1" (sigmoid(x) -> 1), code 1 the other way
        target = 1.0 - tf.gather(self.codes, labels)
        per_node = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
        return tf.reduce_sum(per_node * tf.gather(self.mask, labels), axis=-1)


LOSSES = {"nce": NCELoss, "neg": NegativeSamplingLoss, "sampled_softmax": SampledSoftmaxLoss,
          "softmax": SoftmaxLoss, "hs": HierarchicalSoftmaxLoss}


def make_loss(cfg, counts, dim: int, seed: int) -> tf.Module:
    """The loss module named by `cfg.name` (one of LOSSES)."""
    return LOSSES[cfg.name](cfg, counts, dim, seed)
