"""Typed configuration: the schema of SPEC section 2, where `conf/` lives, and range checks.

Hydra composes `conf/config.yaml` on top of the dataclasses below (registered in Hydra's
ConfigStore as `w2vexp_schema`), so a wrong type or an unknown key is rejected by OmegaConf at
composition time. `validate()` adds the range checks a type cannot express. Nothing here imports
TensorFlow, so a bad config fails in about a second.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import MISSING

from .errors import UserError

SCHEDULES = ("linear", "constant")
RESUME = ("auto", "never")
OPTIMIZED_METRICS = ("analogy_acc", "ws353", "simlex")  # the headline metrics of w2vexp.evaluate


# ---------------------------------------------------------------- the schema
# Types and documentation only: every value lives in conf/ (YAML), once. A dataclass per choice
# of a group, so a key of another choice (optimizer=sgd optimizer.beta1=0.5) is an error.


@dataclass
class ModelConfig:
    name: str = MISSING  # skipgram: the centre word predicts each context word; cbow: the reverse


@dataclass
class LossConfig:
    name: str = MISSING  # softmax (full) and hs (hierarchical softmax over a Huffman tree)


@dataclass
class SampledLossConfig(LossConfig):
    num_sampled: int = MISSING  # noise / negative samples per positive (word2vec's `negative`)
    ns_exponent: float = MISSING  # noise drawn from unigram counts ** ns_exponent (word2vec: 0.75)


@dataclass
class NCEConfig(SampledLossConfig):  # nce, sampled_softmax: TensorFlow's tf.nn losses
    remove_accidental_hits: bool = MISSING  # drop noise samples equal to the target


@dataclass
class NegConfig(SampledLossConfig):  # neg: Mikolov et al.'s negative sampling
    # one pool of this many noise words per group of examples (0: num_sampled per example, as
    # word2vec.c); null: chosen by w2vexp.auto
    shared_negatives: Optional[int] = MISSING
    # with shared_negatives: a separate pool for each of this many equal parts of a batch; null:
    # chosen by w2vexp.auto
    negative_groups: Optional[int] = MISSING


@dataclass
class OptimizerConfig:  # sgd
    name: str = MISSING
    schedule: str = MISSING  # constant, or linear: lr decays to lr * min_lr_ratio (word2vec's alpha)
    min_lr_ratio: float = MISSING
    lr_batch: int = MISSING  # lr is the step for the mean loss of this many examples (any batch_size)


@dataclass
class AdagradConfig(OptimizerConfig):
    initial_accumulator: float = MISSING
    epsilon: float = MISSING


@dataclass
class AdamConfig(OptimizerConfig):  # lazy Adam: only the rows a batch touched move
    beta1: float = MISSING
    beta2: float = MISSING
    epsilon: float = MISSING


@dataclass
class DataConfig:  # wiki_sample: the English Wikipedia text gensim ships
    name: str = MISSING
    cache_dir: str = MISSING  # prepared corpora and compiled programs ($W2VEXP_CACHE_DIR)


@dataclass
class FileDataConfig(DataConfig):
    path: Optional[str] = MISSING  # any UTF-8 text file


@dataclass
class Text8DataConfig(DataConfig):
    url: str = MISSING  # where to download the zip from
    size: Optional[int] = MISSING  # its expected size in bytes
    sha256: Optional[str] = MISSING  # its expected sha256


# the choices of each group (conf/<group>/<choice>.yaml holds the values) and their schemas:
# the one list of names, which validation, losses.py and optim.py read
CHOICES = {
    "model": {"skipgram": ModelConfig, "cbow": ModelConfig},
    "loss": {"nce": NCEConfig, "neg": NegConfig, "sampled_softmax": NCEConfig, "softmax": LossConfig,
             "hs": LossConfig},
    "optimizer": {"sgd": OptimizerConfig, "adagrad": AdagradConfig, "adam": AdamConfig},
    "data": {"wiki_sample": DataConfig, "text8": Text8DataConfig, "file": FileDataConfig},
}
MODELS, LOSSES, OPTIMIZERS, DATASETS = (tuple(CHOICES[g]) for g in ("model", "loss", "optimizer", "data"))


@dataclass
class TrainConfig:
    steps: Optional[int] = MISSING  # wins over epochs when set
    epochs: float = MISSING
    checkpoint_every: Optional[int] = MISSING  # in steps; None: every checkpoint_seconds of wall time
    checkpoint_seconds: float = MISSING  # the automatic checkpoint cadence
    eval_every: Optional[int] = MISSING  # in steps (0: only at the end); None: automatic, see eval_seconds
    eval_seconds: float = MISSING  # automatic evaluation: at least this far apart, and at most 5% of the time
    log_every: int = MISSING
    keep_checkpoints: int = MISSING
    steps_per_call: int = MISSING  # training steps run inside one compiled graph call
    jit_compile: bool = MISSING
    fused: bool = MISSING  # neg with sgd: w2vexp's fused kernel on all threads (w2vexp.kernels); false: XLA graph
    threads: int = MISSING  # TensorFlow intra-op threads; 0: all cores (shared fairly with parallel jobs)
    chunk_tokens: int = MISSING  # corpus tokens turned into examples (and shuffled) at a time
    histogram_every: int = MISSING  # 0: at every checkpoint
    compile_cache: bool = MISSING  # keep XLA-compiled step programs under data.cache_dir/xla for later runs


@dataclass
class Config:
    model: Any = MISSING
    loss: Any = MISSING
    optimizer: Any = MISSING
    data: Any = MISSING
    train: TrainConfig = field(default_factory=TrainConfig)
    lr: Optional[float] = MISSING  # None: chosen for the loss and the optimizer by w2vexp.auto
    seed: int = MISSING
    name: str = MISSING
    embed_size: int = MISSING
    batch_size: Optional[int] = MISSING  # None: chosen from the model and the corpus by w2vexp.auto
    window: int = MISSING
    vocab_size: int = MISSING
    min_count: int = MISSING
    keep_unk: bool = MISSING
    subsample: float = MISSING
    deterministic: bool = MISSING
    resume: str = MISSING
    probe_words: List[str] = MISSING
    optimized_metric: str = MISSING  # what a run returns to a sweeper (hparams_search) to maximise


def register_schema() -> None:
    """Register the dataclasses with Hydra's ConfigStore so `conf/config.yaml` is typed."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    cs.store(name="w2vexp_schema", node=Config)
    for group, choices in CHOICES.items():  # conf/<group>/<choice>.yaml: defaults [<choice>_schema]
        for choice, schema in choices.items():
            cs.store(group=group, name=f"{choice}_schema", node=schema)
    # hydra/sweeper=w2vexp_optuna (hparams_search=optuna): Hydra's plugin scan finds it in an
    # installed package, but an editable install hides namespace packages from that scan, so it
    # is registered here (Plugins.register is Hydra's API for plugins it did not scan)
    from hydra.core.plugins import Plugins
    from hydra_plugins.w2vexp_optuna_sweeper.optuna_sweeper import OptunaSweeper

    Plugins.instance().register(OptunaSweeper)


