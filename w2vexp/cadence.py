"""When the periodic parts of a run happen (SPEC section 10): checkpoints, evaluations and
histograms on multiples of their step counts when those are set, else by wall time with their
cost bounded; the sizes of the blocks of steps that end exactly on those multiples; and on how
many threads the fused kernel runs (`KernelThreads`: whichever is faster on this machine)."""
from __future__ import annotations

import time
from typing import Iterator, Optional

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


class KernelThreads:
    """The fused kernel's thread setting for each block: all intra-op threads (0) or the calling
    thread alone (1). Its result is bitwise the same either way, so this only picks the faster:
    after `warmup` blocks it times `trials` blocks of each, alternately (seconds per step of the
    whole loop iteration: waiting for the batch builder, which shares the cores, included), then
    keeps the calling thread if it was faster by `margin`, else all threads (work beside the
    trials misleads them: on `zipf`, gensim's import in the vectors writer, which it no longer
    does, made one thread look faster for CBOW, 0.88 against 0.99 ms a step, where the op alone
    takes 0.59 on one and 0.43 on all). On this project's 2
    cores all threads win for skip-gram and, since the batch builder's loops are C, mostly for
    CBOW too (there the two are within a few percent); with one intra-op thread there is nothing
    to choose."""

    def __init__(self, threads: int, warmup: int = 1, trials: int = 3, margin: float = 0.05) -> None:
        self.plan = [] if threads <= 1 else [0, 1] * trials
        self.warmup, self.margin = warmup, margin
        self.times: dict = {0: [], 1: []}
        self.chosen = 0
        self.decided = ""  # what was chosen and why, once the trials are done

    def _trying(self) -> bool:
        return bool(self.plan) and self.warmup <= 0

    def next(self) -> int:
        """The setting for the next block."""
        return self.plan[0] if self._trying() else self.chosen

    def took(self, seconds: float, steps: int, setting: int) -> None:
        """What a block run with `setting` (the `next()` it was given) took, for `steps` steps."""
        if self.warmup > 0:
            self.warmup -= 1
            return
        if not self.plan or setting != self.plan[0]:
            return
        self.times[self.plan.pop(0)].append(seconds / max(steps, 1))
        if not self.plan:
            self.chosen = 1 if sum(self.times[1]) < (1 - self.margin) * sum(self.times[0]) else 0
            self.decided = (f"fused kernel: {'one thread' if self.chosen else 'all threads'} (per step "
                            f"{1e3 * sum(self.times[1]) / len(self.times[1]):.2f} ms on one thread, "
                            f"{1e3 * sum(self.times[0]) / len(self.times[0]):.2f} ms on all)")
