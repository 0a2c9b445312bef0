"""What a run writes for TensorBoard (SPEC section 3): the training graph and the HParams of the
run once, `loss`, `lr` and `words_per_sec` as it goes, histograms of the matrices, and the
evaluations (`eval/*` scalars and a text table of the probe words' nearest neighbours).
"""
from __future__ import annotations

import functools
import importlib
import time

import numpy as np

from .names import kept_overrides, override_key, run_dirname


def hparams_of(cfg, overrides: list) -> dict:
    """The hyperparameters shown in TensorBoard's HParams dashboard: the key ones of every run
    plus every key overridden on the command line (flattened, scalars only), never the seed:
    runs that differ only by seed are one row of the dashboard (one session group)."""
    from omegaconf import OmegaConf

    keys = ["model.name", "loss.name", "optimizer.name", "data.name", "lr", "batch_size", "embed_size",
            "window", "vocab_size", "min_count", "subsample", "loss.num_sampled"]
    for o in kept_overrides(overrides):
        k = override_key(o)
        if k not in keys and k != "seed":
            keys.append(k)
    out = {}
    for k in keys:
        v = OmegaConf.select(cfg, k, default=None)
        if isinstance(v, (bool, int, float, str)):
            out[k[:-5] if k.endswith(".name") else k] = v
    return out


def session_group(overrides: list) -> str:
    """The HParams session group of a run: its run name without the seed, so the dashboard folds
    runs that differ only by seed into one row."""
    return run_dirname([o for o in overrides if override_key(o) != "seed"])


SCALARS = ("loss", "lr", "words_per_sec")  # what the training loop logs every train.log_every steps
EAGER_ROWS = 50  # steps' scalars written eagerly (1 ms each) before the compiled writer (0.05 s to trace)


@functools.lru_cache(maxsize=None)
def _metadata(plugin: str):
    """TensorBoard's `plugin` (scalar, text, histogram) metadata, as tf.summary.scalar / text /
    histogram write it with each value."""
    metadata = importlib.import_module(f"tensorboard.plugins.{plugin}.metadata")
    return metadata.create_summary_metadata(display_name=None, description=None)


