"""Importing and configuring TensorFlow once per process: quietly, with the thread counts set
before the first op, and with op determinism switched per run (SPEC section 6)."""
from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.abc
import importlib.util
import os
import random
import re
import sys
import tempfile
import types
from importlib.util import find_spec
from pathlib import Path

_configured_threads: int | None = None
_preload = None  # preload_tensorflow()'s thread and what finish_preload() gives back, while it runs


def _quiet_environment() -> None:
    """What TensorFlow reads when its libraries load: no oneDNN notice, no INFO/WARNING lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


# Hydra's flags that print and exit: no training, no TensorFlow
INFO_FLAGS = {"--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion", "-sc",
              "--version"}

# The C extension modules that importing the run command (Hydra, OmegaConf, PyYAML and the
# standard library they use) and composing its config load, found by listing sys.modules:
# `preload_tensorflow` imports them before its dlopen starts, because while that dlopen runs
# (0.3 s) libc's loader lock is held and every other dlopen in the process waits -- one of these
# imported meanwhile on the main thread would wait for all of TensorFlow's libraries. Names a
# Python does not have are skipped; tests/test_config.py checks that none is missing.
EXTENSIONS_FIRST = ("math", "_socket", "select", "array", "_struct", "_pickle", "_heapq", "_queue", "_typing",
                    "_opcode", "_uuid", "_datetime", "binascii", "unicodedata", "_hashlib", "_blake2", "_json",
                    "_contextvars", "_decimal", "_bisect", "_random", "_sha512", "fcntl", "_posixsubprocess",
                    "_csv", "zlib", "_bz2", "_lzma", "yaml._yaml")


def in_process_training(argv: list) -> bool:
    """Whether `python -m w2vexp.run argv` trains in this process (so imports TensorFlow): not
    for Hydra's flags that only print, nor with a launcher other than the basic one (its jobs run
    in processes of their own)."""
    keys = {a.split("=", 1)[0] for a in argv}
    launcher = [a.split("=", 1)[1] for a in argv if a.split("=", 1)[0].lstrip("+") == "hydra/launcher"]
    return not INFO_FLAGS.intersection(keys) and all(v == "basic" for v in launcher)


def preload_tensorflow() -> None:
    """Start loading TensorFlow's shared libraries on a thread, for a command that will import
    TensorFlow after other work (importing Hydra, composing the config): the import then finds
    them loaded.

    Loading them -- relocations and the static initialisers that register TensorFlow's ops and
    kernels -- is 0.3 s of the 1.3 s import here, and Python's own loader holds the GIL while it
    runs; libc's `dlopen` called through ctypes releases it, so the command's Python work goes on
    meanwhile on the other core (import 1.3 -> 1.0 s). What is loaded is the extension module
    the import loads first (`_pywrap_tensorflow_internal`, RTLD_LOCAL as Python loads it) with
    the libraries it needs; the import later finds them there. Their initialisers print
    start-up notices on fd 2 (no CUDA driver), so until `finish_preload()` fd 2 points at
    /dev/null and Python's `sys.stderr` writes to a copy of the real one (a message printed
    meanwhile still shows). The modules of `EXTENSIONS_FIRST` are imported first, so that the
    work beside the load does not wait for it. Does nothing when TensorFlow is imported or not
    installed, or without libc's dlopen. The thread is not a daemon (the interpreter waits for it
    before exiting) and `finish_preload` runs at exit."""
    global _preload
    if _preload is not None or "tensorflow" in sys.modules or not sys.platform.startswith("linux"):
        return
    import atexit
    import ctypes
    import threading

    try:
        spec = find_spec("tensorflow")
        libc = ctypes.CDLL(None)
        dlopen = libc.dlopen
    except (ImportError, ValueError, OSError, AttributeError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    found = sorted(Path(list(spec.submodule_search_locations)[0], "python").glob("_pywrap_tensorflow_internal.*so"))
    if not found:
        return
    dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    for name in EXTENSIONS_FIRST:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _quiet_environment()
    stderr = sys.stderr
    try:  # Python's stderr writes to fd 2 (not a captured or missing stream): it gets the copy
        on_fd2 = stderr is not None and stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        on_fd2 = False
    if on_fd2:
        stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    if on_fd2:
        sys.stderr = open(saved, "w", encoding=stderr.encoding, errors=stderr.errors, buffering=1, closefd=False)

    # a failed load returns NULL and changes nothing: the import meets the same problem and reports it
    thread = threading.Thread(target=dlopen, args=(os.fsencode(found[0]), os.RTLD_NOW | os.RTLD_LOCAL),
                              name="w2vexp-tensorflow-preload")
    _preload = (thread, saved, stderr if on_fd2 else None)
    thread.start()
    atexit.register(finish_preload)


def finish_preload() -> None:
    """Wait for `preload_tensorflow`'s libraries (if it started), then give fd 2 and
    `sys.stderr` back. Called before TensorFlow's import and before forking (a child forked
    while another thread is inside dlopen would inherit the loader's lock, held forever)."""
    global _preload
    if _preload is None:
        return
    thread, saved, stderr = _preload
    _preload = None
    thread.join()
    if stderr is not None:  # the copy of fd 2 that Python's stderr wrote to meanwhile
        sys.stderr.flush()
    os.dup2(saved, 2)
    if stderr is not None:
        sys.stderr = stderr


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def blas_threads(n: int):
    """A `with` context in which NumPy's BLAS (its matrix products) runs on at most n threads, at
    least one (threadpoolctl): for work beside another process that keeps a core busy, where
    BLAS's threads would otherwise split the work evenly and wait for the one that shares a
    core. The final evaluation, beside the vectors writer on 2 cores: 0.30 -> 0.18-0.22 s."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=max(1, n), user_api="blas")


def configured_threads() -> int:
    """TensorFlow's intra-op threads in this process: what the first `configure` set (later jobs
    of an in-process sweep keep it), else all available cores."""
    return _configured_threads or available_cores()


def _skip_eager_keras() -> bool:
    """Whether `import tensorflow` can be kept from importing Keras (1.2-1.7 s here: Keras 3
    pulls in scikit-learn, SciPy's stats and matplotlib when they are installed). TensorFlow
    imports `keras.src.optimizers` eagerly only to register Keras optimizers for SavedModel
    loading, which w2vexp never does. With TF_USE_LEGACY_KERAS set during the import and no
    tf_keras installed, that eager import fails quietly (TensorFlow catches the ImportError);
    the variable is removed again afterwards, so `tf.keras` still loads Keras 3 lazily when
    someone asks for it. Not done when the user set the variable or tf_keras is installed."""
    return "TF_USE_LEGACY_KERAS" not in os.environ and find_spec("tf_keras") is None


def import_tensorflow():
    """Import TensorFlow with its start-up noise (CUDA probing, oneDNN notices) silenced and
    without its eager Keras import (`_skip_eager_keras`); if the import fails, what it printed
    is shown.

    Python's cyclic garbage collector is paused during the import and the objects it leaves are
    then frozen (`gc.freeze`): the import creates a few million objects that live as long as
    the process and almost no garbage, yet each full collection walked all of them -- four of
    them during the import and 50 smaller ones took 0.3 s of every run's start-up here (of an
    import of 1.75 s), and later full collections would walk them again.

    TensorFlow's API modules are executed when first used, or for most of them each name is
    imported when first asked for (`_UnusedApiDeferred`), and the type hints of its generated
    op wrappers make each string's ForwardRef once (`_forward_refs_made_once`)."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    finish_preload()
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        with _forward_refs_made_once():
            return _import_tensorflow_quietly()
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


