"""What a finished run leaves for people and tools: vocab.tsv, vectors.txt, the Projector files,
the embedding sha256 and nearest neighbours (SPEC section 3). Nothing here imports TensorFlow."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .rundir import atomic_write

PROJECTOR_DIR = "projector"
PROJECTOR_TENSOR = "embeddings.bin"
PROJECTOR_NAME = "word_embeddings"
VECTORS_TXT = "vectors.txt"
VECTORS_BIN = "vectors.bin"
VECTORS_KV = "vectors.kv"


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


def write_vectors(folder: Path, words: list, emb: np.ndarray) -> None:
    """The final vectors in the three forms users load with gensim: `vectors.txt` (word2vec text
    format), `vectors.bin` (word2vec binary) and `vectors.kv` (gensim's own format, its matrix
    in `vectors.kv.vectors.npy` so `KeyedVectors.load(..., mmap='r')` maps it instead of reading
    it: what the tools load). All in vocab.tsv's id order, each written under a temporary name
    and renamed, so a reader never sees half a file."""
    kv = keyed_vectors(words, emb)
    # gensim writes in descending order of `sort_attr`; this attribute keeps the id order of vocab.tsv
    kv.expandos["id_order"] = -np.arange(len(words))
    folder = Path(folder)
    for name, binary in ((VECTORS_TXT, False), (VECTORS_BIN, True)):
        tmp = folder / f".{name}.tmp"
        kv.save_word2vec_format(str(tmp), binary=binary, sort_attr="id_order")
        tmp.replace(folder / name)
    del kv.expandos["id_order"]
    tmp = folder / f".{VECTORS_KV}.tmp"
    kv.save(str(tmp), sep_limit=0)  # every array in a .npy file of its own: memory-mappable
    for side in folder.glob(f"{tmp.name}.*.npy"):
        side.replace(folder / (VECTORS_KV + side.name[len(tmp.name):]))
    tmp.replace(folder / VECTORS_KV)


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
