"""How much a run's vectors depend on its seed: runs that differ only by seed, compared word by word.

- Nearest-neighbour overlap (Antoniak & Mimno 2018; Wendlandt, Kummerfeld & Mihalcea 2018): for
  each of the `top` most frequent words, the share of its 10 nearest neighbours (cosine, over
  the whole vocabulary) that two runs have in common, averaged over every pair of runs and
  reported by frequency band. 1.0 means the seeds agree on every neighbourhood.
- Cosine distance after orthogonal Procrustes alignment (Hamilton et al. 2016): the second run's
  unit vectors of the top words rotated onto the first's (scipy's orthogonal_procrustes), then
  1 - cosine of each word with itself: 0 means the same vector up to a rotation.

`python -m w2vexp.stability outputs/<name>` prints a table per group of seeds and writes
`stability.png` into the sweep folder.
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np

K = 10  # neighbours compared
BANDS = ((1, 100), (101, 1000), (1001, 10000))  # frequency ranks (1 = the most frequent word)


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        return np.nan_to_num(x / np.linalg.norm(x, axis=1, keepdims=True))


def neighbours(vectors: np.ndarray, top: int, k: int = K, chunk: int = 512) -> np.ndarray:
    """Ids of the k nearest neighbours (cosine, itself excluded) of each of the first `top` rows."""
    u = _unit(vectors)
    out = np.empty((top, k), dtype=np.int64)
    for s in range(0, top, chunk):
        sims = u[s:s + chunk] @ u.T
        rows = np.arange(sims.shape[0])
        sims[rows, rows + s] = -np.inf
        part = np.argpartition(-sims, k, axis=1)[:, :k]
        out[s:s + chunk] = part
    return out


def overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per word, the share of its neighbours in `a` [N, k] that are also in `b` [N, k]."""
    return np.array([len(set(x) & set(y)) for x, y in zip(a.tolist(), b.tolist())]) / a.shape[1]


def aligned_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine of each word's unit vector in `a` with its vector in `b` rotated onto `a`."""
    from scipy.linalg import orthogonal_procrustes

    ua, ub = _unit(a), _unit(b)
    r, _ = orthogonal_procrustes(ub, ua)
    return np.clip(1.0 - np.sum(ua * _unit(ub @ r), axis=1), 0.0, 2.0)


def compare_runs(vectors: list, top: int) -> dict:
    """Over every pair of runs (same vocabulary, same order): per-word neighbour overlap and
    aligned cosine distance, averaged over the pairs."""
    nn = [neighbours(v, top) for v in vectors]
    pairs = list(itertools.combinations(range(len(vectors)), 2))
    ov = np.mean([overlap(nn[i], nn[j]) for i, j in pairs], axis=0)
    dist = np.mean([aligned_distances(vectors[i][:top], vectors[j][:top]) for i, j in pairs], axis=0)
    return {"overlap": ov, "distance": dist, "pairs": len(pairs)}


def bands(n: int) -> list:
    """(label, first index, last index + 1) of each frequency band within the first n words."""
    return [(f"{lo}-{min(hi, n)}", lo - 1, min(hi, n)) for lo, hi in BANDS if lo <= n]


def by_band(values: np.ndarray) -> list:
    """(band label, words, mean) for each frequency band the values reach."""
    return [(label, b - a, float(values[a:b].mean())) for label, a, b in bands(len(values))]


def seed_groups(sweep: Path) -> dict:
    """{group name: [run folders]} for the finished runs of `sweep` that differ only by seed
    (groups of at least 2)."""
    from .compare import aggregate, collect

    rows = [r for r in collect(sweep) if r["status"] == "finished"]
    return {g["run"]: g["members"] for g in aggregate(rows, "seed") if g["n"] >= 2}


def stability(sweep: Path, top: int = 10000) -> dict:
    """{group: compare_runs of its seeds' vectors}, words in frequency order (UNK left out)."""
    from .errors import UserError
    from .runs import load_vectors

    groups = seed_groups(sweep)
    if not groups:
        raise UserError(f"{sweep} holds no runs that differ only by seed; sweep seed=1,2,3 (-m) first")
    out = {}
    for name, members in groups.items():
        kvs = [load_vectors(m) for m in members]
        words = [w for w in kvs[0].index_to_key if w != "UNK"]
        if any(kv.index_to_key != kvs[0].index_to_key for kv in kvs):
            raise UserError(f"the runs of {name} have different vocabularies: compare seeds of one corpus")
        ids = [kvs[0].key_to_index[w] for w in words]
        vectors = [np.asarray(kv.vectors)[ids] for kv in kvs]
        n = min(top, len(words))
        out[name] = {**compare_runs(vectors, n), "runs": len(members), "top": n}
    return out


def table(result: dict) -> str:
    lines = []
    for name, r in result.items():
        ov, d = r["overlap"], r["distance"]
        lines.append(f"{name}: {r['runs']} seeds ({r['pairs']} pairs), top {r['top']} words")
        lines.append(f"  {'frequency rank':<15}{'words':>6}  {K}-NN overlap  cosine distance after alignment")
        for label, a, b in bands(len(ov)):
            part = d[a:b]
            lines.append(f"  {label:<15}{b - a:>6}  {ov[a:b].mean():>12.3f}  mean {part.mean():.3f}, "
                         f"median {np.median(part):.3f}, 90th percentile {np.percentile(part, 90):.3f}")
    return "\n".join(lines) + "\n"


def plot(result: dict, out: Path) -> Path:
    """Neighbour overlap by frequency band, and the distribution of aligned cosine distances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    width = 0.8 / max(1, len(result))
    for i, (name, r) in enumerate(result.items()):
        bands = by_band(r["overlap"])
        ax1.bar(np.arange(len(bands)) + i * width, [b[2] for b in bands], width, label=name)
        ax1.set_xticks(np.arange(len(bands)) + width * (len(result) - 1) / 2, [b[0] for b in bands])
        ax2.hist(r["distance"], bins=50, histtype="step", label=name)
    ax1.set_ylim(0, 1)
    ax1.set_title(f"{K}-nearest-neighbour overlap across seeds")
    ax1.set_xlabel("frequency rank")
    ax2.set_title("cosine distance after Procrustes alignment")
    ax2.set_xlabel("1 - cosine")
    ax2.set_ylabel("words")
    ax1.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":  # python -m w2vexp.stability: the command is w2vexp.cli.stability
    from .cli.stability import main

    sys.exit(main())
