"""The training loop (SPEC sections 6, 7 and 10): blocks of batches through the compiled step
function, with checkpoints (`w2vexp.state`), summaries and evaluations (`w2vexp.summaries`) at
cadences that keep their cost bounded, Ctrl-C / SIGTERM handled at block boundaries, and a
diverging loss stopped with a clear message.

`Trainer.restore()` returns the step of the newest good checkpoint; `Trainer.run(start)` trims
the event files to that step and trains to the end, so a resumed run is bit for bit the run
that was never stopped.
"""
from __future__ import annotations

import contextlib
import logging
import math
import signal
import sys
import time
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .batches import ExampleStream, Position, prefetch
from .errors import TrainingFailed
from .evaluate import format_metrics
from .rundir import RunFolder
from .cadence import EVAL_OVERHEAD, Cadence, KernelThreads, block_sizes
from .state import Checkpoints, first_line
from .summaries import Summaries
from .tfsetup import configured_threads

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
    neighbours: Optional[dict] = None  # the probe words' nearest neighbours in the final vectors, when evaluated


class _Clock:
    seconds = 0.0


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

    def __init__(self, train, model, stream: ExampleStream, total_steps: int, folder: RunFolder, tf, words: list,
                 *, probe_words: list, hparams: dict, session_group: str, on_status=None, on_eval=None,
                 on_last_step=None, busy_beside=None) -> None:
        """`train`: the config's train node; `model` (w2vexp.model.Word2Vec) and `stream` (its
        batches) as w2vexp.pipeline built them for `total_steps` steps; `words`: the vocabulary;
        `hparams` and `session_group`: what TensorBoard's HParams dashboard shows for the run."""
        self.train = train
        self.model = model
        self.stream = stream
        self.total_steps = total_steps
        self.folder = folder
        self.tf = tf
        self.words = words
        self.probe_words = list(probe_words)
        self.hparams, self.session_group = hparams, session_group
        self.on_status = on_status or log.info
        self.seconds: dict = {}  # where this process's time went, by part (run.json "time")
        with self.timed("checkpoints"):
            self.checkpoints = Checkpoints(tf, model.checkpoint_items(), folder.path, train.keep_checkpoints,
                                           self.on_status)
        self.on_eval = on_eval  # (step, metrics) -> a reason to stop early, or None (w2vexp.pruning)
        self.on_last_step = on_last_step  # (final embeddings) -> None, before the last histograms and evaluation
        self.busy_beside = busy_beside  # () -> whether another process of this run takes a core now

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

    def restore(self) -> int:
        """The step of the newest good checkpoint, restored (0: a fresh start)."""
        with self.timed("checkpoints"):
            return self.checkpoints.restore()

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
            reason = first_line(e)
            self.on_status(f"warning: the XLA compile cache in {folder} could not be used ({reason}); "
                           f"cleared it and compiling afresh")
            self.model._create_summaries()
            self.model.train_steps(x, y, np.int32(0))

    def run(self, start: int) -> TrainResult:
        """Train from `start` (the step `restore()` returned) to the last step."""
        tf = self.tf
        with self.timed("checkpoints"):
            st = self.checkpoints.state()
        self.stream.pos = Position(**vars(st.position))
        # the step function traced (0.04-0.05 s; its compilation reuses the trace) for the graph summary
        graph = self.model.train_steps.get_concrete_function().graph if start == 0 else None
        with self.timed("summaries"):
            # a fresh start drops every event of an earlier attempt; a resume those past its checkpoint
            self.folder.trim_events(start if start > 0 else -1)
            summaries = Summaries(tf, self.folder.path, self.model, self.words, self.probe_words)
            if start == 0:
                summaries.start(self.hparams, self.session_group, graph)
        K = self.train.steps_per_call
        shape_in = self.model.input_spec[0].shape.as_list()
        pad_in = np.zeros(shape_in, np.int32)
        pad_lab = np.zeros([K, self.model.batch_size], np.int32)
        t = self.train
        ckpt_due = Cadence(t.checkpoint_every, t.checkpoint_seconds)
        eval_due = Cadence(t.eval_every, t.eval_seconds, overhead=EVAL_OVERHEAD)
        hist_due = Cadence(t.histogram_every, 0.0) if t.histogram_every else None  # None: with checkpoints
        metrics: dict = {}
        stopped_early = None
        log_every = t.log_every
        step = start
        t_log, words_log = time.perf_counter(), st.words
        from tqdm import tqdm

        bar = tqdm(total=self.total_steps, initial=start, unit="step", mininterval=1.0, dynamic_ncols=True,
                   desc=f"{self.model.model_name}/{self.model.loss_cfg.name}", disable=not sys.stderr.isatty())
        sizes = block_sizes(start, self.total_steps, K, [t.checkpoint_every or 0, t.histogram_every, t.eval_every or 0])
        try:
            with _StopFlag() as stop, prefetch(self.stream, sizes, convert=tf.convert_to_tensor) as blocks:
                # a call of zero steps compiles the step function while the first block is built
                if start < self.total_steps:
                    self._compile(pad_in, pad_lab)
                kernel_threads = KernelThreads(configured_threads() if self.model.kernel is not None else 1)
                kernel_setting = 0  # the model's kernel_threads as built
                t_iter = time.perf_counter()
                for block in self._waited(blocks):
                    n = block.steps
                    if n < K:
                        pad_in[:n] = block.inputs
                        pad_lab[:n] = block.labels
                        x, y = pad_in, pad_lab
                    else:
                        x, y = block.inputs, block.labels
                    if kernel_threads.next() != kernel_setting:  # only ever 1 with the fused kernel
                        kernel_setting = kernel_threads.next()
                        self.model.kernel_threads.assign(kernel_setting)
                    t0 = time.perf_counter()
                    losses, lrs = self.model.train_steps(x, y, np.int32(n))
                    losses, lrs = losses.numpy()[:n], lrs.numpy()[:n]
                    dt = time.perf_counter() - t0
                    if n == K and not kernel_threads.decided:
                        kernel_threads.took(time.perf_counter() - t_iter, n, kernel_setting)
                        if kernel_threads.decided:
                            log.info(kernel_threads.decided)
                    self.seconds["train_loop"] = self.seconds.get("train_loop", 0.0) + dt
                    if not np.all(np.isfinite(losses)):
                        bad = step + 1 + int(np.argmin(np.isfinite(losses)))
                        raise TrainingFailed(f"loss became {losses[bad - step - 1]} at step {bad} "
                                             f"(lr={self.model.lr}): training diverged; lower lr")
                    st.seconds += dt
                    st.words += block.words
                    st.position = block.position
                    for i in range(n):
                        s = step + i + 1
                        st.loss_sum += float(losses[i])
                        st.loss_n += 1
                        if s % log_every == 0 or s == self.total_steps:
                            last_loss = st.loss_sum / st.loss_n
                            st.last_loss = last_loss
                            st.loss_sum, st.loss_n = 0.0, 0
                            now = time.perf_counter()
                            words = st.words
                            wps = (words - words_log) / max(now - t_log, 1e-9)
                            t_log, words_log = now, words
                            with self.timed("summaries"):
                                summaries.scalars(s, last_loss, float(lrs[i]), wps)
                            bar.set_postfix(loss=f"{last_loss:.4g}", words_s=f"{wps:,.0f}", refresh=False)
                    step += n
                    bar.update(n)
                    last = step == self.total_steps
                    checkpoint = last or ckpt_due(step)
                    if last and self.on_last_step:  # the vectors writer works during the last histograms
                        self.on_last_step(self.model.embeddings())  # and evaluation (asked first: done sooner)
                    if checkpoint if hist_due is None else (last or hist_due(step)):
                        with self.timed("summaries"):
                            summaries.histograms(step)
                    if last or eval_due(step):
                        with self.timed("evaluate") as clock:  # the vectors writer may work beside it
                            metrics = summaries.evaluate(step, intervals=last, busy_beside=self.busy_beside)
                        eval_due.cost(clock.seconds)
                        log.info(f"step {step:,} evaluation: {format_metrics(metrics)}")
                        stopped_early = self.on_eval(step, metrics) if self.on_eval and not last else None
                        if stopped_early:  # early stopping: the run ends here, as a finished run
                            with self.timed("summaries"):
                                summaries.flush()
                            with self.timed("checkpoints"):
                                self.checkpoints.save(step, st)
                            log.info(f"step {step:,}: {stopped_early}")
                            break
                    if checkpoint:
                        with self.timed("summaries"):
                            summaries.flush()  # events up to a checkpoint are on disk before it is
                        with self.timed("checkpoints"):
                            self.checkpoints.save(step, st)
                        ckpt_due.reset()
                        log.info(f"step {step:,}/{self.total_steps:,}: loss {st.last_loss:.4g}, "
                                 f"{st.words / max(st.seconds, 1e-9):,.0f} words/s")
                    if stop.signal is not None and step < self.total_steps:
                        summaries.flush()
                        self.checkpoints.save(step, st)
                        name = signal.Signals(stop.signal).name
                        raise Interrupted(f"{name} received: saved a checkpoint at step {step}; "
                                          f"run the same command again to resume")
                    t_iter = time.perf_counter()  # the next iteration: its batch wait and its steps
        finally:
            bar.close()
            with self.timed("summaries"):
                summaries.close()
        neighbours = summaries.neighbours if metrics else None
        if not metrics:  # resumed at the very end (killed after the last checkpoint)
            from .evaluate import evaluate_embeddings

            with self.timed("evaluate"):
                metrics = evaluate_embeddings(self.words, self.model.embeddings(), intervals=True)
        secs = st.seconds
        last = st.last_loss
        return TrainResult(steps=step, final_loss=None if math.isnan(last) else last,
                           words_per_sec=st.words / max(secs, 1e-9),
                           train_seconds=secs, resumed_from=start, metrics=metrics, stopped_early=stopped_early,
                           neighbours=neighbours)
