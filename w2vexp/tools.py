"""What the command-line tools share: opening a run folder with clear errors."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .artifacts import VECTORS_KV, VECTORS_TXT
from .errors import UserError


@dataclass
class Run:
    path: Path
    info: dict
    kv: object  # gensim KeyedVectors


def fail(e: Exception) -> int:
    """Report a tool's error in one line; user errors exit 2, anything else is re-raised."""
    if isinstance(e, UserError):
        print(f"error: {e}", file=sys.stderr)
        return 2
    raise e


def run_info(path: Path) -> dict:
    """run.json of a run folder, or a UserError saying why the folder is not a run."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder")
    try:
        return json.loads((path / "run.json").read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is not a w2vexp run folder (no run.json); give a folder like "
                        f"outputs/<name>/<overrides>") from None
    except ValueError:
        raise UserError(f"{path}/run.json is not valid JSON") from None


def load_vectors(path: Path):
    """A run folder's final vectors as gensim KeyedVectors: `vectors.kv` memory-mapped (instant
    at any vocabulary size), else `vectors.txt` (folders written before vectors.kv existed)."""
    from gensim.models import KeyedVectors

    path = Path(path)
    if (path / VECTORS_KV).is_file():
        return KeyedVectors.load(str(path / VECTORS_KV), mmap="r")
    if (path / VECTORS_TXT).is_file():
        return KeyedVectors.load_word2vec_format(str(path / VECTORS_TXT))
    raise UserError(f"{path} has no {VECTORS_KV} or {VECTORS_TXT}")


def load_run(path) -> Run:
    """A finished run's vectors (gensim KeyedVectors) and run.json."""
    path = Path(path)
    info = run_info(path)
    if info.get("status") != "finished":
        raise UserError(f"{path} is not finished (status {info.get('status')!r}); run its command again to "
                        f"finish it")
    return Run(path=path, info=info, kv=load_vectors(path))


def resolve_words(kv, words) -> list:
    """The user's words as vocabulary keys (lower-cased unless the word itself is a key), or a
    UserError naming those that are not in the vocabulary."""
    words = [w if w in kv.key_to_index else w.lower() for w in words]
    missing = [w for w in words if w not in kv.key_to_index]
    if missing:
        raise UserError(f"not in the vocabulary: {', '.join(missing)}")
    return words
