"""The training loop: checkpoints, resume, summaries, signals, divergence (SPEC sections 3, 6, 7).

`Trainer.run()` restores the latest good checkpoint (falling back past corrupt ones), trims the
event files to that step, then feeds blocks of batches to the compiled step function. It writes
a checkpoint every `train.checkpoint_every` steps and at the end -- step, variables, optimizer
slots, the data position and the running sums behind the logged values -- so a resumed run is
bit for bit the run that was never stopped.
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from . import auto
from .batches import ExampleStream, Position, prefetch
from .errors import TrainingFailed
from .evaluate import format_metrics
from .names import kept_overrides, override_key, run_dirname
from .rundir import RunFolder

log = logging.getLogger("w2vexp")


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: a checkpoint was saved and run.json says `interrupted`."""

    exit_code = 130


@dataclass
class TrainResult:
    steps: int
    final_loss: Optional[float]
    words_per_sec: float
    train_seconds: float
    resumed_from: int
    metrics: dict
    stopped_early: Optional[str] = None  # why the run ended before its last step (the Optuna pruner)


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


EVAL_OVERHEAD = 0.05  # automatic evaluation cadence: evaluations take at most this share of the time


class Cadence:
    """When a periodic task (checkpoint, evaluation, histograms) is due after a block of steps:
    on every multiple of `every` steps when that is set (the block sizes end on them), else by
    wall time -- once `seconds` have passed since it last ran, and, with `overhead`, once the
    time since then is at least its last cost / overhead, so it takes at most that share of
    the run (SPEC section 10). A time-based cadence changes when summaries are written, never
    the training: every step is the same whatever the blocks, so resume stays bitwise exact."""

    def __init__(self, every: Optional[int], seconds: float, overhead: float = 0.0) -> None:
        self.every, self.seconds, self.overhead = every, seconds, overhead
        self.last = time.perf_counter()
        self.spent = 0.0

    def __call__(self, step: int) -> bool:
        if self.every is not None:  # 0: never (only at the end, which the caller adds)
            return self.every > 0 and step % self.every == 0
        wait = max(self.seconds, self.spent / self.overhead if self.overhead else 0.0)
        if time.perf_counter() - self.last < wait:
            return False
        self.reset()
        return True

    def reset(self) -> None:
        self.last = time.perf_counter()

    def cost(self, seconds: float) -> None:
        """What the task just took (sets the next wait under `overhead`)."""
        self.spent = seconds
        self.reset()


class _Clock:
    seconds = 0.0


