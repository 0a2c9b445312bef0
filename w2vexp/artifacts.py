"""What a finished run leaves for people and tools: vocab.tsv, vectors.txt, the Projector files,
the embedding sha256 and nearest neighbours (SPEC section 3). Nothing here imports TensorFlow."""
from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path

import numpy as np

from .rundir import atomic_write
from .runs import VECTORS_BIN, VECTORS_KV, VECTORS_TXT

log = logging.getLogger("w2vexp")
PROJECTOR_DIR = "projector"
PROJECTOR_TENSOR = "embeddings.bin"
PROJECTOR_NAME = "word_embeddings"


def embedding_sha256(emb: np.ndarray) -> str:
    """sha256 of the embedding matrix as little-endian float32 in row order (bitwise identity)."""
    return hashlib.sha256(np.ascontiguousarray(emb, dtype="<f4").tobytes()).hexdigest()


def write_vocab(path: Path, words: list) -> None:
    """vocab.tsv: one word per line in id order -- also the Projector's labels."""
    atomic_write(path, "".join(f"{w}\n" for w in words))


def keyed_vectors(words: list, emb: np.ndarray):
    """gensim KeyedVectors over our vocabulary, in id order (most frequent first)."""
    from gensim.models import KeyedVectors

    kv = KeyedVectors(vector_size=emb.shape[1], count=0, dtype=np.float32)
    kv.add_vectors(list(words), np.asarray(emb, dtype=np.float32))
    return kv


KEYED_VECTORS = ("gensim.models.keyedvectors", "KeyedVectors")  # the class a vectors.kv names
PICKLE_PROTOCOL = 4  # gensim.utils.PICKLE_PROTOCOL


def write_keyed_vectors(folder: Path, words: list, emb: np.ndarray) -> None:
    """`vectors.kv`, gensim's own format: byte for byte what `keyed_vectors(words, emb)
    .save(path, sep_limit=0)` writes (tested against gensim), without importing gensim (0.6 s of
    CPU, most of it SciPy's stats: 0.06 s of a wiki_sample CBOW run's wall time on 2 cores). That
    is the matrix in `vectors.kv.vectors.npy`, so that `KeyedVectors.load(..., mmap='r')` maps it
    instead of reading it (what the tools load), and a pickle of the object's other attributes
    (`_keyed_vectors_state`). Written under a temporary name and renamed, side file first."""
    folder = Path(folder)
    tmp = folder / f".{VECTORS_KV}.tmp"
    side = Path(f"{tmp}.vectors.npy")  # gensim's subname(fname, "vectors")
    np.save(side, np.ascontiguousarray(emb, dtype=np.float32))
    with open(tmp, "wb") as fh:
        _pickle_keyed_vectors(fh, _keyed_vectors_state(words, emb.shape[1], str(tmp)))
    side.replace(folder / f"{VECTORS_KV}.vectors.npy")
    tmp.replace(folder / VECTORS_KV)


def _keyed_vectors_state(words: list, vector_size: int, fname: str, when: str | None = None) -> dict:
    """The attributes gensim 4's KeyedVectors pickles when saved with its matrix apart: those of
    `KeyedVectors(vector_size, count=0)` after `add_vectors(words, ...)`, the "saving" lifecycle
    event (`SaveLoad.add_lifecycle_event`, at `when`, default now) and what `_save_specials`
    records, in the order gensim sets them."""
    import platform
    import sys
    from datetime import datetime
    from importlib.metadata import version

    words = list(words)
    event = {"fname_or_handle": fname, "separately": "None", "sep_limit": 0, "ignore": frozenset(),
             "datetime": when or datetime.now().isoformat(), "gensim": version("gensim"), "python": sys.version,
             "platform": platform.platform(), "event": "saving"}
    return {"vector_size": int(vector_size), "index_to_key": words, "next_index": 0,
            "key_to_index": {w: i for i, w in enumerate(words)}, "norms": None, "expandos": {},
            "mapfile_path": None, "lifecycle_events": [event],
            "__numpys": ["vectors"], "__scipys": [], "__ignoreds": [], "__recursive_saveloads": []}


