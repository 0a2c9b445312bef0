"""Bitwise reproducibility and crash-proof resume (SPEC sections 6 and 7), run as a user would."""
from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import planted_corpus

pytestmark = pytest.mark.slow

LONG = ["train.steps=2000", "train.checkpoint_every=250", "train.log_every=20"]
LONG_DIR = "train.checkpoint_every=250,train.steps=2000"


def _info(d: Path) -> dict:
    return json.loads((d / "run.json").read_text())


def _loss_points(d: Path) -> list:
    """Every (step, loss) in the run's event files, duplicates kept (what TensorBoard would show)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    out = []
    for f in sorted(d.glob("events.out.tfevents.*")):
        for ev in EventFileLoader(str(f)).Load():
            for v in ev.summary.value:
                if v.tag == "loss":
                    out.append((ev.step, float(tensor_util.make_ndarray(v.tensor))))
    return sorted(out)


def _popen(cli, *args):
    return subprocess.Popen([sys.executable, "-m", "w2vexp.run", "--config-dir", str(cli.dir / "conf"),
                             "--config-name", "smoke", *args], cwd=cli.dir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_ckpt(d: Path, proc, n: int, limit=120) -> bool:
    end = time.time() + limit
    while time.time() < end and proc.poll() is None:
        if len(list((d / "checkpoints").glob("*.index"))) >= n:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def reference(cli):
    p = cli("w2vexp.run", "name=ref", *LONG)
    assert p.returncode == 0, p.stdout[-2000:]
    return cli.dir / "outputs" / "ref" / LONG_DIR


def test_same_seed_same_bits_alone_or_in_a_sweep_other_seed_differs(cli):
    """Also: c loads the program b compiled from the compile cache (train.compile_cache: another
    seed, the same program), and that gives the same bits as compiling it (d)."""
    xla = Path(os.environ["W2VEXP_CACHE_DIR"]) / "xla"
    p = cli("w2vexp.run", "name=a", "loss=nce,neg", "seed=7", "train.steps=200", "-m")
    assert p.returncode == 0, p.stdout[-2000:]
    p = cli("w2vexp.run", "name=b", "loss=neg", "seed=7", "train.steps=200")
    assert p.returncode == 0, p.stdout[-2000:]
    programs = sorted(xla.rglob("*.pb"))
    assert programs
    p = cli("w2vexp.run", "name=c", "loss=neg", "seed=8", "train.steps=200")
    assert p.returncode == 0, p.stdout[-2000:]
    assert sorted(xla.rglob("*.pb")) == programs
    p = cli("w2vexp.run", "name=d", "loss=neg", "seed=8", "train.steps=200", "train.compile_cache=false")
    assert p.returncode == 0, p.stdout[-2000:]
    d = cli.dir / "outputs" / "d" / "loss=neg,seed=8,train.compile_cache=False,train.steps=200"
    assert _info(d)["sha256"] == _info(cli.dir / "outputs" / "c" / "loss=neg,seed=8,train.steps=200")["sha256"]
    out = cli.dir / "outputs"
    a, b, c = (out / n / f"loss=neg,seed={s},train.steps=200" for n, s in (("a", 7), ("b", 7), ("c", 8)))
    assert _info(a)["sha256"] == _info(b)["sha256"]
    assert (a / "vectors.txt").read_bytes() == (b / "vectors.txt").read_bytes()
    assert _loss_points(a) == _loss_points(b) and _loss_points(a)
    assert _info(c)["sha256"] != _info(a)["sha256"]


def test_kill_9_at_a_random_moment_then_resume_is_bitwise_the_uninterrupted_run(cli, reference):
    ref_sha, ref_curve = _info(reference)["sha256"], _loss_points(reference)
    d = cli.dir / "outputs" / "kill" / LONG_DIR
    proc = _popen(cli, "name=kill", *LONG)
    assert _wait_ckpt(d, proc, 1)
    time.sleep(random.uniform(0.0, 1.0))
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = killed and _info(d)["status"] != "finished"  # killed after its work was done: not a crash
    p = cli("w2vexp.run", "name=kill", *LONG)
    assert p.returncode == 0, p.stdout[-2000:]
    assert _info(d)["sha256"] == ref_sha
    if killed:
        assert _info(d)["resumes"][-1]["from_step"] > 0
    assert _loss_points(d) == ref_curve  # one point per step, the same values as never stopping


def test_checkpoints_by_wall_time_resume_bitwise_too(cli, reference):
    """The default cadence (train.checkpoint_every=null: every train.checkpoint_seconds) puts
    checkpoints wherever the clock says; the training, and so a resumed result, is the same."""
    args = ["train.steps=2000", "train.log_every=20", "train.checkpoint_seconds=0.3"]
    d = cli.dir / "outputs" / "clock" / "train.checkpoint_seconds=0.3,train.steps=2000"
    proc = _popen(cli, "name=clock", *args)
    assert _wait_ckpt(d, proc, 2)
    killed = proc.poll() is None
    if killed:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed = killed and _info(d)["status"] != "finished"
    p = cli("w2vexp.run", "name=clock", *args)
    assert p.returncode == 0, p.stdout[-2000:]
    assert _info(d)["sha256"] == _info(reference)["sha256"]  # the step-based reference run
    if killed:
        assert _info(d)["resumes"][-1]["from_step"] > 0
    assert _loss_points(d) == _loss_points(reference)
    assert set(_info(d)["time"]) >= {"prepare", "startup", "train_loop", "evaluate", "checkpoints", "exports", "total"}


def test_ctrl_c_checkpoints_marks_interrupted_and_resumes(cli, reference):
    d = cli.dir / "outputs" / "int" / LONG_DIR
    proc = _popen(cli, "name=int", *LONG)
    assert _wait_ckpt(d, proc, 1)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    info = _info(d)
    if info["status"] != "finished":  # (the run may have ended before the signal arrived)
        assert info["status"] == "interrupted" and "resume" in info["reason"]
        p = cli("w2vexp.run", "name=int", *LONG)
        assert p.returncode == 0
        assert _info(d)["resumes"][-1]["from_step"] == info["steps"] > 0
    assert _info(d)["sha256"] == _info(reference)["sha256"]


def test_corrupt_latest_checkpoint_falls_back_to_the_one_before(cli, reference):
    d = cli.dir / "outputs" / "cor" / LONG_DIR
    proc = _popen(cli, "name=cor", *LONG)
    assert _wait_ckpt(d, proc, 2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    newest = max((d / "checkpoints").glob("ckpt-*.index"), key=lambda f: int(f.stem.split("-")[1]))
    for f in (d / "checkpoints").glob(newest.stem + ".data-*"):
        with open(f, "r+b") as fh:
            fh.truncate(f.stat().st_size // 2)
    p = cli("w2vexp.run", "name=cor", *LONG)
    assert p.returncode == 0, p.stdout[-2000:]
    assert "corrupt" in p.stdout and "skipping it" in p.stdout
    assert 0 < _info(d)["resumes"][-1]["from_step"] < int(newest.stem.split("-")[1])
    assert _info(d)["sha256"] == _info(reference)["sha256"]


def test_no_good_checkpoint_is_a_clear_failure(cli):
    d = cli.dir / "outputs" / "bad" / "train.checkpoint_every=50,train.steps=100"
    p = cli("w2vexp.run", "name=bad", "train.steps=100", "train.checkpoint_every=50")
    assert p.returncode == 0
    (d / "run.json").unlink()  # pretend it never finished, then break every checkpoint
    for f in (d / "checkpoints").glob("*.data-*"):
        f.write_bytes(b"")
    p = cli("w2vexp.run", "name=bad", "train.steps=100", "train.checkpoint_every=50")
    assert p.returncode != 0 and "no good checkpoint" in p.stdout and "Traceback" not in p.stdout
    assert _info(d)["status"] == "failed"
    assert any((d / "checkpoints").iterdir())  # nothing deleted


def test_divergence_fails_with_the_reason_and_keeps_good_checkpoints(cli):
    p = cli("w2vexp.run", "name=nan", "lr=1000000", "train.checkpoint_every=1")
    d = cli.dir / "outputs" / "nan" / "lr=1000000,train.checkpoint_every=1"
    assert p.returncode != 0 and "Traceback" not in p.stdout
    info = _info(d)
    assert info["status"] == "failed" and re.search(r"nan|inf", info["reason"])
    assert "diverged" in p.stdout


def test_reproduce_confirms_and_leaves_the_original_alone(cli):
    p = cli("w2vexp.run", "name=rep", "train.steps=150")
    assert p.returncode == 0
    d = cli.dir / "outputs" / "rep" / "train.steps=150"
    before = {str(f): f.read_bytes() for f in d.rglob("*") if f.is_file() and ".hydra" not in f.parts}
    p = cli("w2vexp.reproduce", str(d), smoke=False)
    assert p.returncode == 0 and "identical" in p.stdout, p.stdout[-2000:]
    assert {str(f): f.read_bytes() for f in d.rglob("*") if f.is_file() and ".hydra" not in f.parts} == before
    assert (d.parent / "train.steps=150.reproduce-1" / "run.json").is_file()


def test_an_unreadable_compile_cache_entry_is_cleared_and_the_run_goes_on(cli, monkeypatch):
    """A truncated entry in XLA's compile cache makes TensorFlow fail the compilation; the run
    clears the cache, compiles afresh, says so, and ends as it would have. (The default fused
    kernel compiles nothing -- its noise draws are TensorFlow's own integer kernels -- so the
    XLA graph is asked for: train.fused=false.)"""
    monkeypatch.setenv("W2VEXP_CACHE_DIR", str(cli.dir / "cache"))
    planted_corpus(cli.dir / "c.txt", sentences=400)
    p = cli("w2vexp.run", "name=fused", "data=file", "data.path=c.txt", "train.steps=60")
    assert p.returncode == 0, p.stdout[-2000:]
    assert not list((cli.dir / "cache").rglob("xla/**/*.pb"))  # nothing compiled at the defaults
    args = ["data=file", "data.path=c.txt", "train.fused=false", "train.steps=60"]
    p = cli("w2vexp.run", "name=a", *args)
    assert p.returncode == 0, p.stdout[-2000:]
    entries = list((cli.dir / "cache" / "xla").rglob("*.pb"))
    assert entries
    for e in entries:
        e.write_bytes(e.read_bytes()[:1000])
    p = cli("w2vexp.run", "name=b", *args)
    assert p.returncode == 0, p.stdout[-2000:]
    assert "compile cache" in p.stdout and "Traceback" not in p.stdout
    run = "data.path=c.txt,data=file,train.fused=False,train.steps=60"
    assert _info(cli.dir / "outputs" / "b" / run)["sha256"] == _info(cli.dir / "outputs" / "a" / run)["sha256"]
