"""Reading run folders: the one place that knows how a finished run is stored (run.json, the
vectors files) and how a sweep folder holds its runs (`<sweep>/<run>/run.json`). Writing a run
folder is `w2vexp.rundir.RunFolder`'s job.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .errors import UserError

# the files of a run folder that its readers open (w2vexp.artifacts and w2vexp.rundir write them)
RUN_JSON = "run.json"
VECTORS_TXT = "vectors.txt"
VECTORS_BIN = "vectors.bin"
VECTORS_KV = "vectors.kv"


@dataclass
class Run:
    path: Path
    info: dict
    kv: object  # gensim KeyedVectors


def info_or_none(path: Path) -> Optional[dict]:
    """run.json of a folder as a dict, or None when there is none (or it cannot be read)."""
    try:
        return json.loads((Path(path) / RUN_JSON).read_text())
    except (OSError, ValueError):
        return None


def read_info(path: Path) -> dict:
    """run.json of a run folder, or a UserError saying why the folder is not a run."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"{path} is not a folder")
    try:
        return json.loads((path / RUN_JSON).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} is not a w2vexp run folder (no {RUN_JSON}); give a folder like "
                        f"outputs/<name>/<overrides>") from None
    except ValueError:
        raise UserError(f"{path}/{RUN_JSON} is not valid JSON") from None


def is_run(path: Path) -> bool:
    return (Path(path) / RUN_JSON).is_file()


def find_runs(folder: Path) -> list[Path]:
    """The run folders of a sweep folder (`outputs/<name>`), sorted; a run folder gives itself."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder")
    if is_run(folder):
        return [folder]
    runs = sorted(p.parent for p in folder.glob(f"*/{RUN_JSON}"))
    if not runs:
        raise UserError(f"{folder} holds no runs (no */{RUN_JSON}); give a folder like outputs/<name>")
    return runs


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
    info = read_info(path)
    if info.get("status") != "finished":
        raise UserError(f"{path} is not finished (status {info.get('status')!r}); run its command again to "
                        f"finish it")
    return Run(path=path, info=info, kv=load_vectors(path))
