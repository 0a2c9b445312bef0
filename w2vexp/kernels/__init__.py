"""w2vexp's fused training kernel: `Word2VecNegSgd` (word2vec_neg.cc), a block of
negative-sampling SGD steps for skip-gram and CBOW as one TensorFlow op on every intra-op thread,
with results that do not depend on the thread count; the batch builder's inner loops
(batch_rows.cc, `BatchRows`), the histograms' counting (histogram.cc, `histogram_counts`),
vectors.txt's digits (float_text.cc, `format_float32_into`) and the analogies' search on AMX
(analogy.cc, `analogy_best`): plain C functions called through ctypes, in the same library
(`attach` gives them to a process without TensorFlow).

It is compiled against the installed TensorFlow's headers (`tf.sysconfig`) by the system's C++
compiler: `python -m w2vexp.kernels` at install time (the README's install step), or else on the
first run that needs it (about 8 s, once). The library is kept next to this file when the
package folder is writable, else under ~/.cache/w2vexp/kernels, in a file named after the
TensorFlow version, the source and the flags, so an upgrade or an edit builds afresh. Without a
compiler, runs fall back to the XLA graph of `w2vexp.model` (same objective, one core's speed).
"""
from __future__ import annotations

import ctypes
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SOURCES = [Path(__file__).with_name(name)
           for name in ("word2vec_neg.cc", "batch_rows.cc", "histogram.cc", "float_text.cc", "analogy.cc")]
# without -ffast-math: they repeat NumPy's float arithmetic step for step, or rely on IEEE infinities
EXACT = {"histogram.cc", "float_text.cc", "analogy.cc"}
log = logging.getLogger("w2vexp")
_loaded: dict = {}