def _pickle_keyed_vectors(fh, state: dict) -> None:
    """pickle.dump of a KeyedVectors with these attributes, as gensim's `utils.pickle` does. The
    pickle names the class by its module and name only, and pickle imports that module to check
    that the name leads back to the class it saves: unless gensim's module is loaded, stand-in
    modules (gensim, gensim.models and the one holding a class of that name) are in sys.modules
    while the dump runs -- nothing of this program imports gensim meanwhile: the vectors
    writer's process does nothing else, and a run's own process writes the files after training."""
    import pickle
    import sys
    import types

    module_name, class_name = KEYED_VECTORS
    stand_ins = {}
    if module_name not in sys.modules:
        parts = module_name.split(".")
        for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            if name not in sys.modules:
                stand_ins[name] = sys.modules[name] = types.ModuleType(name)
        setattr(sys.modules[module_name], class_name, type(class_name, (), {"__module__": module_name}))
    try:
        cls = getattr(sys.modules[module_name], class_name)
        kv = cls.__new__(cls)
        kv.__dict__.update(state)
        pickle.dump(kv, fh, protocol=PICKLE_PROTOCOL)
    finally:
        for name, module in stand_ins.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def _vectors_child(conn, parent_end) -> None:
    """The body of `VectorsWriter`'s process: wait for (folder, words, vectors), write the vector
    files, answer None or the error. Exits when the parent closes its end of the pipe (or dies)
    without asking."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent_end.close()  # so that the parent's exit, however it happens, reads here as EOF
    try:
        folder, words, emb, library = conn.recv()
    except (EOFError, OSError):
        return
    if library is not None:
        from . import kernels

        try:  # its C loops for vectors.txt's digits (TensorFlow's libraries are mapped already)
            kernels.attach(library)
        except (OSError, AttributeError):  # NumPy's steps write the same bytes
            pass
    try:
        _write_vector_files(Path(folder), words, emb)
        conn.send(None)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which writes the file itself
        conn.send(f"{type(e).__name__}: {e}")


class VectorsWriter:
    """Writes the vector files (`write_vectors`) in a process forked before TensorFlow is
    imported, so that they are written while the training process runs its final evaluation
    (wiki_sample's: 0.07 s on the other core); the final vectors arrive by `ask` (right after the
    last step). `start()` gives None where forking is unsafe (TensorFlow already imported: the
    later jobs of an in-process sweep) or impossible; `write_vectors` then writes the files here."""

    def __init__(self, process, conn) -> None:
        self._process, self._conn = process, conn
        self._asked = False
        self._answered = False  # its answer to `ask` has arrived (seen by `busy`, read by `done`)

    @classmethod
    def start(cls) -> "VectorsWriter | None":
        """Fork the process now (call it before TensorFlow is imported)."""
        from .tfsetup import can_fork

        if not can_fork():
            return None
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        mine, theirs = ctx.Pipe()
        process = ctx.Process(target=_vectors_child, args=(theirs, mine), daemon=True,
                              name="w2vexp-vectors")
        process.start()
        theirs.close()
        return cls(process, mine)

    def busy(self, wait: float = 0.0) -> bool:
        """Whether the process takes a core beside this process's work -- writing the files it was
        asked for (during the last histograms and the final evaluation) -- after waiting up to
        `wait` seconds for it to finish."""
        if self._asked and not self._answered:
            try:
                self._answered = self._conn.poll(wait)
            except (EOFError, OSError):
                self._answered = True
        return self._asked and not self._answered

    def ask(self, folder: Path, words: list, emb: np.ndarray) -> None:
        """Hand the final vectors over (once; later calls do nothing); `done()` says whether
        the files were written."""
        if not self._asked:
            try:
                from .kernels import loaded_path

                self._conn.send((str(folder), list(words), np.asarray(emb, dtype=np.float32), loaded_path()))
                self._asked = True
            except OSError:  # the process is gone
                pass

    def done(self) -> bool:
        """Wait for the answer: True once the files are written, False if the process failed."""
        if not self._asked:
            return False
        try:
            error = self._conn.recv()
        except (EOFError, OSError):
            error = "the process ended without an answer"
        self._answered = True
        if error is not None:
            log.debug("vectors writer: %s; writing the files here", error)
        return error is None

    def close(self) -> None:
        """Let the process go (it exits when its pipe closes)."""
        self._conn.close()
        self._process.join(5)


def write_word2vec_binary(path: Path, words: list, emb: np.ndarray, rows: int = 4096) -> None:
    """The word2vec binary format (a `V D` header, then each word, a space and its D float32
    values), byte for byte what gensim's `save_word2vec_format(binary=True)` writes, in id order."""
    emb = np.asarray(emb, dtype=np.float32)
    V, D = emb.shape
    with open(path, "wb") as fh:
        fh.write(f"{V} {D}\n".encode("utf8"))
        for start in range(0, V, rows):
            fh.write(b"".join(f"{w} ".encode("utf8") + row.tobytes()
                              for w, row in zip(words[start:start + rows], emb[start:start + rows])))


