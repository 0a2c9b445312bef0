"""`python -m w2vexp.reproduce RUN_DIR`: re-run a finished run from its saved config in a new
folder beside it and say whether the embeddings are bitwise identical (SPEC section 6).

Exit 0 and `identical` when they are; exit 1 with the largest absolute difference when they are
not; exit 2 for a folder that is not a finished run. The original folder is never touched.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from ..errors import UserError


def load_run_config(run_dir: Path):
    """The config a run was trained with (its `.hydra/config.yaml`), typed by the schema."""
    from omegaconf import OmegaConf

    from ..config import typed

    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise UserError(f"{run_dir} is not a w2vexp run folder (no .hydra/config.yaml)")
    return typed(OmegaConf.to_container(OmegaConf.load(saved)))


def new_folder_beside(run_dir: Path) -> Path:
    """`<run>.reproduce-N` next to the run, N the first number not taken."""
    n = 1
    while (run_dir.parent / f"{run_dir.name}.reproduce-{n}").exists():
        n += 1
    return run_dir.parent / f"{run_dir.name}.reproduce-{n}"


def reproduce(run_dir: Path) -> int:
    import numpy as np

    from ..rundir import RunFolder
    from ..pipeline import train

    run_dir = run_dir.resolve()
    original = RunFolder(run_dir)
    info = original.info()
    if info is None:
        raise UserError(f"{run_dir} is not a w2vexp run folder (no run.json)")
    if info.get("status") != "finished":
        raise UserError(f"{run_dir} is not finished (status {info.get('status')!r}); only a finished run can be reproduced")
    cfg = load_run_config(run_dir)
    cfg.resume = "auto"
    if info.get("threads"):  # the same thread count: reductions may split differently with another
        cfg.train.threads = int(info["threads"])
    target = new_folder_beside(run_dir)
    target.mkdir(parents=True)
    shutil.copytree(run_dir / ".hydra", target / ".hydra")
    print(f"reproducing {run_dir} in {target}", flush=True)
    new = train(cfg, target, list(info.get("overrides") or []))
    if new.get("sha256") == info.get("sha256"):
        print(f"identical: the embeddings are bitwise the same (sha256 {info['sha256'][:16]}...)")
        return 0
    from ..runs import load_vectors

    a, b = load_vectors(run_dir), load_vectors(target)
    if a.index_to_key != b.index_to_key or a.vectors.shape != b.vectors.shape:
        print("different: the vocabularies differ")
        return 1
    diff = np.abs(a.vectors.astype(np.float64) - b.vectors.astype(np.float64))
    i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
    print(f"different: largest absolute difference {diff[i, j]:.3g} (word {a.index_to_key[i]!r}, "
          f"dimension {j}); sha256 {info.get('sha256', '')[:16]}... vs {new.get('sha256', '')[:16]}...")
    return 1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.reproduce", description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path, help="a finished run folder, e.g. outputs/default/default")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # what the run reports
    for noisy in ("gensim", "smart_open", "absl"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return reproduce(args.run_dir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
