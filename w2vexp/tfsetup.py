"""Importing and configuring TensorFlow once per process: quietly, with the thread counts set
before the first op, and with op determinism switched per run (SPEC section 6)."""
from __future__ import annotations

import os
import random
import sys
import tempfile

_configured_threads: int | None = None


def import_tensorflow():
    """Import TensorFlow with its start-up noise (CUDA probing, oneDNN notices) silenced; if the
    import fails, what it printed is shown."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as cap:
        os.dup2(cap.fileno(), 2)
        try:
            import tensorflow as tf  # noqa: F401
        except BaseException:
            os.dup2(saved, 2)
            cap.seek(0)
            sys.stderr.write(cap.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    return tf


def configure(threads: int, deterministic: bool, seed: int):
    """Set TensorFlow's thread pools (first call in a process only: TF fixes them at the first
    op, so later jobs of an in-process sweep keep them), op determinism, and seed Python, NumPy
    and TensorFlow's global generators from the one run seed. Returns the tf module."""
    global _configured_threads
    tf = import_tensorflow()
    if _configured_threads is None:
        n = threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:
            pass  # already initialised by someone else in this process
        _configured_threads = n
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    else:
        try:
            from tensorflow.python.framework import config as _cfg

            _cfg.disable_op_determinism()
        except (ImportError, AttributeError):
            pass
    random.seed(seed)
    import numpy as np

    np.random.seed(seed % (2**32))
    tf.random.set_seed(seed)
    return tf