def _write_vector_files(folder: Path, words: list, emb: np.ndarray) -> None:
    for name, write in ((VECTORS_TXT, write_word2vec_text), (VECTORS_BIN, write_word2vec_binary)):
        tmp = folder / f".{name}.tmp"
        write(tmp, words, emb)
        tmp.replace(folder / name)
    write_keyed_vectors(folder, words, emb)


def write_vectors(folder: Path, words: list, emb: np.ndarray, writer: VectorsWriter | None = None) -> None:
    """The final vectors in the three forms users load with gensim: `vectors.txt` (word2vec text
    format), `vectors.bin` (word2vec binary) and `vectors.kv` (`write_keyed_vectors`), all in
    vocab.tsv's id order, each written under a temporary name and renamed, so a reader never sees
    half a file; by `writer` when there is one (asked here unless it was asked already), else, or
    if it failed, here."""
    folder = Path(folder)
    if writer is not None:
        writer.ask(folder, words, emb)
        if writer.done():
            return
    _write_vector_files(folder, words, emb)


@functools.lru_cache(maxsize=None)
def _format_tables() -> tuple:
    """The digits of 0000 .. 9999 (4 ASCII bytes each, as one little-endian uint32), of 00 .. 99
    (as uint16), and the powers of ten 1e-60 .. 1e59 (float64, each what np.power gives)."""
    d4, d2 = np.arange(10**4), np.arange(100)
    t4 = np.stack([(d4 // 10**k) % 10 + ord("0") for k in (3, 2, 1, 0)], axis=1).astype(np.uint8)
    t2 = np.stack([d2 // 10 + ord("0"), d2 % 10 + ord("0")], axis=1).astype(np.uint8)
    return t4.view("<u4").ravel(), t2.view("<u2").ravel(), np.power(10.0, np.arange(-60, 60, dtype=np.float64))


def _format_into(values: np.ndarray, out: np.ndarray) -> None:
    """Write each float32 of `values` [N, D] into `out` [N, D, 16] (uint8) as the 15 ASCII bytes
    `+d.dddddddde+dd`, leaving out[..., 15] as it is: 9 significant digits, which read back as
    exactly the same float32 (9 digits always do). gensim's writer formats every value through
    a Python str(): about 0.5 us a value, 15-20 s for a 226k x 128 matrix; this is vectorised:
    the powers of ten and the digits come from tables (the 8 digits after the point as two
    4-byte words written through unaligned views), 40 ns a value."""
    from .kernels import format_float32_into

    t4, t2, pow10 = _format_tables()
    if format_float32_into(values, out, pow10):  # the same bytes, in one pass in C
        return
    v = np.asarray(values, dtype=np.float64)
    a = np.abs(v)
    nonzero = a > 0
    e = np.floor(np.log10(np.where(nonzero, a, 1.0))).astype(np.int64)  # zero: e = 0
    m = np.rint(a / pow10[e + 60] * 1e8).astype(np.int64)
    over = m >= 10**9  # 9.999999995 -> 10.00000000: one more power of ten
    if over.any():
        m = np.where(over, m // 10, m)
        e = e + over
    under = (m < 10**8) & nonzero  # log10 rounding the other way
    if under.any():
        m = np.where(under, np.rint(a / pow10[e - 1 + 60] * 1e8).astype(np.int64), m)
        e = e - under
    n = v.size
    rec = out.reshape(n, 16)
    buf = rec.reshape(-1)
    first, rest = np.divmod(m.reshape(-1), 10**8)
    high, low = np.divmod(rest, 10**4)
    rec[:, 0] = np.where(np.signbit(v).reshape(-1), ord("-"), ord("+"))
    rec[:, 1] = first + ord("0")
    rec[:, 2] = ord(".")
    np.ndarray((n,), dtype="<u4", buffer=buf, offset=3, strides=(16,))[:] = t4[high]
    np.ndarray((n,), dtype="<u4", buffer=buf, offset=7, strides=(16,))[:] = t4[low]
    rec[:, 11] = ord("e")
    e = e.reshape(-1)
    rec[:, 12] = np.where(e < 0, ord("-"), ord("+"))
    np.ndarray((n,), dtype="<u2", buffer=buf, offset=13, strides=(16,))[:] = t2[np.abs(e)]


def format_float32(values: np.ndarray) -> np.ndarray:
    """Each float32 of `values` [N, D] as 15 ASCII bytes `+d.dddddddde+dd` (`_format_into`), in
    a [N, D, 15] uint8 array."""
    values = np.asarray(values)
    out = np.empty(values.shape + (16,), dtype=np.uint8)
    _format_into(values, out)
    return out[..., :15]


def write_word2vec_text(path: Path, words: list, emb: np.ndarray, rows: int = 512) -> None:
    """The word2vec text format (a `V D` header, then `word v1 ... vD` a line), the layout of
    gensim's `save_word2vec_format(binary=False)`, with every value written by
    `_format_into`: `load_word2vec_format` reads back exactly the float32 matrix."""
    emb = np.asarray(emb, dtype=np.float32)
    V, D = emb.shape
    body = np.empty((min(rows, V), D, 16), dtype=np.uint8)
    body[..., 15] = ord(" ")  # after each value: " ", the last of a line "\n"
    body[:, -1, 15] = ord("\n")
    with open(path, "wb") as fh:
        fh.write(f"{V} {D}\n".encode())
        for start in range(0, V, rows):
            chunk = emb[start:start + rows]
            lines = body[:len(chunk)]
            _format_into(chunk, lines)
            flat = lines.reshape(len(chunk), D * 16)
            fh.write(b"".join(part for word, line in zip(words[start:start + rows], flat)
                              for part in (f"{word} ".encode(), line.tobytes())))


def write_projector(folder: Path, emb: np.ndarray) -> None:
    """projector_config.pbtxt pointing at the final embeddings (float32 binary, one row per
    vocab.tsv line) with vocab.tsv as labels; paths relative so the folder can move."""
    from tensorboard.plugins import projector

    (folder / PROJECTOR_DIR).mkdir(exist_ok=True)
    atomic_write(folder / PROJECTOR_DIR / PROJECTOR_TENSOR, np.ascontiguousarray(emb, dtype="<f4").tobytes())
    config = projector.ProjectorConfig()
    e = config.embeddings.add()
    e.tensor_name = PROJECTOR_NAME
    e.tensor_path = f"{PROJECTOR_DIR}/{PROJECTOR_TENSOR}"
    e.tensor_shape.extend(list(emb.shape))
    e.metadata_path = "vocab.tsv"
    from google.protobuf import text_format

    atomic_write(folder / "projector_config.pbtxt", text_format.MessageToString(config))


def nearest(emb: np.ndarray, words: list, wanted: list, k: int = 8) -> dict:
    """For each word in `wanted`, the k words with the highest cosine similarity to it (itself
    excluded), as {word: [(neighbour, similarity), ...]}; the matrix is normalised once."""
    index = {w: i for i, w in enumerate(words)}
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    out = {}
    for word in wanted:
        sims = unit @ unit[index[word]]
        sims[index[word]] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        out[word] = [(words[i], float(sims[i])) for i in top]
    return out


def probe_words(wanted: list, words: list, n: int = 6) -> list:
    """The configured probe words that are in the vocabulary, else a few frequent ones."""
    have = [w for w in wanted if w in set(words)]
    if have:
        return have[:n]
    return [w for w in words[10:] if w != "UNK"][:n]
