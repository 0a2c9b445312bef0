"""`python -m w2vexp.plot RUN_DIR | outputs/<name>`: pictures for people who would rather look.

For a run folder: a t-SNE map of its most frequent words with their labels (`tsne.png`). For a
sweep folder: the loss and eval curves of all its runs read back from their TensorBoard event
files (`curves.png`). The PNG is written into the folder given (or `--out`) and its path printed.
"""
from __future__ import annotations

import sys
from pathlib import Path

from .errors import UserError
from .runs import find_runs, load_run


def tsne_map(run_dir: Path, out: Path, top: int = 300, seed: int = 0) -> Path:
    """t-SNE (scikit-learn) of the `top` most frequent words (UNK left out), labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.manifold import TSNE

    run = load_run(run_dir)
    words = [w for w in run.kv.index_to_key if w != "UNK"][:top]
    if len(words) < 5:
        raise UserError(f"{run_dir} has too few words to map ({len(words)})")
    X = np.stack([run.kv[w] for w in words])
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    Y = TSNE(n_components=2, perplexity=min(30, len(words) - 1), init="pca", random_state=seed,
             metric="cosine").fit_transform(X)
    fig, ax = plt.subplots(figsize=(16, 16), dpi=100)
    ax.scatter(Y[:, 0], Y[:, 1], s=6, c="tab:blue", alpha=0.6)
    for (x, y), w in zip(Y, words):
        ax.annotate(w, (x, y), fontsize=8, alpha=0.85, xytext=(2, 2), textcoords="offset points")
    ax.set_title(f"t-SNE of the {len(words)} most frequent words - {run_dir}")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def _curves(run_dir: Path) -> dict:
    from .tfsetup import import_tensorflow

    import_tensorflow()  # quietly, before TensorBoard's reader imports it
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(run_dir), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags().get("tensors", []):
        if tag == "loss" or tag.startswith("eval/"):
            pts = [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]
            if pts:
                out[tag] = sorted(pts)
    return out


def sweep_curves(sweep: Path, out: Path) -> Path:
    """The loss and eval curves of every run below `sweep`, one panel per quantity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = find_runs(sweep)
    data = {r.name: _curves(r) for r in runs}
    if not any(data.values()):
        raise UserError(f"the runs in {sweep} have no loss or eval curves in their event files yet")
    tags = ["loss"] + sorted({t for d in data.values() for t in d if t.startswith("eval/")} &
                             {"eval/analogy_acc", "eval/ws353", "eval/simlex"})
    legend_h = 0.25 * len(data)
    fig, axes = plt.subplots(1, len(tags), figsize=(6 * len(tags), 5 + legend_h), dpi=100, squeeze=False)
    for ax, tag in zip(axes[0], tags):
        for name, d in data.items():
            if tag in d:
                xs, ys = zip(*d[tag])
                ax.plot(xs, ys, marker="o" if len(xs) < 20 else None, label=name)
        ax.set_title(tag)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0][0].set_yscale("log")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(str(sweep))
    fig.tight_layout(rect=(0, legend_h / (5 + legend_h) + 0.02, 1, 1))
    ncol = 1 if max(map(len, labels), default=0) > 40 else min(len(labels), 4) or 1
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    fig.savefig(out)
    plt.close(fig)
    return out


if __name__ == "__main__":  # python -m w2vexp.plot: the command is w2vexp.cli.plot
    from .cli.plot import main

    sys.exit(main())