def block_sizes(start: int, total: int, per_call: int, every: list[int]) -> Iterator[int]:
    """Sizes of the successive graph calls from `start` to `total` steps: at most `per_call`
    steps each, ending exactly on every multiple of each number in `every` (checkpoints, evals)."""
    s = start
    while s < total:
        nxt = min(total, s + per_call)
        for e in every:
            if e > 0:
                nxt = min(nxt, (s // e + 1) * e)
        yield nxt - s
        s = nxt


def _first_line(e: BaseException) -> str:
    """An exception as one short line for a status message (TensorFlow's run to many lines)."""
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__


class _StopFlag:
    """SIGINT/SIGTERM handlers that ask the loop to stop at the next block boundary."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self._old: dict = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame) -> None:
        if self.signal is not None:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.signal = signum

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Trainer:
    """Trains one run in its run folder."""

    def __init__(self, cfg, corpus, folder: RunFolder, tf, on_status=None, overrides: Optional[list] = None,
                 evaluate: bool = True, on_eval=None) -> None:
        from .model import Word2Vec

        self.cfg = cfg
        self.corpus = corpus
        self.folder = folder
        self.tf = tf
        V = corpus.vocab_size
        epoch_examples = ExampleStream.expected_examples(corpus.ids, corpus.counts, cfg.model.name, cfg.window,
                                                         cfg.subsample)
        self.chosen = auto.resolve(cfg, epoch_examples)
        self.stream = ExampleStream(corpus.ids, corpus.counts, model=cfg.model.name, window=cfg.window,
                                    sample=cfg.subsample, batch_size=cfg.batch_size, seed=cfg.seed,
                                    chunk_tokens=cfg.train.chunk_tokens, pad=V)
        if cfg.train.steps is not None:
            self.total_steps = int(cfg.train.steps)
        else:
            self.total_steps = max(1, math.ceil(cfg.train.epochs * epoch_examples / cfg.batch_size))
        self.model = Word2Vec(cfg, corpus.counts, self.total_steps)
        # the data position and the running sums behind the logged values live in the checkpoint
        v = lambda x, dt, n: tf.Variable(x, dtype=dt, trainable=False, name=n)  # noqa: E731
        self.epoch = v(0, tf.int64, "data_epoch")
        self.chunk = v(0, tf.int64, "data_chunk")
        self.offset = v(0, tf.int64, "data_offset")
        self.words_done = v(0.0, tf.float64, "words_done")
        self.train_seconds = v(0.0, tf.float64, "train_seconds")
        self.loss_sum = v(0.0, tf.float64, "loss_since_log")
        self.loss_n = v(0, tf.int64, "steps_since_log")
        self.last_loss_var = v(float("nan"), tf.float64, "last_logged_loss")
        self.ckpt = tf.train.Checkpoint(**self.model.checkpoint_items(), data_epoch=self.epoch,
                                        data_chunk=self.chunk, data_offset=self.offset,
                                        words_done=self.words_done, train_seconds=self.train_seconds,
                                        loss_since_log=self.loss_sum, steps_since_log=self.loss_n,
                                        last_logged_loss=self.last_loss_var)
        self.ckpt_dir = folder.path / "checkpoints"
        self.manager = tf.train.CheckpointManager(self.ckpt, str(self.ckpt_dir), checkpoint_name="ckpt",
                                                  max_to_keep=cfg.train.keep_checkpoints)
        self.on_status = on_status or log.info
        self.overrides = list(overrides or [])
        self.evaluate = evaluate  # False: no evaluation inside the loop (benchmarks time training alone)
        self.on_eval = on_eval  # (step, metrics) -> a reason to stop early, or None (w2vexp.pruning)
        self.seconds: dict = {}  # where this process's time went, by part (run.json "time")

    def _waited(self, blocks):
        """The blocks, with the time spent waiting for each added to self.seconds["batches"]
        (batch building that did not overlap training)."""
        it = iter(blocks)
        while True:
            with self.timed("batches"):
                block = next(it, None)
            if block is None:
                return
            yield block

    @contextlib.contextmanager
    def timed(self, part: str):
        """Add the time of the `with` block to self.seconds[part]."""
        clock = _Clock()
        t0 = time.perf_counter()
        try:
            yield clock
        finally:
            clock.seconds = time.perf_counter() - t0
            self.seconds[part] = self.seconds.get(part, 0.0) + clock.seconds

    # ------------------------------------------------------------ checkpoints
    def restore(self) -> int:
        """Restore the newest checkpoint that reads back whole; return its step (0: fresh start).
        A corrupt or half-written checkpoint is reported and skipped for the one before it."""
        tf = self.tf
        for tmp in self.ckpt_dir.glob("*_temp*"):  # leftovers of a save killed half-way
            if tmp.is_dir():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        # the state file's list, plus complete-looking checkpoints it does not name yet (a kill
        # between writing ckpt-N and recording it), newest step first
        listed = list(self.manager.checkpoints)
        on_disk = [str(p)[: -len(".index")] for p in self.ckpt_dir.glob("ckpt-*.index")]

        def step_of(path: str) -> int:
            try:
                return int(Path(path).name.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                return -1

        candidates = sorted({str(Path(p)) for p in listed + on_disk}, key=step_of, reverse=True)
        if not candidates:
            return 0
        for path in candidates:
            try:
                self.ckpt.restore(path).assert_existing_objects_matched()
                step = int(self.model.step.numpy())
                if path != candidates[0]:
                    self.on_status(f"resuming from {Path(path).name} (step {step}), the newest good checkpoint")
                return step
            except Exception as e:  # noqa: BLE001 - truncated files raise OpError, IndexError, ValueError...
                reason = _first_line(e)
                self.on_status(f"warning: checkpoint {Path(path).name} is corrupt or incomplete ({reason}); skipping it")
        raise TrainingFailed(f"no good checkpoint in {self.ckpt_dir}: all of "
                             f"{', '.join(Path(p).name for p in candidates)} are corrupt; "
                             f"move the folder away to start over")

    def save(self, step: int) -> None:
        """Checkpoint the model with the host-side state (data position, running sums)."""
        p = self.stream_pos
        self.epoch.assign(p.epoch)
        self.chunk.assign(p.chunk)
        self.offset.assign(p.offset)
        self.words_done.assign(self.state["words"])
        self.train_seconds.assign(self.state["seconds"])
        self.loss_sum.assign(self.state["loss_sum"])
        self.loss_n.assign(self.state["loss_n"])
        self.last_loss_var.assign(self.state["last_loss"])
        self.manager.save(checkpoint_number=step)

    # ------------------------------------------------------------ summaries
    def _histograms(self, writer, step: int) -> None:
        with writer.as_default(step=step):
            self._histogram("embed/embed_matrix", self.model.embed_matrix[: self.model.vocab_size])
            for var in self.model.loss_fn.trainable_variables:
                self._histogram(f"loss/{var.name.split(':')[0]}", var)

    def _histogram(self, tag: str, values, buckets: int = 30) -> None:
        """A TensorBoard histogram summary (the histogram plugin's [buckets, 3] tensor of left
        edge, right edge, count over the values' range) counted by `tf.histogram_fixed_width`:
        `tf.summary.histogram` builds a [values, buckets] one-hot matrix, 0.1-0.2 s per matrix."""
        tf = self.tf
        from tensorboard.plugins.histogram import metadata

        values = tf.reshape(values, [-1])  # float32: no float64 copy of a large matrix
        lo, hi = tf.reduce_min(values), tf.reduce_max(values)
        hi = tf.where(hi > lo, hi, lo + 1.0)
        counts = tf.histogram_fixed_width(values, tf.stack([lo, hi]), nbins=buckets)
        edges = tf.linspace(tf.cast(lo, tf.float64), tf.cast(hi, tf.float64), buckets + 1)
        data = tf.stack([edges[:-1], edges[1:], tf.cast(counts, tf.float64)], axis=1)
        tf.summary.write(tag, data, metadata=metadata.create_summary_metadata(display_name=None, description=None))

    def _evaluate(self, writer, step: int) -> dict:
        """Analogy / WordSim-353 / SimLex-999 of the current embeddings, logged as eval/*, and a
        text summary of the probe words' nearest neighbours (watch them sharpen)."""
        from . import artifacts
        from .evaluate import METRICS, evaluate_embeddings

        tf = self.tf
        emb = self.model.embeddings()
        words = self.corpus.words
        m = evaluate_embeddings(words, emb)
        rows = ["| word | nearest neighbours |", "| --- | --- |"]
        probes = artifacts.probe_words(list(self.cfg.probe_words), words)
        for w, near in artifacts.nearest(emb, words, probes, 8).items():
            rows.append(f"| {w} | {', '.join(f'{x} ({s:.2f})' for x, s in near)} |")
        with writer.as_default(step=step):
            for k in METRICS:
                if m.get(k) is not None:
                    tf.summary.scalar(f"eval/{k}", m[k])
            for k in ("analogy_semantic", "analogy_syntactic"):
                tf.summary.scalar(f"eval/{k}", m[k])
            tf.summary.text("nearest_neighbours", "\n".join(rows))
        return m

    def _start_summaries(self, writer) -> None:
        """What a fresh run writes once: the traced training graph, the HParams experiment (its
        hyperparameters and metrics, so the dashboard lists the metrics before any run ends) and
        the run's HParams. Runs that differ only by seed share one session group (the group is
        the run name without the seed), so the dashboard folds seeds into one row."""
        tf = self.tf
        from tensorboard.plugins.hparams import api as hp

        from .evaluate import METRICS

        hparams = hparams_of(self.cfg, self.overrides)
        group = run_dirname([o for o in self.overrides if override_key(o) != "seed"])
        with writer.as_default(step=0):
            tf.summary.graph(self.model.train_steps.get_concrete_function().graph)
            hp.hparams_config(hparams=[hp.HParam(k) for k in hparams],
                              metrics=[hp.Metric(f"eval/{m}") for m in METRICS] + [hp.Metric("loss")])
            hp.hparams(hparams, trial_id=group)

    # ------------------------------------------------------------ the loop
    def _compile(self, x, y) -> None:
        """Compile the step function by calling it for zero steps. If that fails while XLA's
        compile cache is in use (an entry it cannot read: a truncated file, a full disk), the
        cache is cleared, the function traced again (a new program name, so the cache is not
        consulted for it) and compiled afresh; a second failure is the real error."""
        from .tfsetup import clear_compile_cache

        try:
            self.model.train_steps(x, y, np.int32(0))
        except self.tf.errors.OpError as e:
            folder = clear_compile_cache()
            if folder is None:
                raise
            reason = _first_line(e)
            self.on_status(f"warning: the XLA compile cache in {folder} could not be used ({reason}); "
                           f"cleared it and compiling afresh")
            self.model._create_summaries()
            self.model.train_steps(x, y, np.int32(0))

    def run(self, start: int) -> TrainResult:
        """Train from `start` (the step `restore()` returned) to the last step."""
        tf = self.tf
        cfg = self.cfg
        self.stream.pos = Position(int(self.epoch.numpy()), int(self.chunk.numpy()), int(self.offset.numpy()))
        self.stream_pos = Position(**vars(self.stream.pos))
        st = self.state = {"words": float(self.words_done.numpy()), "seconds": float(self.train_seconds.numpy()),
                           "loss_sum": float(self.loss_sum.numpy()), "loss_n": int(self.loss_n.numpy()),
                           "last_loss": float(self.last_loss_var.numpy())}
        # a fresh start drops every event of an earlier attempt; a resume those past its checkpoint
        self.folder.trim_events(start if start > 0 else -1)
        writer = tf.summary.create_file_writer(str(self.folder.path))
        K = cfg.train.steps_per_call
        shape_in = self.model.input_spec[0].shape.as_list()
        pad_in = np.zeros(shape_in, np.int32)
        pad_lab = np.zeros([K, cfg.batch_size], np.int32)
        if start == 0:
            self._start_summaries(writer)
        t = cfg.train
        ckpt_due = Cadence(t.checkpoint_every, t.checkpoint_seconds)
        eval_due = Cadence(t.eval_every, t.eval_seconds, overhead=EVAL_OVERHEAD)
        hist_due = Cadence(t.histogram_every, 0.0) if t.histogram_every else None  # None: with checkpoints
        metrics: dict = {}
        stopped_early = None
        log_every = t.log_every
        step = start
        t_log, words_log = time.perf_counter(), st["words"]
        from tqdm import tqdm

        bar = tqdm(total=self.total_steps, initial=start, unit="step", mininterval=1.0, dynamic_ncols=True,
                   desc=f"{cfg.model.name}/{cfg.loss.name}", disable=not sys.stderr.isatty())
        sizes = block_sizes(start, self.total_steps, K, [t.checkpoint_every or 0, t.histogram_every, t.eval_every or 0])
        try:
            with _StopFlag() as stop, prefetch(self.stream, sizes) as blocks:
                # a call of zero steps compiles the step function while the first block is built
                if start < self.total_steps:
                    self._compile(pad_in, pad_lab)
                for block in self._waited(blocks):
                    n = block.steps
                    if n < K:
                        pad_in[:n] = block.inputs
                        pad_lab[:n] = block.labels
                        x, y = pad_in, pad_lab
                    else:
                        x, y = block.inputs, block.labels
                    t0 = time.perf_counter()
                    losses, lrs = self.model.train_steps(x, y, np.int32(n))
                    losses, lrs = losses.numpy()[:n], lrs.numpy()[:n]
                    dt = time.perf_counter() - t0
                    self.seconds["train_loop"] = self.seconds.get("train_loop", 0.0) + dt
                    if not np.all(np.isfinite(losses)):
                        bad = step + 1 + int(np.argmin(np.isfinite(losses)))
                        raise TrainingFailed(f"loss became {losses[bad - step - 1]} at step {bad} "
                                             f"(lr={cfg.lr}): training diverged; lower lr")
                    st["seconds"] += dt
                    st["words"] += block.words
                    self.stream_pos = block.position
                    with writer.as_default():
                        for i in range(n):
                            s = step + i + 1
                            st["loss_sum"] += float(losses[i])
                            st["loss_n"] += 1
                            if s % log_every == 0 or s == self.total_steps:
                                last_loss = st["loss_sum"] / st["loss_n"]
                                st["last_loss"] = last_loss
                                st["loss_sum"], st["loss_n"] = 0.0, 0
                                now = time.perf_counter()
                                words = st["words"]
                                wps = (words - words_log) / max(now - t_log, 1e-9)
                                t_log, words_log = now, words
                                tf.summary.scalar("loss", last_loss, step=s)
                                tf.summary.scalar("lr", float(lrs[i]), step=s)
                                tf.summary.scalar("words_per_sec", wps, step=s)
                                bar.set_postfix(loss=f"{last_loss:.4g}", words_s=f"{wps:,.0f}", refresh=False)
                    step += n
                    bar.update(n)
                    last = step == self.total_steps
                    checkpoint = last or ckpt_due(step)
                    if checkpoint if hist_due is None else (last or hist_due(step)):
                        with self.timed("summaries"):
                            self._histograms(writer, step)
                    if self.evaluate and (last or eval_due(step)):
                        with self.timed("evaluate") as clock:
                            metrics = self._evaluate(writer, step)
                        eval_due.cost(clock.seconds)
                        log.info(f"step {step:,} evaluation: {format_metrics(metrics)}")
                        stopped_early = self.on_eval(step, metrics) if self.on_eval and not last else None
                        if stopped_early:  # early stopping: the run ends here, as a finished run
                            writer.flush()
                            with self.timed("checkpoints"):
                                self.save(step)
                            log.info(f"step {step:,}: {stopped_early}")
                            break
                    if checkpoint:
                        writer.flush()  # events up to a checkpoint are on disk before it is
                        with self.timed("checkpoints"):
                            self.save(step)
                        ckpt_due.reset()
                        log.info(f"step {step:,}/{self.total_steps:,}: loss {st['last_loss']:.4g}, "
                                 f"{st['words'] / max(st['seconds'], 1e-9):,.0f} words/s")
                    if stop.signal is not None and step < self.total_steps:
                        writer.flush()
                        self.save(step)
                        name = signal.Signals(stop.signal).name
                        raise Interrupted(f"{name} received: saved a checkpoint at step {step}; "
                                          f"run the same command again to resume")
        finally:
            bar.close()
            writer.flush()
            writer.close()
        if not metrics and self.evaluate:  # resumed at the very end (killed after the last checkpoint)
            from .evaluate import evaluate_embeddings

            with self.timed("evaluate"):
                metrics = evaluate_embeddings(self.corpus.words, self.model.embeddings())
        secs = st["seconds"]
        last = st["last_loss"]
        return TrainResult(steps=step, final_loss=None if math.isnan(last) else last,
                           words_per_sec=st["words"] / max(secs, 1e-9),
                           train_seconds=secs, resumed_from=start, metrics=metrics, stopped_early=stopped_early)
