"""`python -m w2vexp.run [overrides] [-m]`: train one run (or a sweep) in its run folder.

The Hydra entry point. Per job: validate the config (before TensorFlow is imported, so a bad
config fails in about a second), skip a finished run, refuse an existing run under
resume=never, lock the folder, prepare the corpus, then train -- resuming from the newest good
checkpoint -- and leave the run folder of SPEC section 3.
"""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from ..config import CHOICES, conf_dir, register_schema
from ..errors import RunFolderError, UserError
from ..names import run_dirname
from ..pipeline import train
from ..tfsetup import available_cores, in_process_training, preload_tensorflow
from ..rundir import RunFolder, now


if not OmegaConf.has_resolver("w2vexp_dirname"):
    OmegaConf.register_new_resolver("w2vexp_dirname", lambda overrides: run_dirname(list(overrides)))
register_schema()
log = logging.getLogger("w2vexp")


def auto_threads(hc) -> int:
    """TensorFlow threads per job when train.threads=0: all cores for a job alone or run one after
    another; cores / n_jobs with the joblib launcher; the job's cpus_per_task (else 1) with
    submitit -- so parallel jobs never oversubscribe the cores."""
    cores = available_cores()
    launcher = OmegaConf.select(hc, "launcher") if hc is not None else None
    target = str(OmegaConf.select(launcher, "_target_", default="") or "") if launcher is not None else ""
    if "joblib" in target.lower():
        n = OmegaConf.select(launcher, "n_jobs", default=None)
        n = cores if n is None or n <= 0 else int(n)
        return max(1, cores // n)
    if "submitit" in target.lower():
        c = OmegaConf.select(launcher, "cpus_per_task", default=None)
        return max(1, int(c)) if c else 1
    return cores


GROUPS = ("model", "loss", "optimizer", "data", "experiment", "hparams_search", "table1")
_RAN_SINGLE = False  # a single run (not a multirun) trained in this process


OPTIONAL_GROUPS = ("experiment", "hparams_search", "table1")  # `null` in conf/config.yaml's defaults list


def normalise_argv(argv: list) -> list:
    """`+experiment=lecture` as `experiment=lecture`: the optional groups are in the defaults
    list (so no '+' is needed), and Hydra refuses to append a group that is already there."""
    return [a[1:] if a.startswith("+") and not a.startswith("++") and a[1:].split("=", 1)[0] in OPTIONAL_GROUPS
            else a for a in argv]


def check_group_choices(argv: list) -> None:
    """Refuse an unknown config-group choice (`loss=foo`) with one line that names the key and the
    allowed values, before Hydra composes (its own message is many lines long)."""
    dirs = [conf_dir()]
    for i, a in enumerate(argv):
        if a in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(Path(argv[i + 1]))
        elif a.startswith("--config-dir="):
            dirs.append(Path(a.split("=", 1)[1]))
    for a in argv:
        if a.startswith("-") or "=" not in a:
            continue
        key, value = a.split("=", 1)
        key = key.lstrip("+~")
        if key not in GROUPS or not value or any(c in value for c in "()[]{}$*"):
            continue
        allowed = sorted({p.stem for d in dirs for p in (d / key).glob("*.yaml")})
        if not allowed:
            continue
        bad = [v for v in value.split(",") if v not in allowed and v != "null"]
        if bad:
            print(f"error: {key}={bad[0]} is not allowed: {key} is one of {', '.join(allowed)}", file=sys.stderr)
            raise SystemExit(2)
    check_choice_keys(argv)


def check_choice_keys(argv: list) -> None:
    """Refuse a key that the chosen option's schema does not have (`optimizer=sgd
    optimizer.beta1=0.5`) with one line naming it and the keys that option has."""
    chosen = {}
    for a in argv:
        key, _, value = a.partition("=")
        if key in CHOICES and value in CHOICES[key]:
            chosen[key] = value
    for a in argv:
        key = a.partition("=")[0].lstrip("+~")
        group, _, field = key.partition(".")
        if group in chosen and field and "." not in field:
            keys = CHOICES[group][chosen[group]].__dataclass_fields__
            if field not in keys:
                print(f"error: {key} is not allowed with {group}={chosen[group]}: its keys are "
                      f"{', '.join(f'{group}.{k}' for k in keys)}", file=sys.stderr)
                raise SystemExit(2)


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig):
    """Hydra task: one job of a run or a sweep."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    global _RAN_SINGLE
    _RAN_SINGLE = hc.mode == RunMode.RUN
    run_dir = Path(hc.runtime.output_dir)
    if cfg.train.threads == 0:
        cfg.train.threads = auto_threads(hc)
    try:
        info = train(cfg, run_dir, list(hc.overrides.task))
    except UserError as e:
        log.error(f"error: {e}")
        if hc.mode == RunMode.RUN:
            raise SystemExit(e.exit_code) from None
        # a multirun goes on with its other jobs; the sweep report names this one at the end
        folder = RunFolder(run_dir)
        info = folder.info() or {"overrides": list(hc.overrides.task), "name": cfg.name, "started": now()}
        if not isinstance(e, RunFolderError) and info.get("status") != "failed":
            info.update(status="failed", reason=str(e), ended=now())
            folder.write_info(info)
        return None
    return ((info or {}).get("metrics") or {}).get(cfg.optimized_metric)  # what a sweeper maximises


def main() -> None:
    """The run command: check group choices, then hand over to Hydra (`python -m w2vexp.run` and
    `w2vexp-run` come here through `w2vexp.run.main`, which starts loading TensorFlow's
    libraries before this module is imported; called directly, they start loading here).

    Once Hydra is done, everything is on disk (run.json, checkpoints, events, vectors are written
    atomically and flushed), so the process exits at once instead of spending about a second in
    TensorFlow's interpreter teardown -- a second in which a finished run would still look alive.
    Only after a single run: a multirun's launcher (joblib's worker pool) must shut down normally."""
    sys.argv[1:] = normalise_argv(sys.argv[1:])
    check_group_choices(sys.argv[1:])
    if in_process_training(sys.argv[1:]):
        preload_tensorflow()  # its libraries load while Hydra composes the config
    _hydra_main()
    if not _RAN_SINGLE:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
