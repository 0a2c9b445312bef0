"""`python -m w2vexp.plot FOLDER`: a t-SNE map of a run's top words, or the loss and evaluation
curves of a sweep's runs, as PNG."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UserError
from ..plot import sweep_curves, tsne_map
from ..runs import is_run, read_info
from . import fail


def require_plot_extra(command: str = "plot") -> None:
    """Plots need matplotlib and scikit-learn, the `plot` extra (the main job does not)."""
    from importlib.util import find_spec

    missing = [m for m in ("matplotlib", "sklearn") if find_spec(m) is None]
    if missing:
        raise UserError(f"python -m w2vexp.{command} needs {' and '.join(missing)}: pip install 'w2vexp[plot]'")



def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m w2vexp.plot",
                                 description="A t-SNE map of a run's top words, or the curves of a sweep's runs, as PNG.")
    ap.add_argument("folder", type=Path, help="a run folder (t-SNE map) or a sweep folder outputs/<name> (curves)")
    ap.add_argument("--out", type=Path, help="where to write the PNG (default: inside the folder)")
    ap.add_argument("--top", type=int, default=300, help="words on the t-SNE map (default 300)")
    args = ap.parse_args(argv)
    try:
        require_plot_extra()
        folder = args.folder
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder")
        if is_run(folder):
            read_info(folder)
            path = tsne_map(folder, args.out or folder / "tsne.png", top=args.top)
        elif any(map(is_run, folder.iterdir())):
            path = sweep_curves(folder, args.out or folder / "curves.png")
        else:
            raise UserError(f"{folder} is neither a run folder (run.json) nor a sweep folder (*/run.json)")
    except Exception as e:  # noqa: BLE001
        return fail(e)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
