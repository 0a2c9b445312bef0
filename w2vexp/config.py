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

from .errors import UserError

MODELS = ("skipgram", "cbow")
LOSSES = ("nce", "neg", "sampled_softmax", "softmax", "hs")
OPTIMIZERS = ("sgd", "adagrad", "adam")
DATASETS = ("wiki_sample", "text8", "file")
SCHEDULES = ("linear", "constant")
RESUME = ("auto", "never")
OPTIMIZED_METRICS = ("analogy_acc", "ws353", "simlex")  # the headline metrics of w2vexp.evaluate


@dataclass
class ModelConfig:
    name: str = "skipgram"


@dataclass
class LossConfig:
    name: str = "nce"
    num_sampled: int = 64  # noise / negative samples per positive (nce, neg, sampled_softmax)
    ns_exponent: float = 0.75  # the noise distribution is unigram counts ** ns_exponent
    remove_accidental_hits: bool = False  # nce / sampled_softmax: drop noise samples equal to the target
    # neg: one pool of this many noise words per group of examples (0: num_sampled per example, as
    # word2vec.c); None: chosen by w2vexp.auto
    shared_negatives: Optional[int] = None
    # neg with shared_negatives: a separate pool for each of this many equal parts of a batch;
    # None: chosen by w2vexp.auto
    negative_groups: Optional[int] = None


@dataclass
class OptimizerConfig:
    name: str = "sgd"
    schedule: str = "linear"  # linear: decay lr to lr * min_lr_ratio over training (word2vec); constant
    lr_batch: int = 128  # lr is the step for the mean loss of this many examples (scaled to batch_size)
    min_lr_ratio: float = 1e-4
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    epsilon: float = 1e-7  # adam, adagrad
    initial_accumulator: float = 0.1  # adagrad


@dataclass
class DataConfig:
    name: str = "wiki_sample"
    path: Optional[str] = None  # data=file: any UTF-8 text file
    url: Optional[str] = None  # data=text8: where to download the zip from
    size: Optional[int] = None  # data=text8: expected size of the zip in bytes
    sha256: Optional[str] = None  # data=text8: expected sha256 of the zip
    cache_dir: str = "~/.cache/w2vexp"


@dataclass
class TrainConfig:
    steps: Optional[int] = None  # wins over epochs when set
    epochs: float = 1.0
    checkpoint_every: Optional[int] = None  # in steps; None: every checkpoint_seconds of wall time
    checkpoint_seconds: float = 60.0  # the automatic checkpoint cadence
    eval_every: Optional[int] = None  # in steps (0: only at the end); None: automatic, see eval_seconds
    eval_seconds: float = 30.0  # automatic evaluation: at least this far apart, and at most 5% of the time
    log_every: int = 100
    keep_checkpoints: int = 3
    steps_per_call: int = 50  # training steps run inside one compiled graph call
    jit_compile: bool = True
    fused: bool = True  # neg with sgd: w2vexp's fused kernel on all threads (w2vexp.kernels); false: XLA graph
    threads: int = 0  # TensorFlow intra-op threads; 0: all cores (shared fairly with parallel jobs)
    chunk_tokens: int = 1_000_000  # corpus tokens turned into examples (and shuffled) at a time
    histogram_every: int = 0  # 0: at every checkpoint
    compile_cache: bool = True  # keep XLA-compiled step programs under data.cache_dir/xla for later runs


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    lr: Optional[float] = None  # None: chosen for the loss and the optimizer by w2vexp.auto
    seed: int = 42
    name: str = "default"
    embed_size: int = 128
    batch_size: Optional[int] = None  # None: chosen from the model and the corpus by w2vexp.auto
    window: int = 1
    vocab_size: int = 50000
    min_count: int = 5
    keep_unk: bool = True
    subsample: float = 1e-3
    deterministic: bool = True
    resume: str = "auto"
    probe_words: List[str] = field(default_factory=lambda: ["three", "france", "king", "war", "music", "city"])
    optimized_metric: str = "analogy_acc"  # what a run returns to a sweeper (hparams_search) to maximise


def register_schema() -> None:
    """Register the dataclasses with Hydra's ConfigStore so `conf/config.yaml` is typed."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="w2vexp_schema", node=Config)
    # hydra/sweeper=w2vexp_optuna (hparams_search=optuna): Hydra's plugin scan finds it in an
    # installed package, but an editable install hides namespace packages from that scan, so it
    # is registered here (Plugins.register is Hydra's API for plugins it did not scan)
    from hydra.core.plugins import Plugins
    from hydra_plugins.w2vexp_optuna_sweeper.optuna_sweeper import OptunaSweeper

    Plugins.instance().register(OptunaSweeper)


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
    loss = cfg.loss
    if loss.name in ("nce", "neg", "sampled_softmax"):
        _check(1 <= loss.num_sampled < cfg.vocab_size, "loss.num_sampled", loss.num_sampled,
               f"must be >= 1 and < vocab_size ({cfg.vocab_size})")
    _check(loss.shared_negatives is None or loss.shared_negatives >= 0, "loss.shared_negatives",
           loss.shared_negatives, "must be >= 0 (0: per example; null: automatic)")
    _check(loss.negative_groups is None or (loss.negative_groups >= 1 and (
        cfg.batch_size is None or cfg.batch_size % loss.negative_groups == 0)), "loss.negative_groups",
           loss.negative_groups, f"must be >= 1 and divide batch_size ({cfg.batch_size}) (or null: automatic)")
    _check(loss.ns_exponent >= 0, "loss.ns_exponent", loss.ns_exponent, "must be >= 0")
    opt = cfg.optimizer
    _check(opt.schedule in SCHEDULES, "optimizer.schedule", opt.schedule, f"one of {', '.join(SCHEDULES)}")
    _check(0 <= opt.min_lr_ratio <= 1, "optimizer.min_lr_ratio", opt.min_lr_ratio, "must be in [0, 1]")
    _check(0 <= opt.beta1 < 1, "optimizer.beta1", opt.beta1, "must be in [0, 1)")
    _check(0 <= opt.beta2 < 1, "optimizer.beta2", opt.beta2, "must be in [0, 1)")
    _check(opt.lr_batch >= 1, "optimizer.lr_batch", opt.lr_batch, "must be an integer >= 1")
    _check(opt.epsilon > 0, "optimizer.epsilon", opt.epsilon, "must be > 0")
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
