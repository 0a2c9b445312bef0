"""When the periodic parts of a run happen (SPEC section 10): checkpoints, evaluations and
histograms on multiples of their step counts when those are set, else by wall time with their
cost bounded; and the sizes of the blocks of steps that end exactly on those multiples."""
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
