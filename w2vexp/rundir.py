"""Run folder bookkeeping (SPEC section 3 and 7): run.json, the lock, event-file trimming.

A run folder is `outputs/<name>/<overrides>`; Hydra creates it and writes `.hydra/`. This
module owns what w2vexp adds: `run.json` (always replaced atomically, so it is never half
written), an exclusive lock so two processes never write into one folder, and the trimming of
TensorBoard event files on resume so that summaries a killed process wrote after its last
checkpoint do not show up twice. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Optional

from .errors import RunFolderError
from .runs import RUN_JSON, info_or_none

LOCK = ".lock"
EVENTS_GLOB = "events.out.tfevents.*"
_IMPORTED = time.monotonic()


def now() -> str:
    """The current local time, ISO 8601 with offset (what run.json records)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def versions() -> dict:
    """Versions of Python and the packages a result depends on (without importing them)."""
    out = {"python": platform.python_version()}
    for pkg in ("w2vexp", "tensorflow", "hydra-core", "omegaconf", "numpy", "gensim", "tensorboard"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def process_seconds() -> float:
    """Seconds since this process started (Linux: from /proc; elsewhere: since this module was
    imported, which misses the interpreter's own start-up)."""
    try:
        ticks = os.sysconf("SC_CLK_TCK")
        start = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        return float(Path("/proc/uptime").read_text().split()[0]) - start
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


def git_commit(cwd: Path) -> Optional[str]:
    """The commit checked out in `cwd` (with "-dirty" if it has changes), or None."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        if not sha:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write a file so that readers see the old or the new content, never a half-written one
    (nor, when writing fails, a temporary file left beside it)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RunFolder:
    """One run's folder: its run.json, its lock and its event files."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_fh = None

    # ------------------------------------------------------------ run.json
    def info(self) -> Optional[dict]:
        """run.json as a dict, or None when there is none (or it cannot be read)."""
        return info_or_none(self.path)

    def status(self) -> Optional[str]:
        info = self.info()
        return info.get("status") if info else None

    def write_info(self, info: dict) -> None:
        atomic_write(self.path / RUN_JSON, json.dumps(info, indent=2, sort_keys=True) + "\n")

    def update_info(self, **fields) -> dict:
        info = self.info() or {}
        info.update(fields)
        self.write_info(info)
        return info

    def holds_run(self) -> bool:
        """True when a run has already started here (run.json or checkpoints exist)."""
        return (self.path / RUN_JSON).exists() or any((self.path / "checkpoints").glob("*.index"))

    # ------------------------------------------------------------ the lock
    def lock(self) -> None:
        """Take the folder's exclusive lock, or fail at once if another process holds it. The
        lock dies with its process, so a killed run never leaves a stale lock behind."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise RunFolderError(f"run folder {self.path} is locked: another w2vexp process (pid {holder}) "
                                 f"is already running in it; wait for it to finish or stop it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock_fh = fh

    def unlock(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    # ------------------------------------------------------------ event files
    def event_files(self) -> list[Path]:
        return sorted(self.path.glob(EVENTS_GLOB))

    def trim_events(self, max_step: int) -> int:
        """Drop every event with step > max_step from the event files (a killed process's
        summaries past its last checkpoint, which the resumed run writes again). Each file is
        rewritten to a temporary name and renamed over the original. Returns events dropped."""
        files = self.event_files()
        if not files:  # a fresh run folder
            return 0
        from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        dropped = 0
        for f in files:
            records = list(RawEventFileLoader(str(f)).Load())
            keep = []
            for raw in records:
                ev = event_pb2.Event.FromString(raw)
                if ev.step > max_step and ev.WhichOneof("what") not in ("file_version",):
                    dropped += 1
                else:
                    keep.append(raw)
            truncated_tail = f.stat().st_size != sum(len(r) + 16 for r in records)
            if len(keep) == len(records) and not truncated_tail:
                continue
            tmp = f.with_name(f".trim-{f.name}")
            with open(tmp, "wb") as fh:
                w = RecordWriter(fh)
                for raw in keep:
                    w.write(raw)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, f)
        return dropped
