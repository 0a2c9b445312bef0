"""The fused training kernel (w2vexp.kernels): the XLA graph's answers, and the same bits on any
number of threads."""
from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

from w2vexp.config import compose


def model_pair(model: str, shared: int, embed: int = 24):
    """The same Word2Vec twice from one config: with the fused kernel and with the XLA graph."""
    from w2vexp.model import Word2Vec
    from w2vexp.tfsetup import configure

    configure(0, True, 3)
    cfg = compose([f"model={model}", "loss=neg", "optimizer=sgd"])
    for k, v in {"embed_size": embed, "batch_size": 64, "window": 2, "lr": 2.0,
                 "loss.num_sampled": 5, "loss.shared_negatives": shared, "loss.negative_groups": 4 if shared else 1,
                 "train.steps_per_call": 4, "seed": 3}.items():
        OmegaConf.update(cfg, k, v)
    counts = np.random.default_rng(0).integers(5, 500, size=300)

    def build(fused: bool):
        return Word2Vec(cfg.model.name, cfg.loss, cfg.optimizer, counts, embed_size=cfg.embed_size,
                        batch_size=cfg.batch_size, window=cfg.window, seed=cfg.seed, lr=cfg.lr, total_steps=100,
                        steps_per_call=cfg.train.steps_per_call, fused=fused)

    fused, xla = build(True), build(False)
    assert fused.kernel is not None and xla.kernel is None
    # non-zero output vectors, so the first steps already move every matrix
    start = np.random.default_rng(1).normal(0, 0.3, fused.loss_fn.weights.shape).astype(np.float32)
    fused.loss_fn.weights.assign(start)
    xla.loss_fn.weights.assign(start)
    return cfg, fused, xla


# embed sizes: whole 16-float blocks and a tail (24, 40), only a tail (13); pools of 8, 5 (the
# per-example form) and 80 words (more rows than the kernel keeps on its stack)
@pytest.mark.parametrize("model,shared,embed", [("skipgram", 8, 24), ("cbow", 8, 24), ("skipgram", 0, 24),
                                                ("cbow", 0, 24), ("skipgram", 8, 13), ("cbow", 80, 40)])
def test_kernel_gives_the_xla_graphs_answers(model, shared, embed):
    """Four steps of the kernel and of the XLA graph (TensorFlow's own gradients) from the same
    state and batches: the same losses and matrices, to float32 rounding."""
    cfg, fused, xla = model_pair(model, shared, embed)
    rng = np.random.default_rng(2)
    K, B, V = 4, cfg.batch_size, fused.vocab_size
    x = rng.integers(0, V, size=[K, B] if model == "skipgram" else [K, B, 4]).astype(np.int32)
    if model == "cbow":
        x[:, :, 3] = np.where(rng.random([K, B]) < 0.3, fused.pad_id, x[:, :, 3])  # short windows
    y = rng.integers(0, V, size=[K, B]).astype(np.int32)
    initial = fused.embed_matrix.numpy().copy()
    for _ in range(2):
        lf, rf = fused.train_steps(x, y, np.int32(3))
        lx, rx = xla.train_steps(x, y, np.int32(3))
        np.testing.assert_allclose(lf.numpy()[:3], lx.numpy()[:3], rtol=1e-5)
        np.testing.assert_array_equal(rf.numpy()[:3], rx.numpy()[:3])
    assert int(fused.step.numpy()) == int(xla.step.numpy()) == 6
    moved = np.abs(fused.embed_matrix.numpy() - initial).max()
    assert moved > 1e-3
    for a, b in [(fused.embed_matrix, xla.embed_matrix), (fused.loss_fn.weights, xla.loss_fn.weights)]:
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-4 * moved)


@pytest.mark.slow
@pytest.mark.parametrize("flags", [[], ["-mavx2", "-mfma"]])
def test_the_portable_build_gives_the_xla_graphs_answers(tmp_path, flags):
    """A CPU without AVX2 and FMA gets the kernel built without -mavx2 -mfma, so its plain C++
    loops instead of the intrinsics, and one without AVX-512 the AVX2 intrinsics: the same test
    against the XLA graph, in a fresh process (one process loads one build of the op)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, pytest, w2vexp.kernels as k\n"
            f"k._cpu_flags = lambda: {flags!r}\n"
            f"sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '{Path(__file__)}::"
            "test_kernel_gives_the_xla_graphs_answers']))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "6 passed" in done.stdout


def test_kernel_leaves_earlier_reads_unchanged():
    """A matrix read before a step (by an evaluation, a checkpoint) keeps its values: the kernel
    writes to a buffer of its own, as TensorFlow's training ops do."""
    cfg, fused, _ = model_pair("skipgram", 8)
    seen = fused.embed_matrix.read_value()
    copy = seen.numpy().copy()
    x = np.zeros([4, cfg.batch_size], np.int32)
    fused.train_steps(x, x, np.int32(4))
    np.testing.assert_array_equal(seen.numpy(), copy)
    assert not np.array_equal(fused.embed_matrix.numpy(), copy)


