"""A run's periodic evaluations reported to the Optuna trial it belongs to (SPEC section 9).

`hparams_search=optuna` runs w2vexp's own Hydra sweeper (hydra_plugins/w2vexp_optuna_sweeper),
which tells each job its study and trial through the environment (`hydra.job.env_set`, applied
by every launcher). At every periodic evaluation the training loop reports the value of
`optimized_metric` to that trial and asks the study's pruner whether the trial is hopeless; if
the run stops early there, like early stopping: a checkpoint, the evaluation it stopped at, its
exports, and run.json status `finished` with `stopped_early` saying why (the sweeper tells Optuna
the trial was pruned). Outside a search nothing here is used. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import os
from typing import Optional

ENV_STORAGE = "W2VEXP_OPTUNA_STORAGE"
ENV_STUDY = "W2VEXP_OPTUNA_STUDY"
ENV_TRIAL = "W2VEXP_OPTUNA_TRIAL"
ENV_PRUNER = "W2VEXP_OPTUNA_PRUNER"


def make_pruner(spec: str):
    """The pruner of a spec `median:<n_warmup_steps>` or `none`."""
    import optuna

    name, _, warmup = spec.partition(":")
    if name == "median":
        return optuna.pruners.MedianPruner(n_warmup_steps=int(warmup or 0))
    return optuna.pruners.NopPruner()


class TrialReporter:
    """Reports one metric of each evaluation to an Optuna trial; says when to stop."""

    def __init__(self, storage: str, study: str, trial_id: int, pruner: str, metric: str) -> None:
        self.storage, self.study, self.trial_id, self.pruner, self.metric = storage, study, trial_id, pruner, metric

    def __call__(self, step: int, metrics: dict) -> Optional[str]:
        """Report the metric at `step`; the reason to stop the run, or None to go on."""
        import optuna

        value = metrics.get(self.metric)
        if not isinstance(value, (int, float)):
            return None
        study = optuna.load_study(study_name=self.study, storage=self.storage, pruner=make_pruner(self.pruner))
        trial = optuna.trial.Trial(study, self.trial_id)
        trial.report(float(value), step)
        if trial.should_prune():
            return f"stopped by Optuna's pruner at step {step} ({self.metric} {value:.4g})"
        return None


def reporter_from_env(metric: str) -> Optional[TrialReporter]:
    """The reporter of the trial this job runs for, or None outside an Optuna search."""
    storage, trial = os.environ.get(ENV_STORAGE), os.environ.get(ENV_TRIAL)
    if not storage or not trial:
        return None
    return TrialReporter(storage, os.environ.get(ENV_STUDY, ""), int(trial), os.environ.get(ENV_PRUNER, "none"),
                         metric)
