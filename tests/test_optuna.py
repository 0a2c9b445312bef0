"""hparams_search=optuna: w2vexp's own Hydra sweeper on optuna >= 4, for real on a tiny budget."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

optuna = pytest.importorskip("optuna")


def _study(root, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{root / 'optuna.db'}")


def _runs(root):
    return sorted(d for d in root.iterdir() if (d / "run.json").is_file())


def test_the_pruner_stops_a_trial_below_the_median_of_earlier_ones(tmp_path):
    from w2vexp.pruning import TrialReporter

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize",
                                pruner=optuna.pruners.MedianPruner())
    for value in (0.5, 0.6, 0.7, 0.4, 0.8):  # MedianPruner prunes only after 5 finished trials
        t = study.ask()
        t.report(value, 100)
        study.tell(t, value)
    good, bad = study.ask(), study.ask()
    assert TrialReporter(storage, "s", good._trial_id, "median:0", "analogy_acc")(100, {"analogy_acc": 0.9}) is None
    reason = TrialReporter(storage, "s", bad._trial_id, "median:0", "analogy_acc")(100, {"analogy_acc": 0.1})
    assert reason and "pruner" in reason and "step 100" in reason
    assert TrialReporter(storage, "s", bad._trial_id, "none", "analogy_acc")(200, {"analogy_acc": 0.1}) is None


@pytest.mark.slow
def test_n_trials_is_the_size_of_the_study_and_a_killed_trial_is_retried(cli):
    args = ["name=opt", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "train.steps=100"]
    p = cli("w2vexp.run", *args, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:]
    assert "Best parameters" in p.stdout and "Best value" in p.stdout
    root = cli.dir / "outputs" / "opt"
    assert len(_runs(root)) == 2 and len(_study(root, "opt").trials) == 2
    p = cli("w2vexp.run", *args, timeout=900)  # a finished study runs nothing new
    assert p.returncode == 0 and "nothing to run" in p.stdout
    assert len(_runs(root)) == 2 and len(_study(root, "opt").trials) == 2
    p = cli("w2vexp.run", *args[:2], "hydra.sweeper.n_trials=3", "train.steps=100", timeout=900)
    assert p.returncode == 0 and len(_runs(root)) == 3  # continued with new values, not a replay

    # a trial killed mid-run: marked failed, its parameters tried again in the same folder (resumed)
    kill = ["name=kill", "hparams_search=optuna", "hydra.sweeper.n_trials=1", "train.steps=100000",
            "train.checkpoint_every=200", "train.eval_every=0"]
    cmd = [sys.executable, "-m", "w2vexp.run", "--config-dir", str(cli.dir / "conf"), "--config-name", "smoke", *kill]
    proc = subprocess.Popen(cmd, cwd=cli.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    root = cli.dir / "outputs" / "kill"
    deadline = time.time() + 300
    while time.time() < deadline and not list(root.glob("*/checkpoints/*.index")):
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (run,) = _runs(root)
    assert _study(root, "kill").trials[0].state == optuna.trial.TrialState.RUNNING
    p = cli("w2vexp.run", *kill[:-3], "train.steps=100000", "train.checkpoint_every=200", "train.eval_every=0",
            timeout=900)
    assert p.returncode == 0, p.stdout[-3000:]
    assert _runs(root) == [run]
    assert json.loads((run / "run.json").read_text())["resumes"]
    states = [t.state for t in _study(root, "kill").trials]
    assert states == [optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE]


@pytest.mark.slow
def test_optuna_dashboard_opens_the_study_file(cli):
    pytest.importorskip("optuna_dashboard")
    p = cli("w2vexp.run", "name=dash", "hparams_search=optuna", "hydra.sweeper.n_trials=2", "train.steps=100",
            timeout=900)
    assert p.returncode == 0, p.stdout[-3000:]
    db = cli.dir / "outputs" / "dash" / "optuna.db"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    proc = subprocess.Popen([exe, f"sqlite:///{db}", "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        body = None
        deadline = time.time() + 60
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as r:
                    body = json.loads(r.read())
            except OSError:
                time.sleep(0.5)
        assert body is not None, "optuna-dashboard did not answer"
        (study,) = body["study_summaries"]
        assert study["study_name"] == "dash"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}", timeout=10) as r:
            detail = json.loads(r.read())
        assert len(detail["trials"]) == 2 and all(t["state"] == "Complete" for t in detail["trials"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_hopeless_trial_stops_early_as_a_finished_run(cli, monkeypatch):
    """A job told (through the environment, as the sweeper does) that it runs for a trial whose
    study already has five far better trials stops at its first evaluation: a finished run of
    fewer steps, with its vectors, and `stopped_early` saying why."""
    from w2vexp.pruning import ENV_PRUNER, ENV_STORAGE, ENV_STUDY, ENV_TRIAL

    storage = f"sqlite:///{cli.dir / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    for _ in range(5):
        t = study.ask()
        t.report(0.9, 100)
        study.tell(t, 0.9)
    trial = study.ask()
    for k, v in ((ENV_STORAGE, storage), (ENV_STUDY, "s"), (ENV_TRIAL, str(trial._trial_id)),
                 (ENV_PRUNER, "median:0")):
        monkeypatch.setenv(k, v)
    p = cli("w2vexp.run", "name=stop", "train.steps=300", "train.eval_every=100")
    assert p.returncode == 0, p.stdout[-3000:]
    info = json.loads((cli.dir / "outputs" / "stop" / "train.eval_every=100,train.steps=300" / "run.json").read_text())
    assert info["status"] == "finished" and info["steps"] == 100 and "pruner" in info["stopped_early"]
    assert (cli.dir / "outputs" / "stop" / "train.eval_every=100,train.steps=300" / "vectors.kv").is_file()
    assert study.trials[-1].intermediate_values == {100: info["metrics"]["analogy_acc"]}