def _cpu_flags() -> list[str]:
    """-mavx2 -mfma when this CPU has them, and -mavx512f too when it has AVX-512 (the kernel's
    16-float paths); not -march=native: it enables AVX-512 FP16 paths that the Eigen headers
    TensorFlow ships do not compile."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    if not {"avx2", "fma"} <= flags:
        return []
    return ["-mavx2", "-mfma", *(["-mavx512f"] if "avx512f" in flags else [])]


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")


def _objects(out: Path) -> list[str]:
    """The object files compiled for library `out`, one per source."""
    return [str(out.with_suffix(f".{i}.o")) for i in range(len(SOURCES))]


def _commands(tf, cxx: str, out: Path) -> list[list[str]]:
    """Compile (with -ffast-math, except the sources of `EXACT`: glibc's vector exp/log1p,
    reassociated sums), then link as a separate step without it: linking with -ffast-math adds
    crtfastmath.o, whose constructor turns on flush-to-zero for the whole thread that loads the
    library -- numpy would then read every denormal float as 0 for the rest of the process."""
    objs = _objects(out)
    return [*([cxx, "-c", "-fPIC", "-O3", *([] if src.name in EXACT else ["-ffast-math"]), "-w", str(src), "-o",
               obj, *_cpu_flags(), *tf.sysconfig.get_compile_flags()] for src, obj in zip(SOURCES, objs)),
            [cxx, "-shared", *objs, "-o", str(out), *tf.sysconfig.get_link_flags(), "-lmvec"]]


def library_path(tf, cxx: str) -> Path:
    """Where the library for this TensorFlow, source, compiler and CPU lives."""
    key = hashlib.sha256(" ".join([tf.__version__, *(src.read_text() for src in SOURCES),
                                   *sum(_commands(tf, cxx, Path("x")), [])])
                         .encode()).hexdigest()[:16]
    here = Path(__file__).parent / "_build"
    base = here if os.access(here if here.exists() else here.parent, os.W_OK) else \
        Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "w2vexp" / "kernels"
    return base / f"word2vec_ops-tf{tf.__version__}-{key}.so"


def build(tf) -> Path:
    """Compile the kernel library unless it is already there (one process at a time)."""
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler (g++, c++ or clang++; or set CXX)")
    path = library_path(tf, cxx)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            log.info("building w2vexp's training kernel for TensorFlow %s (once)", tf.__version__)
            fd, tmp = tempfile.mkstemp(suffix=".so", dir=path.parent)
            os.close(fd)
            try:
                for command in _commands(tf, cxx, Path(tmp)):
                    done = subprocess.run(command, capture_output=True, text=True)
                    if done.returncode != 0:
                        raise RuntimeError(f"{cxx} failed: {done.stderr.strip().splitlines()[-1:]}")
                os.replace(tmp, path)
            finally:
                for leftover in (tmp, *_objects(Path(tmp))):
                    if os.path.exists(leftover):
                        os.unlink(leftover)
    return path


def load(tf):
    """The kernel's op module (`.word2_vec_neg_sgd`), building it first if needed; None, with a
    warning, when it cannot be built or loaded."""
    if "ops" not in _loaded:
        try:
            path = build(tf)
            _loaded["ops"] = tf.load_op_library(str(path))
            _loaded["rows"] = BatchRows(path)
            attach(path)
        except Exception as e:  # noqa: BLE001 - any failure means: use the XLA graph
            log.warning("warning: w2vexp's training kernel is unavailable (%s); using the XLA graph "
                        "(same results' kind, slower)", str(e).splitlines()[0] if str(e) else type(e).__name__)
            _loaded["ops"] = None
    return _loaded["ops"]


def batch_rows(tf) -> "BatchRows | None":
    """The batch builder's C loops (`BatchRows`) from the kernel's library, building it first if
    needed; None when it cannot be built (w2vexp.batches then uses its NumPy code)."""
    load(tf)
    return _loaded.get("rows")


class BatchRows:
    """batch_rows.cc's functions, called through ctypes (the GIL is released during each call):
    the arrays `w2vexp.batches` builds with NumPy, in one pass each."""

    def __init__(self, path: Path) -> None:
        i32, i64 = (np.ctypeslib.ndpointer(t, flags="C_CONTIGUOUS") for t in (np.int32, np.int64))
        lib = ctypes.CDLL(str(path))
        self._cbow = lib.w2v_cbow_rows
        self._cbow.argtypes = [i32, ctypes.c_int64, i64, i32, ctypes.c_int32, ctypes.c_int32, i32, i32]
        self._cbow.restype = None
        self._pairs = lib.w2v_skipgram_pairs
        self._pairs.argtypes = [i32, ctypes.c_int64, i32, ctypes.c_int32, ctypes.c_void_p]
        self._pairs.restype = ctypes.c_int64

    @staticmethod
    def _arrays(tokens, eff):
        return np.ascontiguousarray(tokens, np.int32), np.ascontiguousarray(eff, np.int32)

    def cbow_rows(self, tokens, eff, window: int, pad: int, order):
        """(context rows [n, 2 * window], centres [n]) in `order`, a permutation of range(n):
        `batches.cbow_examples`'s arrays when every row is kept."""
        tokens, eff = self._arrays(tokens, eff)
        order = np.ascontiguousarray(order, np.int64)
        n = len(tokens)
        ctx, centre = np.empty((n, 2 * window), np.int32), np.empty(n, np.int32)
        self._cbow(tokens, n, order, eff, window, pad, ctx, centre)
        return ctx, centre

    def skipgram_pairs(self, tokens, eff, window: int):
        """`batches.skipgram_pairs`'s pairs in its order, as one array [m, 2] of (centre, context)."""
        tokens, eff = self._arrays(tokens, eff)
        m = self._pairs(tokens, len(tokens), eff, window, None)
        pairs = np.empty((m, 2), np.int32)
        self._pairs(tokens, len(tokens), eff, window, pairs.ctypes.data)
        return pairs


