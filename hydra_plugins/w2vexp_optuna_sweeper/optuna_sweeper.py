"""A Hydra Sweeper that runs an Optuna (>= 4) study whose size is `n_trials` in all.

Why our own: hydra-optuna-sweeper 1.2 pins optuna < 3 (and so SQLAlchemy < 2, which
optuna-dashboard and Python >= 3.13 cannot use), and it asks for `n_trials` *more* trials every
time the command is run. Here the study lives in a file in the sweep folder (`storage`, SQLite
by default, which optuna-dashboard opens), and:

- `n_trials` is the size of the whole study: running the same command again continues it, and
  a study that has `n_trials` finished trials runs nothing new;
- a trial left RUNNING by a process that was killed is marked FAIL and its parameters are
  proposed again, so the same run folder resumes from its last checkpoint;
- each job learns its trial through the environment (W2VEXP_OPTUNA_*: `hydra.job.env_set`,
  which every launcher applies and which does not change the run's folder name), so the
  training loop can report its periodic evaluations and be stopped early by the pruner;
- a job's outcome is read from its run folder's run.json: `finished` gives the value of
  `optimized_metric` (a PRUNED trial when run.json says it `stopped_early`), anything else a
  failed one.

Search spaces are written as in hydra-optuna-sweeper: `interval(a, b)` (float, `tag(log,
interval(a, b))` for a log scale), `range(a, b[, step])` (int, b excluded like Python),
`choice(x, y, ...)`.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from w2vexp.runs import info_or_none
from w2vexp.pruning import ENV_PRUNER, ENV_STORAGE, ENV_STUDY, ENV_TRIAL, make_pruner

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.w2vexp_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    direction: str = "maximize"  # maximize or minimize the job's optimized_metric
    study_name: Optional[str] = None
    storage: Optional[str] = None  # e.g. sqlite:///<sweep folder>/optuna.db; None: in memory
    n_trials: int = 20  # trials of the whole study, over every run of the command
    n_jobs: int = 1  # trials asked for and launched at a time (parallel with a parallel launcher)
    sampler: str = "tpe"  # tpe or random
    seed: Optional[int] = None  # the sampler's seed
    n_startup_trials: int = 10  # tpe: random trials before the model takes over
    pruner: str = "median"  # median (stop a trial below the median of earlier ones) or none
    n_warmup_steps: int = 0  # median: report steps before a trial may be pruned
    params: Dict[str, str] = field(default_factory=dict)  # key -> interval(...)/range(...)/choice(...)


ConfigStore.instance().store(group="hydra/sweeper", name="w2vexp_optuna", node=OptunaSweeperConf,
                             provider="w2vexp")


def distribution(override: Override):
    """The Optuna distribution of one search-space override."""
    import optuna.distributions as d

    value = override.value()
    if isinstance(value, ChoiceSweep):
        return d.CategoricalDistribution(list(override.sweep_iterator(transformer=lambda x: x)))
    if isinstance(value, RangeSweep):
        if all(isinstance(x, int) for x in (value.start, value.stop, value.step)):
            return d.IntDistribution(int(value.start), int(value.stop) - 1, step=int(value.step))
        return d.CategoricalDistribution(list(override.sweep_iterator(transformer=lambda x: x)))
    if isinstance(value, IntervalSweep):
        log_scale = "log" in value.tags
        if all(isinstance(x, int) for x in (value.start, value.end)):
            return d.IntDistribution(int(value.start), int(value.end), log=log_scale)
        return d.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ValueError(f"hydra.sweeper.params.{override.key_or_group}: {override.input_line!r} is not a search "
                     f"space: use interval(a, b), range(a, b) or choice(x, y, ...)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def job_outcome(run_dir: Path, metric: str):
    """(state, value) of a job from its run.json: COMPLETE with the metric, PRUNED (stopped early
    by the pruner: a finished run of fewer steps), or FAIL."""
    from optuna.trial import TrialState

    info = info_or_none(run_dir)
    if info is None:
        return TrialState.FAIL, None
    if info.get("status") == "finished" and info.get("stopped_early"):
        return TrialState.PRUNED, None
    value = (info.get("metrics") or {}).get(metric)
    if info.get("status") == "finished" and isinstance(value, (int, float)):
        return TrialState.COMPLETE, float(value)
    return TrialState.FAIL, None


class OptunaSweeper(Sweeper):
    def __init__(self, direction: str, study_name: Optional[str], storage: Optional[str], n_trials: int,
                 n_jobs: int, sampler: str, seed: Optional[int], n_startup_trials: int, pruner: str,
                 n_warmup_steps: int, params: Dict[str, str]) -> None:
        for key, value, allowed in (("direction", direction, ("maximize", "minimize")),
                                    ("sampler", sampler, SAMPLERS), ("pruner", pruner, PRUNERS)):
            if value not in allowed:
                raise ValueError(f"hydra.sweeper.{key}={value!r} is not allowed: one of {', '.join(allowed)}")
        if n_trials < 1 or n_jobs < 1:
            raise ValueError("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be >= 1")
        self.direction, self.study_name, self.storage = direction, study_name, storage
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.sampler_name, self.seed, self.n_startup_trials = sampler, seed, n_startup_trials
        self.pruner_spec = f"median:{n_warmup_steps}" if pruner == "median" else "none"
        self.params = dict(params or {})
        self.config: Optional[DictConfig] = None
        self.launcher = None
        self.job_idx = 0

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweep_dir = Path(config.hydra.sweep.dir)

    # ------------------------------------------------------------ the study
    def _study(self):
        """Create the study, or load it to continue. The sampler's seed is `seed` plus the number
        of trials the study already has: a continued study draws new values (a sampler seeded
        as before would propose the first run's values again), and is still reproducible."""
        import optuna

        study = optuna.create_study(study_name=self.study_name, storage=self.storage,
                                    pruner=make_pruner(self.pruner_spec), direction=self.direction,
                                    load_if_exists=True)
        seed = None if self.seed is None else self.seed + len(study.get_trials(deepcopy=False))
        study.sampler = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)
                         if self.sampler_name == "tpe" else optuna.samplers.RandomSampler(seed=seed))
        return study

    def _recover(self, study) -> None:
        """Trials left RUNNING by a process of this machine that no longer runs were killed:
        mark them FAIL (not counted) and propose their parameters again, so their run folders
        resume from the last checkpoint."""
        from optuna.trial import TrialState

        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            pid, host = t.user_attrs.get("pid"), t.user_attrs.get("host")
            if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
                study._storage.set_trial_user_attr(t._trial_id, "killed", True)  # no public API for another
                study.tell(t.number, state=TrialState.FAIL)                         # process's trial
                study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
                log.info(f"trial {t.number} was killed: marked failed, its parameters are tried again")

    @staticmethod
    def _counted(study) -> int:
        from optuna.trial import TrialState

        return sum(1 for t in study.get_trials(deepcopy=False)
                   if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                   or (t.state == TrialState.FAIL and not t.user_attrs.get("killed")))

    # ------------------------------------------------------------ the sweep
    def sweep(self, arguments: List[str]) -> None:
        parser = OverridesParser.create()
        space: Dict[str, Any] = {}
        for o in parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()]):
            space[o.get_key_element()] = distribution(o)
        fixed: List[str] = []
        for o in parser.parse_overrides(arguments):
            if o.is_sweep_override():
                space[o.get_key_element()] = distribution(o)
            else:
                fixed.append(o.input_line)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        study = self._study()
        self._recover(study)
        done = self._counted(study)
        if done >= self.n_trials:
            log.info(f"the study {study.study_name!r} already has {done} of {self.n_trials} trials: nothing to run")
        metric = self.config.optimized_metric  # w2vexp's schema key (default in w2vexp.config)
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = []
            for t in trials:
                t.set_user_attr("pid", os.getpid())
                t.set_user_attr("host", socket.gethostname())
                env = {ENV_STORAGE: self.storage or "", ENV_STUDY: study.study_name, ENV_TRIAL: str(t._trial_id),
                       ENV_PRUNER: self.pruner_spec}
                batch.append(tuple(fixed + [f"{k}={v}" for k, v in t.params.items()]
                                   + [f"++hydra.job.env_set.{k}='{v}'" for k, v in env.items()]))
            returns = self.launcher.launch(batch, initial_job_idx=self.job_idx)
            self.job_idx += len(returns)
            for t, ret in zip(trials, returns):
                state, value = job_outcome(Path(ret.hydra_cfg.hydra.runtime.output_dir), metric)
                study.tell(t, value, state=state)
            done = self._counted(study)
        self._report(study, metric)

    def _report(self, study, metric: str) -> None:
        from optuna.trial import TrialState

        if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            log.info("no trial finished: there is no best trial")
            return
        best = study.best_trial
        log.info(f"Best parameters: {best.params}")
        log.info(f"Best value: {best.value} ({metric}, trial {best.number})")
        results = {"name": "optuna", "best_params": best.params, "best_value": best.value,
                   "optimized_metric": metric, "trials": len(study.trials)}
        OmegaConf.save(OmegaConf.create(results), self.sweep_dir / "optimization_results.yaml")