def compose(overrides: tuple | list = ()) -> Any:
    """The config a user gets from `python -m w2vexp.run OVERRIDES` (conf/config.yaml composed by
    Hydra, without its `hydra` node): what tests, the bench and tools build runs from, so they
    never see other defaults than a user does."""
    from hydra import compose as hydra_compose, initialize_config_dir

    register_schema()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose("config", overrides=list(overrides))


def typed(saved: Any) -> Any:
    """A saved config (a run's .hydra/config.yaml) typed by the schema of each of its choices."""
    from omegaconf import OmegaConf

    nodes = {g: OmegaConf.structured(CHOICES[g][saved[g]["name"]]) for g in CHOICES
             if saved.get(g, {}).get("name") in CHOICES[g]}
    cfg = OmegaConf.merge(OmegaConf.structured(Config), nodes, saved)
    OmegaConf.set_struct(cfg, True)
    return cfg


def conf_dir() -> Path:
    """The `conf/` folder: next to the package in a checkout, or shipped inside it when installed."""
    pkg = Path(__file__).resolve().parent
    for candidate in (pkg.parent / "conf", pkg / "_conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise UserError(f"cannot find w2vexp's conf/ folder next to {pkg} (broken install?)")


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise UserError(f"{key}={value!r} is not allowed: {allowed}")


def validate(cfg: Any) -> None:
    """Range checks that types alone cannot express; raises UserError naming the key."""
    _check(cfg.model.name in MODELS, "model", cfg.model.name, f"one of {', '.join(MODELS)}")
    _check(cfg.loss.name in LOSSES, "loss", cfg.loss.name, f"one of {', '.join(LOSSES)}")
    _check(cfg.optimizer.name in OPTIMIZERS, "optimizer", cfg.optimizer.name, f"one of {', '.join(OPTIMIZERS)}")
    _check(cfg.data.name in DATASETS, "data", cfg.data.name, f"one of {', '.join(DATASETS)}")
    _check(cfg.lr is None or (cfg.lr > 0 and math.isfinite(cfg.lr)), "lr", cfg.lr,
           "must be a number > 0 (or null: chosen for the loss and optimizer)")
    for key in ("embed_size", "window", "vocab_size", "min_count"):
        _check(getattr(cfg, key) >= 1, key, getattr(cfg, key), "must be an integer >= 1")
    _check(cfg.batch_size is None or cfg.batch_size >= 1, "batch_size", cfg.batch_size,
           "must be an integer >= 1 (or null: chosen from the model and the corpus)")
    _check(cfg.vocab_size >= 2, "vocab_size", cfg.vocab_size, "must be >= 2")
    _check(0 <= cfg.subsample < 1, "subsample", cfg.subsample, "must be in [0, 1) (0 turns subsampling off)")
    _check(cfg.resume in RESUME, "resume", cfg.resume, "auto or never")
    _check(cfg.optimized_metric in OPTIMIZED_METRICS, "optimized_metric", cfg.optimized_metric,
           f"one of {', '.join(OPTIMIZED_METRICS)}")
    _check(cfg.seed >= 0, "seed", cfg.seed, "must be an integer >= 0")
    _check(bool(cfg.name) and "/" not in cfg.name and cfg.name not in (".", ".."), "name", cfg.name,
           "a non-empty folder name without '/'")
    loss = cfg.loss  # each check applies where the loss's schema has the key
    if "num_sampled" in loss:
        _check(1 <= loss.num_sampled < cfg.vocab_size, "loss.num_sampled", loss.num_sampled,
               f"must be >= 1 and < vocab_size ({cfg.vocab_size})")
        _check(loss.ns_exponent >= 0, "loss.ns_exponent", loss.ns_exponent, "must be >= 0")
    if "shared_negatives" in loss:
        _check(loss.shared_negatives is None or loss.shared_negatives >= 0, "loss.shared_negatives",
               loss.shared_negatives, "must be >= 0 (0: per example; null: automatic)")
        _check(loss.negative_groups is None or (loss.negative_groups >= 1 and (
            cfg.batch_size is None or cfg.batch_size % loss.negative_groups == 0)), "loss.negative_groups",
               loss.negative_groups, f"must be >= 1 and divide batch_size ({cfg.batch_size}) (or null: automatic)")
    opt = cfg.optimizer
    _check(opt.schedule in SCHEDULES, "optimizer.schedule", opt.schedule, f"one of {', '.join(SCHEDULES)}")
    _check(0 <= opt.min_lr_ratio <= 1, "optimizer.min_lr_ratio", opt.min_lr_ratio, "must be in [0, 1]")
    _check(opt.lr_batch >= 1, "optimizer.lr_batch", opt.lr_batch, "must be an integer >= 1")
    for key in ("beta1", "beta2"):
        if key in opt:
            _check(0 <= opt[key] < 1, f"optimizer.{key}", opt[key], "must be in [0, 1)")
    if "epsilon" in opt:
        _check(opt.epsilon > 0, "optimizer.epsilon", opt.epsilon, "must be > 0")
    if "initial_accumulator" in opt:
        _check(opt.initial_accumulator >= 0, "optimizer.initial_accumulator", opt.initial_accumulator, "must be >= 0")
    t = cfg.train
    if t.steps is not None:
        _check(t.steps >= 1, "train.steps", t.steps, "must be >= 1 (or null to use train.epochs)")
    else:
        _check(t.epochs > 0, "train.epochs", t.epochs, "must be > 0")
    _check(t.checkpoint_every is None or t.checkpoint_every >= 1, "train.checkpoint_every", t.checkpoint_every,
           "must be >= 1 (or null: every train.checkpoint_seconds)")
    _check(t.checkpoint_seconds > 0, "train.checkpoint_seconds", t.checkpoint_seconds, "must be > 0")
    _check(t.eval_seconds > 0, "train.eval_seconds", t.eval_seconds, "must be > 0")
    _check(t.log_every >= 1, "train.log_every", t.log_every, "must be >= 1")
    _check(t.eval_every is None or t.eval_every >= 0, "train.eval_every", t.eval_every,
           "must be >= 0 (0: only at the end; null: automatic)")
    _check(t.keep_checkpoints >= 2, "train.keep_checkpoints", t.keep_checkpoints,
           "must be >= 2 (a corrupt latest checkpoint falls back to the one before)")
    _check(t.steps_per_call >= 1, "train.steps_per_call", t.steps_per_call, "must be >= 1")
    _check(t.threads >= 0, "train.threads", t.threads, "must be >= 0 (0: automatic)")
    _check(t.chunk_tokens >= 1000, "train.chunk_tokens", t.chunk_tokens, "must be >= 1000")
    _check(t.histogram_every >= 0, "train.histogram_every", t.histogram_every, "must be >= 0")
    if cfg.data.name == "file":
        _check(bool(cfg.data.path), "data.path", cfg.data.path, "data=file needs data.path=/path/to/text.txt")