@contextlib.contextmanager
def _forward_refs_made_once():
    """A `with` block in which typing makes one ForwardRef per distinct type-hint string.
    TensorFlow's generated op wrappers (gen_*_ops) define 1291 TypeVars whose constraints are
    strings such as "_atypes.Float32": `TypeVar` checks each with `typing._type_check`, which makes
    a ForwardRef of it, compiling the string to check that it is an expression -- 15k checks and
    `compile` calls of some 30 distinct strings, 0.1 s of the import here (alternating runs:
    0.52-0.54 -> 0.46-0.48 s with `compile` memoised alone; 0.61 -> 0.56 s more with the checks).
    typing's `_type_check` is memoised for strings for the block, so TypeVars with the same
    constraint share one ForwardRef -- equal to the one each would have had (ForwardRefs compare
    by their string and module), and never evaluated by TensorFlow. Where typing has no
    `_type_check` (another Python), nothing changes."""
    import typing

    check = getattr(typing, "_type_check", None)
    if check is None or getattr(check, "__wrapped__", None) is not None:  # another Python, or nested
        yield
        return
    made: dict = {}

    @functools.wraps(check)
    def once(arg, msg, *args, **kwargs):
        if type(arg) is not str:
            return check(arg, msg, *args, **kwargs)
        key = (arg, msg, args, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = check(arg, msg, *args, **kwargs)
        return made[key]

    typing._type_check = once
    try:
        yield
    finally:
        typing._type_check = check


def _import_tensorflow_quietly():
    _quiet_environment()
    skip_keras = _skip_eager_keras()
    if skip_keras:
        os.environ["TF_USE_LEGACY_KERAS"] = "1"
    sys.stderr.flush()
    saved = os.dup(2)
    finder = _UnusedApiDeferred()
    with tempfile.TemporaryFile() as cap:
        os.dup2(cap.fileno(), 2)
        sys.meta_path.insert(0, finder)
        try:
            import tensorflow as tf  # noqa: F401

            if find_spec(_LEGACY_KERAS) is not None:  # created now, run when first used
                importlib.import_module(_LEGACY_KERAS)
        except BaseException:
            sys.meta_path.remove(finder)
            os.dup2(saved, 2)
            cap.seek(0)
            sys.stderr.write(cap.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if skip_keras:
                os.environ.pop("TF_USE_LEGACY_KERAS", None)
    import tensorflow as tf

    if skip_keras:  # tf_keras's folder, which is not there, was put on the package path as None
        tf.__path__[:] = [p for p in tf.__path__ if p is not None]

    tf.get_logger().setLevel("ERROR")
    return tf


_API = "tensorflow._api.v2."  # the generated modules behind tf.nn, tf.train, tf.compat.v1, ...
_LEGACY_KERAS = "tensorflow.python.keras"  # TensorFlow's own old copy of Keras (tf.compat.v1.layers)


class _DeferredPackage(types.ModuleType):
    """A package whose `__init__` has not run yet: its submodules import without it (asked for
    as attributes too); the first other attribute asked of it runs it (then the module is an
    ordinary one)."""

    def __getattr__(self, name):
        loader = self.__dict__.get("_w2vexp_loader")
        if loader is None:
            raise AttributeError(name)
        if not name.startswith("__") and find_spec(f"{self.__name__}.{name}") is not None:
            return importlib.import_module(f"{self.__name__}.{name}")
        del self._w2vexp_loader
        self.__class__ = types.ModuleType
        loader.exec_module(self)
        return getattr(self, name)


class _Around(importlib.abc.Loader):
    """A loader that creates the module as `loader` does and runs it its own way."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)


class _DeferredLoader(_Around):
    def exec_module(self, module) -> None:
        module.__class__ = _DeferredPackage
        module._w2vexp_loader = self.loader


class _ByName(types.ModuleType):
    """An API module made only of `from M import A [as N]` lines (most of them: tf.config,
    tf.train, tf.random, ...), whose names are imported one at a time, each when first asked
    for: `tf.train.Checkpoint` imports tensorflow.python.checkpoint, not also every optimizer
    of tf.compat.v1 (tensorflow.python.training.training, 0.04 s), and tf.config's thread
    settings not the TPU cluster resolver behind `tf.config.experimental_connect_to_cluster`
    (0.02 s). `dir()` lists every name, as the executed module's would."""

    def __getattr__(self, name):
        names = self.__dict__.get("_w2vexp_names")
        if names is None or name not in names:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        source, attr = names[name]
        if source == self.__name__:  # one of its own submodules
            value = importlib.import_module(f"{source}.{attr}")
        else:
            module = importlib.import_module(source)
            try:  # what `from source import attr` does
                value = getattr(module, attr)
            except AttributeError:
                value = importlib.import_module(f"{source}.{attr}")
        setattr(self, name, value)
        return value

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_w2vexp_names") or ()))


_FROM_IMPORT = re.compile(r"from ([\w.]+) import (\w+)(?: as (\w+))?(?:\s+#.*)?")


def _imported_names(source: str) -> tuple | None:
    """(docstring, {name: (module, attribute)}) of a generated API module whose code is only a
    docstring, `import sys as _sys` and `from M import A [as N]` lines; None for any other."""
    doc, names = None, {}
    lines = iter(source.splitlines())
    for line in lines:
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith('"""') and doc is None and not names:
            rest = [text[3:]]
            while not rest[-1].endswith('"""'):
                nxt = next(lines, None)
                if nxt is None:
                    return None
                rest.append(nxt)
            doc = "\n".join(rest)[:-3]
            continue
        if text == "import sys as _sys":  # every one of them has it (`_ImportByName` sets it)
            continue
        m = _FROM_IMPORT.fullmatch(text)
        if m is None:
            return None
        names[m[3] or m[2]] = (m[1], m[2])
    return doc, names


class _ImportByName(_Around):
    """Creates an API module as a `_ByName` of the names its source imports."""

    def __init__(self, loader, doc: str | None, names: dict) -> None:
        super().__init__(loader)
        self.doc, self.names = doc, names

    def exec_module(self, module) -> None:
        module.__class__ = _ByName
        module.__doc__ = self.doc
        module._w2vexp_names = self.names
        module._sys = sys


class _UnusedApiDeferred(importlib.abc.MetaPathFinder):
    """From `import tensorflow` on (it stays in `sys.meta_path`: an API module executed later
    imports its own API submodules): each of TensorFlow's generated API modules (`tf.nn`,
    `tf.train`, `tf.compat.v1`, `tf.__internal__`, ...: 313 of them) is created but executed
    only when first used (the standard library's `LazyLoader`) -- or, for those made only of
    `from M import A` lines (225 of the 331 files), never: each name is imported when asked
    for (`_ByName`) -- and the legacy Keras package
    (`tensorflow.python.keras`, whose `__init__` builds all of TensorFlow's old Keras: `tf.train`
    imports one of its submodules) runs its `__init__` only when something asks it for more than
    a submodule. Every `tf.X` works as before; what is never used is never imported. A run
    imported 2742 modules, now 1669: wiki_sample whole command CBOW 2.80-2.95 -> 2.57-2.62 s,
    skip-gram 4.20-4.22 -> 3.88-4.02 s (4 and 3 alternating pairs; same bits). Only
    the main thread touches the API modules (the batch thread calls functions fetched before it
    starts), so LazyLoader's lack of a lock before Python 3.12 does not matter."""

    def find_spec(self, name, path=None, target=None):
        if not (name.startswith(_API) or name == _LEGACY_KERAS):
            return None
        spec = next(filter(None, (f.find_spec(name, path, target) for f in sys.meta_path
                                  if f is not self and hasattr(f, "find_spec"))), None)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        if name == _LEGACY_KERAS:
            spec.loader = _DeferredLoader(spec.loader)
            return spec
        try:
            source = spec.loader.get_data(spec.origin).decode("utf-8")
        except (AttributeError, OSError, TypeError, UnicodeDecodeError):
            source = ""
        plain = _imported_names(source) if source else None
        if plain is not None:
            spec.loader = _ImportByName(spec.loader, *plain)
        else:  # tf.compat.v1's modules put a wrapper of themselves in their place, which LazyLoader refuses
            spec.loader = importlib.util.LazyLoader(_KeptInPlace(spec.loader) if "TFModuleWrapper" in source
                                                    else spec.loader)
        return spec


class _KeptInPlace(_Around):
    """Runs a module that wraps itself, then puts the module itself back in `sys.modules`. The
    wrappers of tf.compat.v1's modules are made with deprecation=False and no public_apis: they
    pass every attribute through, so nothing a user sees changes. They must go: TensorBoard's
    summaries look up `tf.compat.v2`, whose parent imports tf.compat.v1 -- executed eagerly,
    that tree is 0.3 s of every run."""

    def exec_module(self, module) -> None:
        self.loader.exec_module(module)
        sys.modules[module.__name__] = module


def can_fork() -> bool:
    """Whether this process may fork a worker: the OS has fork and TensorFlow is not imported yet
    (after that, its threads make forking unsafe: the later jobs of an in-process sweep). Waits
    for `preload_tensorflow`'s libraries first: a fork during a dlopen is never safe."""
    finish_preload()
    return "tensorflow" not in sys.modules and hasattr(os, "fork")


def _quiet_child(work, args) -> None:
    """A forked child's body: run work(*args); its errors are left to the parent, which runs the
    same work again and reports them (a child prints nothing of its own)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        work(*args)
    except BaseException:  # noqa: BLE001
        os._exit(1)
    os._exit(0)


def import_while(work, *args, quick_fail: float = 0.3) -> None:
    """Run work(*args) in a forked child while this process imports TensorFlow (3-5 s of
    start-up), on another core; return when both are done. For work whose result lands on disk,
    such as preparing the corpus into its cache: the caller then runs it again and finds it
    done (or meets its error). Work that fails within `quick_fail` seconds (a missing or binary
    file) is left to the caller before the import, so bad input still fails at once. Without
    fork, or once TensorFlow is imported (a later job of an in-process sweep; forking then is
    unsafe), nothing is forked."""
    if not can_fork():
        return
    import multiprocessing

    child = multiprocessing.get_context("fork").Process(target=_quiet_child, args=(work, args), daemon=True)
    child.start()
    child.join(quick_fail)
    if child.exitcode not in (None, 0):
        return
    try:
        import_tensorflow()
    finally:
        child.join()


def compile_cache_dir(cfg, min_free_bytes: int = 200 << 20) -> str | None:
    """Where XLA keeps compiled programs for later runs (train.compile_cache): a folder per
    TensorFlow version under data.cache_dir, so an upgrade never meets an older executable.

    None (no cache) when the folder cannot be created or written, or its disk has less than
    `min_free_bytes` free: TensorFlow fails the compilation itself if it cannot save an entry,
    and a cache must never be the reason a run fails."""
    if not cfg.train.compile_cache:
        return None
    import shutil
    from importlib.metadata import PackageNotFoundError, version

    try:
        tf_version = version("tensorflow")
    except PackageNotFoundError:
        tf_version = "unknown"
    path = Path(cfg.data.cache_dir).expanduser() / "xla" / f"tf-{tf_version}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
        if shutil.disk_usage(path).free < min_free_bytes:
            return None
    except OSError:
        return None
    return str(path)


def clear_compile_cache() -> str | None:
    """Delete the entries of the compile cache this process uses (it is only a cache: each entry
    is rebuilt when next needed); return its folder, or None when there is none."""
    import re

    m = re.search(r"--tf_xla_persistent_cache_directory=(\S+)", os.environ.get("TF_XLA_FLAGS", ""))
    if not m:
        return None
    for entry in Path(m.group(1)).glob("*"):
        if entry.is_file():
            entry.unlink(missing_ok=True)
    return m.group(1)


def configure_compile_cache(folder: str) -> None:
    """Point XLA's persistent compile cache at `folder` (TF_XLA_FLAGS, read once when
    TensorFlow is imported: no effect after that)."""
    if "tensorflow" in sys.modules:
        return
    flags = os.environ.get("TF_XLA_FLAGS", "")
    if "tf_xla_persistent_cache_directory" not in flags:
        os.environ["TF_XLA_FLAGS"] = f"{flags} --tf_xla_persistent_cache_directory={folder}".strip()


def configure(threads: int, deterministic: bool, seed: int, compile_cache: str | None = None):
    """Set TensorFlow's thread pools (first call in a process only: TF fixes them at the first
    op, so later jobs of an in-process sweep keep them), op determinism, and seed Python, NumPy
    and TensorFlow's global generators from the one run seed. With `compile_cache`, XLA's
    persistent cache (TF_XLA_FLAGS=--tf_xla_persistent_cache_directory, read once per process)
    saves each compiled step program there and loads it when a later run builds the same one:
    the cache checks the whole HLO module, writes atomically, and skips ~0.3-0.5 s of
    compilation per run. Returns the tf module."""
    global _configured_threads
    if compile_cache:
        configure_compile_cache(compile_cache)
    tf = import_tensorflow()
    if _configured_threads is None:
        n = threads or available_cores()
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