def test_kernel_rejects_ids_out_of_range():
    import tensorflow as tf

    cfg, fused, _ = model_pair("skipgram", 8)
    x = np.full([4, cfg.batch_size], fused.vocab_size + 5, np.int32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="out of range"):
        fused.train_steps(x, np.zeros_like(x), np.int32(1))


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_the_kernel_gives_the_same_bits_in_the_calling_thread_as_on_the_pool(model):
    """kernel_threads=1 (what the Trainer picks when it is faster) changes no bit."""
    cfg, pooled, _ = model_pair(model, 8)
    _, alone, _ = model_pair(model, 8)
    alone.kernel_threads.assign(1)
    rng = np.random.default_rng(5)
    x = rng.integers(0, pooled.vocab_size, size=[4, cfg.batch_size] + ([] if model == "skipgram" else [4]))
    y = rng.integers(0, pooled.vocab_size, size=[4, cfg.batch_size])
    for _ in range(3):
        a, _ = pooled.train_steps(x.astype(np.int32), y.astype(np.int32), np.int32(4))
        b, _ = alone.train_steps(x.astype(np.int32), y.astype(np.int32), np.int32(4))
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for u, v in [(pooled.embed_matrix, alone.embed_matrix), (pooled.loss_fn.weights, alone.loss_fn.weights)]:
        np.testing.assert_array_equal(u.numpy(), v.numpy())


def test_kernel_threads_keeps_the_faster_setting():
    from w2vexp.cadence import KernelThreads

    for faster in (0, 1):
        choice = KernelThreads(threads=2, warmup=1, trials=2)
        seen = []
        for _ in range(10):
            setting = choice.next()
            seen.append(setting)
            choice.took(1.0 if setting == faster else 1.5, 50, setting)
        assert seen[:5] == [0, 0, 1, 0, 1] and set(seen[5:]) == {faster}
    close = KernelThreads(threads=2, warmup=0, trials=1)  # 1 thread only 2% faster: all threads
    for _ in range(2):
        setting = close.next()
        close.took(0.98 if setting == 1 else 1.0, 50, setting)
    assert close.next() == 0
    one = KernelThreads(threads=1)
    assert [one.next() for _ in range(3)] == [0, 0, 0]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_same_bits_on_one_and_two_threads(cli, model):
    """deterministic=true: the embeddings do not depend on the thread count (gensim's do,
    beyond one worker), also above the machine's core count (4 threads on a 2-core CI
    machine: the kernel then splits its work into as many parts as there are cores)."""
    vectors = []
    for threads in (1, 2, 4):
        done = cli("w2vexp.run", f"model={model}", f"train.threads={threads}", "train.steps=120",
                   f"hydra.run.dir=run{threads}")
        assert done.returncode == 0, done.stdout
        info = json.loads((cli.dir / f"run{threads}" / "run.json").read_text())
        assert info["step_kernel"] == "fused" and info["threads"] == threads
        vectors.append(np.load(cli.dir / f"run{threads}" / "vectors.kv.vectors.npy"))
    assert all(np.array_equal(vectors[0], v) for v in vectors[1:])


def test_the_fused_graph_keeps_the_lectures_name_scopes():
    """TensorBoard's graph dashboard shows data, embed, loss and optimizer for the kernel too."""
    _, fused, _ = model_pair("skipgram", 8)
    graph = fused.train_steps.get_concrete_function().graph
    scopes = {op.name.split("/")[0] for op in graph.get_operations()}
    assert {"data", "embed", "loss", "optimizer"} <= scopes


