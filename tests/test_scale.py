"""Hydra's own launchers and sweeper, for real on a tiny budget: joblib (parallel), submitit's
local executor (Optuna: test_optuna.py)."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow


def _status(d):
    return json.loads((d / "run.json").read_text())


def test_joblib_runs_jobs_in_parallel_with_one_thread_each(cli):
    p = cli("w2vexp.run", "name=par", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "lr=0.5,1.0",
            "train.steps=100", "-m")
    assert p.returncode == 0, p.stdout[-3000:]
    for lr in ("0.5", "1.0"):
        info = _status(cli.dir / "outputs" / "par" / f"lr={lr},train.steps=100")
        assert info["status"] == "finished"
        assert info["threads"] == 1  # 2 jobs x 1 thread on 2 cores: never oversubscribed


def test_submitit_local_runs_a_sweep_and_a_rerun_skips_finished_jobs(cli):
    args = ["name=sub", "hydra/launcher=submitit_local", "lr=0.5,1.0", "train.steps=100", "-m"]
    p = cli("w2vexp.run", *args, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:]
    runs = [cli.dir / "outputs" / "sub" / f"lr={lr},train.steps=100" for lr in ("0.5", "1.0")]
    assert all(_status(d)["status"] == "finished" for d in runs)
    stamps = [(d / "run.json").stat().st_mtime_ns for d in runs]
    p = cli("w2vexp.run", *args, timeout=900)
    assert p.returncode == 0
    assert [(d / "run.json").stat().st_mtime_ns for d in runs] == stamps  # finished jobs were skipped
