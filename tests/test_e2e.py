"""End to end, as a user runs it: `python -m w2vexp.run` in a fresh folder (subprocesses)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _sig(d: Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob("*"))
            if p.is_file() and p.suffix != ".log" and p.name != "hydra.yaml"}


def _scalars(d: Path, tag: str) -> list:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(d), size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    from tensorboard.util import tensor_util

    return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in acc.Tensors(tag)]


def test_smoke_run_leaves_a_complete_run_folder(cli):
    p = cli("w2vexp.run", "name=smoke")
    assert p.returncode == 0, p.stdout[-3000:]
    d = cli.dir / "outputs" / "smoke" / "default"
    assert "outputs/smoke/default" in p.stdout and "nearest to" in p.stdout
    for rel in (".hydra/config.yaml", ".hydra/overrides.yaml", "checkpoints/checkpoint", "vocab.tsv",
                "vectors.txt", "run.json", "projector_config.pbtxt"):
        assert (d / rel).is_file(), rel
    info = json.loads((d / "run.json").read_text())
    assert info["status"] == "finished" and info["steps"] == 300 and len(info["sha256"]) == 64
    assert {"tensorflow", "hydra-core", "numpy", "python"} <= set(info["versions"])
    assert info["words_per_sec"] > 0 and info["resumes"] == []
    from gensim.models import KeyedVectors

    kv = KeyedVectors.load_word2vec_format(str(d / "vectors.txt"))
    words = (d / "vocab.tsv").read_text().split("\n")[:-1]
    assert kv.index_to_key == words and kv.vector_size == 32
    loss = _scalars(d, "loss")
    assert [s for s, _ in loss] == list(range(25, 301, 25))
    assert loss[-1][1] < loss[0][1]
    assert _scalars(d, "lr") and _scalars(d, "words_per_sec")
    assert sorted(p.name for p in (d / "checkpoints").glob("*.index")) == \
        ["ckpt-100.index", "ckpt-200.index", "ckpt-300.index"]

    # the same command again: skipped with a message, nothing in the folder changes
    before = _sig(d)
    p = cli("w2vexp.run", "name=smoke")
    assert p.returncode == 0 and "already finished" in p.stdout
    assert _sig(d) == before

    # resume=never refuses a folder that holds a run, and leaves it alone
    p = cli("w2vexp.run", "name=smoke", "resume=never")
    assert p.returncode != 0 and "resume=never" in p.stdout and "Traceback" not in p.stdout
    assert {k: v for k, v in _sig(d).items() if not k.startswith(".hydra")} == \
        {k: v for k, v in before.items() if not k.startswith(".hydra")}


def test_sweep_and_single_run_share_folders(cli):
    p = cli("w2vexp.run", "name=sw", "lr=0.5,1.0", "train.steps=50", "-m")
    assert p.returncode == 0, p.stdout[-3000:]
    root = cli.dir / "outputs" / "sw"
    names = sorted(x.name for x in root.iterdir() if x.is_dir())
    assert names == ["lr=0.5,train.steps=50", "lr=1.0,train.steps=50"]
    assert "[w2vexp] job lr=0.5,train.steps=50: finished" in p.stdout
    p = cli("w2vexp.run", "name=sw", "train.steps=50", "lr=0.5")
    assert p.returncode == 0 and "already finished" in p.stdout
    assert sorted(x.name for x in root.iterdir() if x.is_dir()) == names


@pytest.mark.parametrize("args,needle", [
    (["lr=-1"], "lr"), (["model=foo"], "model"), (["window=0"], "window"),
    (["no_such_key=1"], "no_such_key"), (["data=file", "data.path=/nonexistent/c.txt"], "/nonexistent/c.txt"),
])
def test_bad_input_is_one_clear_line(cli, args, needle):
    p = cli("w2vexp.run", "name=bad", *args, timeout=120)
    assert p.returncode != 0
    assert "Traceback" not in p.stdout
    assert needle in p.stdout
    assert not list((cli.dir / "outputs").rglob("run.json")) if (cli.dir / "outputs").exists() else True


def test_second_writer_is_refused(tmp_path):
    from w2vexp.errors import RunFolderError
    from w2vexp.rundir import RunFolder

    first = RunFolder(tmp_path)
    first.lock()
    try:
        with pytest.raises(RunFolderError, match="locked"):
            RunFolder(tmp_path).lock()
    finally:
        first.unlock()
    RunFolder(tmp_path).lock()  # free again once released (a dead process releases it too)