def test_loading_the_kernel_keeps_denormal_floats():
    """The library is linked without crtfastmath.o, whose constructor would switch the loading
    thread to flush-to-zero: numpy in that process would then read denormals as 0 (and
    vectors.txt would write them so)."""
    import tensorflow as tf

    from w2vexp import kernels

    assert kernels.load(tf) is not None
    tiny = np.array([1e-40], np.float32)
    assert (tiny * np.float32(1.0))[0] > 0


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 1000, 20_000])
@pytest.mark.parametrize("window", [1, 2, 5, 10])
def test_batch_rows_give_numpys_arrays(n, window):
    """batch_rows.cc's loops (the batch builder's, in C) return exactly w2vexp.batches' NumPy
    arrays: CBOW rows in the permutation's order, skip-gram pairs in their order."""
    import tensorflow as tf

    from w2vexp import kernels
    from w2vexp.batches import cbow_examples, skipgram_pairs

    rows = kernels.batch_rows(tf)
    assert rows is not None
    rng = np.random.default_rng(n * 31 + window)
    tokens = rng.integers(0, 300, n).astype(np.int32)
    eff = rng.integers(1, window + 1, n).astype(np.int32)
    want, got = skipgram_pairs(tokens, eff, window), rows.skipgram_pairs(tokens, eff, window)
    assert got.dtype == want.dtype == np.int32 and got.shape == want.shape and np.array_equal(got, want)
    if n >= 2:  # cbow_examples's every-row-kept case, the one BatchRows builds
        want = cbow_examples(tokens, eff, window, 300, rng=np.random.default_rng(5))
        got = cbow_examples(tokens, eff, window, 300, rng=np.random.default_rng(5), rows=rows)
        assert all(g.dtype == w.dtype and g.shape == w.shape and np.array_equal(g, w) for g, w in zip(got, want))


def test_histogram_counts_are_numpys():
    """histogram.cc counts what np.histogram(x, bins, range) counts, edges and all: embedding-like
    values, values exactly on the edges (which NumPy's corrections move), ties at the ends, a
    constant matrix (range lo .. lo + 1), tiny and clustered values; NumPy's refusal of bins
    too fine for the range is kept; without the kernel's library NumPy counts."""
    import tensorflow as tf

    from w2vexp import kernels

    kernels.load(tf)
    assert kernels._loaded.get("histogram") is not None
    rng = np.random.default_rng(7)
    normal = (rng.standard_normal(300_000) * 0.3).astype(np.float32)
    cases = [normal, rng.random(1000).astype(np.float32), np.full(100, 0.5, np.float32),
             (rng.integers(0, 7, 5000) / 7).astype(np.float32), np.array([1e-30, 3e-38, 1.0], np.float32),
             (100 + rng.random(10_000) * 1e-3).astype(np.float32)]
    cases += [np.repeat(np.histogram_bin_edges(normal, bins=b).astype(np.float32), 3) for b in (2, 7, 30, 100)]
    compared = 0
    for x in cases:
        for bins in (30, 1, 2, 7, 255):
            lo, hi = float(x.min()), float(x.max())
            hi = hi if hi > lo else lo + 1.0
            try:
                want = np.histogram(x, bins=bins, range=(lo, hi))
            except ValueError:
                with pytest.raises(ValueError):
                    kernels.histogram_counts(x, bins, lo, hi)
                continue
            got = kernels.histogram_counts(x, bins, lo, hi)
            for g, w in zip(got, want):
                assert g.dtype == w.dtype and np.array_equal(g, w), (bins, g, w)
            compared += 1
    assert compared >= 45
    saved = kernels._loaded.pop("histogram")
    try:
        counts, edges = kernels.histogram_counts(normal, 30, float(normal.min()), float(normal.max()))
        assert np.array_equal(counts, np.histogram(normal, 30)[0])
    finally:
        kernels._loaded["histogram"] = saved


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_a_stream_with_batch_rows_gives_the_same_batches(model):
    """The runs' stream (with BatchRows) and the NumPy one give the same blocks, across chunks
    and epochs, padding (unknown words at the pad id, CBOW's rows without context) included."""
    import tensorflow as tf

    from w2vexp import kernels
    from w2vexp.batches import ExampleStream

    ids = np.random.default_rng(2).zipf(1.3, 30_000).clip(max=400).astype(np.int32)
    ids[:7000:97] = 400  # the pad id in the first chunk: there CBOW takes its general (not every-row-kept) path
    counts = np.bincount(ids, minlength=401)

    def stream(rows):
        return ExampleStream(ids, counts, model=model, window=4, sample=1e-3, batch_size=128, seed=9,
                             chunk_tokens=7000, pad=400, rows=rows)

    a, b = stream(None), stream(kernels.batch_rows(tf))
    for k in [3, 50, 7, 60, 41]:
        x, y, w = a.take(k)
        x2, y2, w2 = b.take(k)
        assert np.array_equal(x, x2) and np.array_equal(y, y2) and w == w2
