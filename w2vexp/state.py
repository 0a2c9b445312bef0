"""The training state and its checkpoints (SPEC sections 6 and 7).

A checkpoint holds the model's variables (step, matrices, optimizer slots) and `TrainingState`:
where the data stream is and the running sums behind the logged values, so a resumed run is bit
for bit the run that was never stopped. `Checkpoints.restore()` falls back past corrupt or
half-written checkpoints to the newest one that reads back whole.
"""
from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .batches import Position
from .errors import TrainingFailed


@dataclass
class TrainingState:
    """What a run has done besides its variables: the data position, the words and seconds of
    training so far, and the loss summed since the last logged value (and that value)."""

    position: Position = field(default_factory=lambda: Position(0, 0, 0))
    words: float = 0.0
    seconds: float = 0.0
    loss_sum: float = 0.0
    loss_n: int = 0
    last_loss: float = math.nan


def first_line(e: BaseException) -> str:
    """An exception as one short line for a status message (TensorFlow's run to many lines)."""
    text = str(e).strip()
    return text.splitlines()[0][:160] if text else type(e).__name__


class Checkpoints:
    """`tf.train.Checkpoint` of the model's items and the training state, kept by a
    `tf.train.CheckpointManager` in `<run>/checkpoints` (`ckpt-<step>`)."""

    def __init__(self, tf, items: dict, run_path: Path, keep: int, on_status: Callable[[str], None]) -> None:
        v = lambda x, dt, n: tf.Variable(x, dtype=dt, trainable=False, name=n)  # noqa: E731
        # the state's mirror in variables, under the names older checkpoints use
        self.vars = {"data_epoch": v(0, tf.int64, "data_epoch"), "data_chunk": v(0, tf.int64, "data_chunk"),
                     "data_offset": v(0, tf.int64, "data_offset"), "words_done": v(0.0, tf.float64, "words_done"),
                     "train_seconds": v(0.0, tf.float64, "train_seconds"),
                     "loss_since_log": v(0.0, tf.float64, "loss_since_log"),
                     "steps_since_log": v(0, tf.int64, "steps_since_log"),
                     "last_logged_loss": v(float("nan"), tf.float64, "last_logged_loss")}
        self.step_var = items["step"]
        self.ckpt = tf.train.Checkpoint(**items, **self.vars)
        self.dir = run_path / "checkpoints"
        self.manager = tf.train.CheckpointManager(self.ckpt, str(self.dir), checkpoint_name="ckpt", max_to_keep=keep)
        self.on_status = on_status

    def state(self) -> TrainingState:
        """The training state as restored (or fresh)."""
        n = {k: v.numpy() for k, v in self.vars.items()}
        return TrainingState(Position(int(n["data_epoch"]), int(n["data_chunk"]), int(n["data_offset"])),
                             words=float(n["words_done"]), seconds=float(n["train_seconds"]),
                             loss_sum=float(n["loss_since_log"]), loss_n=int(n["steps_since_log"]),
                             last_loss=float(n["last_logged_loss"]))

    def restore(self) -> int:
        """Restore the newest checkpoint that reads back whole; return its step (0: fresh start).
        A corrupt or half-written checkpoint is reported and skipped for the one before it."""
        for tmp in self.dir.glob("*_temp*"):  # leftovers of a save killed half-way
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
        # the state file's list, plus complete-looking checkpoints it does not name yet (a kill
        # between writing ckpt-N and recording it), newest step first
        listed = list(self.manager.checkpoints)
        on_disk = [str(p)[: -len(".index")] for p in self.dir.glob("ckpt-*.index")]

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
                step = int(self.step_var.numpy())
                if path != candidates[0]:
                    self.on_status(f"resuming from {Path(path).name} (step {step}), the newest good checkpoint")
                return step
            except Exception as e:  # noqa: BLE001 - truncated files raise OpError, IndexError, ValueError...
                self.on_status(f"warning: checkpoint {Path(path).name} is corrupt or incomplete ({first_line(e)}); "
                               f"skipping it")
        raise TrainingFailed(f"no good checkpoint in {self.dir}: all of "
                             f"{', '.join(Path(p).name for p in candidates)} are corrupt; "
                             f"move the folder away to start over")

    def save(self, step: int, state: TrainingState) -> None:
        """Checkpoint the model's items with `state` as `ckpt-<step>`."""
        p = state.position
        for name, value in (("data_epoch", p.epoch), ("data_chunk", p.chunk), ("data_offset", p.offset),
                            ("words_done", state.words), ("train_seconds", state.seconds),
                            ("loss_since_log", state.loss_sum), ("steps_since_log", state.loss_n),
                            ("last_logged_loss", state.last_loss)):
            self.vars[name].assign(value)
        self.manager.save(checkpoint_number=step)