def attach(path) -> None:
    """Take the library's plain C functions (histogram.cc's, float_text.cc's, analogy.cc's) from
    `path`: the loaded library (`load`), or, in the vectors writer's process, which never
    imports TensorFlow, the one the training process loaded (`loaded_path`)."""
    lib = ctypes.CDLL(str(path))
    f32, f64 = (np.ctypeslib.ndpointer(t, flags="C_CONTIGUOUS") for t in (np.float32, np.float64))
    i64, u8 = (np.ctypeslib.ndpointer(t, flags="C_CONTIGUOUS") for t in (np.int64, np.uint8))
    histogram, text, analogy = lib.w2v_histogram, lib.w2v_format_float32, lib.w2v_analogy_best
    histogram.argtypes = [f32, ctypes.c_int64, f32, ctypes.c_int32, ctypes.c_double, ctypes.c_double, i64]
    text.argtypes = [f32, ctypes.c_int64, f64, u8]
    analogy.argtypes = [f32, ctypes.c_int64, f32, ctypes.c_int64, ctypes.c_int32, i64, i64]
    histogram.restype = text.restype = None
    analogy.restype = ctypes.c_int
    _loaded.update(path=str(path), histogram=histogram, text=text, analogy=analogy)


def loaded_path() -> str | None:
    """The path of the library this process loaded or attached (None: none)."""
    return _loaded.get("path")


def analogy_best(queries: np.ndarray, unit: np.ndarray, exclude: np.ndarray) -> np.ndarray | None:
    """For each row of `queries` [Q, D] (unit float32 vectors), the row of `unit` [V, D] (unit
    float32 vectors) with the highest dot product, the three rows of `exclude` [Q, 3] aside, or
    -1 where the caller must look itself (many rows all but tied at the top) -- analogy.cc's
    search on AMX; None where it cannot run (no AMX, the library not loaded, values not finite)."""
    analogy = _loaded.get("analogy")
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    unit = np.ascontiguousarray(unit, dtype=np.float32)
    if analogy is None or queries.shape[1:] != unit.shape[1:] or not (np.isfinite(queries).all()
                                                                       and np.isfinite(unit).all()):
        return None
    best = np.empty(len(queries), np.int64)
    if not analogy(queries, len(queries), unit, len(unit), unit.shape[1],
                   np.ascontiguousarray(exclude, dtype=np.int64), best):
        return None
    return best


def format_float32_into(values: np.ndarray, out: np.ndarray, pow10: np.ndarray) -> bool:
    """float_text.cc's digits of each float32 of `values` [N, D] into `out` [N, D, 16] (uint8,
    contiguous), as `w2vexp.artifacts._format_into` writes them (`pow10`: its table of powers of
    ten); False, leaving `out` alone, when the library is not attached or a value is not finite."""
    text = _loaded.get("text")
    values = np.ascontiguousarray(values, dtype=np.float32)
    if text is None or not out.flags.c_contiguous or not np.isfinite(values).all():
        return False
    text(values.reshape(-1), values.size, np.ascontiguousarray(pow10, np.float64), out.reshape(-1))
    return True


def histogram_counts(x: np.ndarray, bins: int, lo: float, hi: float) -> tuple:
    """`np.histogram(x, bins, range=(lo, hi))` -- (counts, edges), the same numbers -- for float32
    values all within [lo, hi], counted in one pass by histogram.cc once the kernel's library is
    loaded (else by NumPy)."""
    count = _loaded.get("histogram")
    if count is None or np.asarray(x).dtype != np.float32:  # NumPy's steps depend on the type
        return np.histogram(x, bins=bins, range=(lo, hi))
    x = np.ascontiguousarray(x).reshape(-1)
    edges = np.histogram_bin_edges(x, bins=bins, range=(lo, hi))
    counts = np.zeros(bins, np.int64)
    count(x, len(x), np.ascontiguousarray(edges, np.float32), bins, lo, hi, counts)
    return counts.astype(np.intp, copy=False), edges


def main() -> int:
    """`python -m w2vexp.kernels`: build the kernel now (the install step)."""
    from ..tfsetup import import_tensorflow

    tf = import_tensorflow()
    try:
        path = build(tf)
        tf.load_op_library(str(path))
    except Exception as e:  # noqa: BLE001
        print(f"error: could not build w2vexp's training kernel: {e}", file=sys.stderr)
        return 1
    print(path)
    return 0
