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


def write_keyed_vectors(folder: Path, words: list, emb: np.ndarray) -> None:
    """`vectors.kv`, gensim's own format, its matrix in `vectors.kv.vectors.npy` so that
    `KeyedVectors.load(..., mmap='r')` maps it instead of reading it (what the tools load);
    written under a temporary name and renamed, side files first."""
    folder = Path(folder)
    tmp = folder / f".{VECTORS_KV}.tmp"
    keyed_vectors(words, emb).save(str(tmp), sep_limit=0)  # every array in a .npy of its own: memory-mappable
    for side in folder.glob(f"{tmp.name}.*.npy"):
        side.replace(folder / (VECTORS_KV + side.name[len(tmp.name):]))
    tmp.replace(folder / VECTORS_KV)


def _vectors_child(conn, parent_end) -> None:
    """The body of `VectorsWriter`'s process: wait for "import" (then import gensim and answer
    "imported") and for (folder, words, vectors), write the vector files, answer None or the
    error. Exits when the parent closes its end of the pipe (or dies) without asking."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    parent_end.close()  # so that the parent's exit, however it happens, reads here as EOF
    try:
        message = conn.recv()
        if message == "import":
            try:
                import gensim.models  # noqa: F401 - the point of this process: imported before it is needed
            except BaseException:  # noqa: BLE001 - the parent writes the file itself and meets the error
                pass
            conn.send("imported")
            message = conn.recv()
    except (EOFError, OSError):
        return
    folder, words, emb = message
    try:
        _write_vector_files(Path(folder), words, emb)
        conn.send(None)
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which writes the file itself
        conn.send(f"{type(e).__name__}: {e}")


class VectorsWriter:
    """Writes the vector files (`write_vectors`) in a process forked before TensorFlow is
    imported, so that the training process never imports gensim and the files are written while
    it runs the final evaluation. gensim is imported there when told (`import_gensim`: once the
    corpus is prepared, on the core the corpus child frees while this process still imports
    TensorFlow); the final vectors arrive by `ask` (right after the last step). In this process
    gensim's import (0.6 s of CPU, most of it SciPy's stats) took 0.3-0.4 s of a wiki_sample
    run's wall time beside the training loop on 2 cores, and 0.3 s of `docs`' preparation beside
    TensorFlow's import and the corpus child. `start()` gives None where forking is unsafe
    (TensorFlow already imported: the later jobs of an in-process sweep) or impossible;
    `write_vectors` then writes the files here."""

    def __init__(self, process, conn) -> None:
        self._process, self._conn = process, conn
        self._asked = False
        self._answered = False  # its answer to `ask` has arrived (seen by `busy`, read by `done`)
        self._importing = False  # told to import gensim, and not yet said it has

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

    def _send(self, message) -> bool:
        try:
            self._conn.send(message)
            return True
        except OSError:  # the process is gone
            return False

    def import_gensim(self) -> None:
        """Have the process import gensim now."""
        self._importing = self._send("import")

    def busy(self) -> bool:
        """Whether the process takes a core beside this process's work: importing gensim (about
        0.6 s of CPU: on a large corpus the import starts when its preparation ends, as training
        starts), or writing the files it was asked for (0.07 s for wiki_sample, during the last
        histograms and the final evaluation)."""
        if self._importing:
            try:
                if self._conn.poll():
                    self._conn.recv()  # "imported"
                    self._importing = False
            except (EOFError, OSError):
                self._importing = False
            if self._importing:
                return True
        if self._asked and not self._answered:
            try:
                self._answered = self._conn.poll()
            except (EOFError, OSError):
                self._answered = True
        return self._asked and not self._answered

    def ask(self, folder: Path, words: list, emb: np.ndarray) -> None:
        """Hand the final vectors over (once; later calls do nothing); `done()` says whether
        the files were written."""
        if not self._asked:
            self._asked = self._send((str(folder), list(words), np.asarray(emb, dtype=np.float32)))

    def done(self) -> bool:
        """Wait for the answer: True once the files are written, False if the process failed."""
        if not self._asked:
            return False
        try:
            while self.busy():  # its "imported" comes first
                self._conn.poll(None)
            error = self._conn.recv()
        except (EOFError, OSError):
            error = "the process ended without an answer"
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
    t4, t2, pow10 = _format_tables()
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