class Summaries:
    """The event file writer of one run folder and what is written to it."""

    def __init__(self, tf, run_path, model, words: list, probe_words: list, scalar_seconds: float = 2.0) -> None:
        self.tf = tf
        self.model = model
        self.words = words
        self.probe_words = probe_words
        self.writer = tf.summary.create_file_writer(str(run_path))
        self.scalar_seconds = scalar_seconds
        self._pending: list = []  # logged (step, loss, lr, words_per_sec) not yet written
        self._written = time.perf_counter()
        self._write_scalars = None
        self._eager_rows = 0  # steps' scalars written eagerly so far (`write_scalars`)
        self.neighbours: dict | None = None  # the probe words' neighbours at the last evaluation

    def start(self, hparams: dict, group: str, graph) -> None:
        """What a fresh run writes once: the traced training graph `graph`, the HParams experiment
        (its hyperparameters and metrics, so the dashboard lists the metrics before any run ends)
        and the run's HParams in session group `group` (`session_group`). The HParams summaries
        are the plugin's own protos (`hparams_config_pb`, `hparams_pb`: what its `hparams_config`
        and `hparams` write) written by this run's TensorFlow; the plugin's writers go through
        `tensorflow.compat.v2`, whose API module's first use cost 0.006 s."""
        from tensorboard.plugins.hparams import summary_v2 as hp  # api.py would import Keras

        from .evaluate import METRICS

        tf = self.tf
        config = hp.hparams_config_pb(hparams=[hp.HParam(k) for k in hparams],
                                      metrics=[hp.Metric(f"eval/{m}") for m in METRICS] + [hp.Metric("loss")])
        with self.writer.as_default(step=0):
            tf.summary.graph(graph)
            for pb in (config, hp.hparams_pb(hparams, trial_id=group)):
                tf.summary.experimental.write_raw_pb(pb.SerializeToString(), step=0)

    def scalars(self, step: int, loss: float, lr: float, words_per_sec: float) -> None:
        """Log `SCALARS` at `step`. They are written in batches, at most `scalar_seconds` apart
        and at every `flush` (`write_scalars`): one eager `tf.summary.scalar` a value costs
        about 1 ms beside the batch thread, 0.5-0.8 s of a 16 s run on `docs` with the training
        loop waiting; TensorBoard sees the same events."""
        self._pending.append((step, loss, lr, words_per_sec))
        if time.perf_counter() - self._written >= self.scalar_seconds:
            self.write_scalars()

    def write_scalars(self) -> None:
        """Write the logged scalars not yet written: each step's values eagerly as one summary
        (`_write_at_once`, about 1 ms a step) until that has cost what tracing the compiled call
        costs (0.05 s: `EAGER_ROWS` steps' rows), then by the compiled call -- the rule that never
        pays more than twice the cheaper of the two whatever the run's length (a run of a few
        seconds never traces it; skip-gram on wiki_sample traced it 2 s in, 0.06 s)."""
        self._written = time.perf_counter()
        if not self._pending:
            return
        steps = np.array([p[0] for p in self._pending], dtype=np.int64)
        values = np.array([p[1:] for p in self._pending], dtype=np.float32)
        self._pending = []
        if self._write_scalars is None and self._eager_rows + len(steps) <= EAGER_ROWS:
            self._eager_rows += len(steps)
            for step, row in zip(steps, values):
                self._write_at_once(int(step), dict(zip(SCALARS, row)))
            return
        if self._write_scalars is None:
            tf, writer, scalar = self.tf, self.writer, _metadata("scalar")

            def write(steps, values):  # values [n, len(SCALARS)] float32, written step by step
                def body(i):  # tf.summary.scalar's events (its tags without the loop's name scope)
                    for j, tag in enumerate(SCALARS):
                        tf.summary.write(tag, values[i, j], step=steps[i], metadata=scalar)
                    return (i + 1,)

                with writer.as_default():
                    tf.while_loop(lambda i: i < tf.shape(steps)[0], body, (tf.constant(0),))

            self._write_scalars = tf.function(write, autograph=False, input_signature=[
                tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, len(SCALARS)], tf.float32)])
        self._write_scalars(steps, values)

    def _write_at_once(self, step: int, values: dict, texts: dict | None = None) -> None:
        """tf.summary.scalar's events for every tag -> value of `values` at `step` (and
        tf.summary.text's for every tag -> string of `texts`), written as one summary by one eager
        call (`write_raw_pb`) instead of one call a tag, 1-2 ms each (tf.summary.text's first
        call also imported tf.debugging for its type check: 0.016 s of the final evaluation)."""
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.util import tensor_util

        scalar, text = _metadata("scalar"), _metadata("text")
        summary = summary_pb2.Summary(value=[
            summary_pb2.Summary.Value(tag=tag, metadata=scalar, tensor=tensor_util.make_tensor_proto(np.float32(v)))
            for tag, v in values.items()] + [
            summary_pb2.Summary.Value(tag=tag, metadata=text, tensor=tensor_util.make_tensor_proto(t))
            for tag, t in (texts or {}).items()])
        with self.writer.as_default():
            self.tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=step)

    def histograms(self, step: int) -> None:
        with self.writer.as_default(step=step):
            self._histogram("embed/embed_matrix", self.model.embeddings())
            for var in self.model.loss_fn.trainable_variables:
                self._histogram(f"loss/{var.name.split(':')[0]}", var.numpy())

    def _histogram(self, tag: str, values: np.ndarray, buckets: int = 30) -> None:
        """A TensorBoard histogram summary (the histogram plugin's [buckets, 3] tensor of left
        edge, right edge, count over the values' finite range) counted as np.histogram counts
        (`w2vexp.kernels.histogram_counts`): `tf.summary.histogram` builds a [values, buckets]
        one-hot matrix, 0.1-0.2 s per matrix, TensorFlow's own eager min / max /
        histogram_fixed_width took 0.05 s at a run's first histograms (their kernels made on
        first use), np.histogram 0.011 s a matrix, the one pass 0.002 s."""
        from .kernels import histogram_counts

        x = np.asarray(values).reshape(-1)  # float32: no float64 copy of a large matrix
        lo, hi = float(x.min()), float(x.max())
        if not (np.isfinite(lo) and np.isfinite(hi)):
            x = x[np.isfinite(x)]
            if not len(x):
                return
            lo, hi = float(x.min()), float(x.max())
        counts, edges = histogram_counts(x, buckets, lo, hi if hi > lo else lo + 1.0)
        data = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        self.tf.summary.write(tag, data, metadata=_metadata("histogram"))

    def evaluate(self, step: int, intervals: bool = False, busy_beside=None) -> dict:
        """Analogy / WordSim-353 / SimLex-999 of the current embeddings, logged as eval/* (with
        `intervals`, the final evaluation, also their 95 % bootstrap intervals as eval/*_lo and
        eval/*_hi), and a text summary of the probe words' nearest neighbours. `busy_beside`:
        as `w2vexp.evaluate.evaluate_kv`'s."""
        from . import artifacts
        from .evaluate import METRICS, evaluate_embeddings

        emb = self.model.embeddings()
        m = evaluate_embeddings(self.words, emb, intervals, busy_beside)
        rows = ["| word | nearest neighbours |", "| --- | --- |"]
        probes = artifacts.probe_words(self.probe_words, self.words)
        self.neighbours = artifacts.nearest(emb, self.words, probes, 8)
        for w, near in self.neighbours.items():
            rows.append(f"| {w} | {', '.join(f'{x} ({s:.2f})' for x, s in near)} |")
        values = {f"eval/{k}": m[k] for k in METRICS if m.get(k) is not None}
        values.update({f"eval/{k}": m[k] for k in ("analogy_semantic", "analogy_syntactic")})
        values.update({f"eval/{k}{end}": m[k + end] for k in (*METRICS, "analogy_semantic", "analogy_syntactic")
                       for end in ("_lo", "_hi") if m.get(k + end) is not None})
        self._write_at_once(step, values, {"nearest_neighbours": "\n".join(rows)})
        return m

    def flush(self) -> None:
        """Write what is pending to disk."""
        self.write_scalars()
        self.writer.flush()

    def close(self) -> None:
        self.flush()
        self.writer.close()
