"""The rule that chooses what a user leaves to w2vexp (null in the config): the batch size, the
learning rate and negative sampling's noise layout, from the model, the loss, the optimizer
and the corpus (SPEC section 2).

- `batch_size`: with neg, 4096 examples for skip-gram, 1024 for CBOW (a CBOW example is a
  whole window, about window + 1 skip-gram pairs); with the other losses 512 (see OTHER_BATCH);
  halved until an epoch has at least `MIN_STEPS_PER_EPOCH`
  steps (small corpora need steps more than big batches), never below 128. Large batches are
  what makes a step cheap per example on a CPU: one compiled call does the gathers, matrix
  products and scattered updates of thousands of examples.
- `lr`: `LR`, by optimizer, for sgd by loss and for neg by model (constant: sgd's schedule is
  constant). On wiki_sample (2.6k steps of 4096) skip-gram liked 2.0 best, on 5M tokens of
  docstrings (29k steps) 1.25-1.5. A constant step leaves noise in proportion to it that a
  longer run can afford to trade for a smaller step, so skip-gram's lr (sgd, neg, constant
  schedule) is `LR` up to `LONG_RUN_STEPS` steps and LR * (LONG_RUN_STEPS / steps) **
  `LONG_RUN_POWER` beyond: wiki_sample keeps 1.75; the docstrings get 1.18 (analogies 4.66 ->
  5.35 % at 1.25, WS-353 0.233 -> 0.261, SimLex 0.004 -> 0.006, 3 seeds; gensim 5.33 %, 0.250,
  -0.021), their first half (14k steps) 1.35 (3.56 -> 3.71 %, 0.279 -> 0.275; gensim 3.96 %,
  0.267); 1.25 on wiki_sample loses (1.47 % against 2.31 %), one constant fits no two of
  them. CBOW, whose docstring runs already beat gensim's at 19k steps, keeps its lr. Those corpora were
  subsampled (sample 1e-3), which leaves the most frequent word (often UNK) a small share of the
  examples: 1.4 % on wiki_sample, 1.1 % on docs, 2.0 % with experiment=quick's 5000 words, 3.0 %
  with 2000 words, all of which train well. Without subsampling that word takes a far larger
  share of every step's summed push (7.8 % of wiki_sample, where lr 1.75 diverged), so sgd's
  lr is scaled by `MAX_SHARE` / that share when the share is larger.
- `loss.shared_negatives` (neg): 8, or num_sampled when that is larger -- one pool of noise
  words shared by a group of examples, each weighted num_sampled / shared_negatives so the
  expected objective is word2vec's (`NegativeSamplingLoss`). Never more than 1: a noise word
  weighted num_sampled / 8 with num_sampled = 48 took pushes large enough to diverge.
- `loss.negative_groups` (neg): one pool per `GROUP_ROWS` examples of the batch -- 256 for
  skip-gram, 128 for CBOW -- so no noise row takes the summed push of a whole large batch
  (skip-gram: 256 rows learned better than 512 on both corpora, at the same speed; CBOW, whose
  example is a whole window: 128 rows against 256, 6 seeds each, docs WS-353 0.284 -> 0.304
  and analogies 8.9 -> 9.4 %, wiki_sample analogies 0.67 -> 0.80 %, WS-353 0.166 -> 0.172,
  SimLex 0.121 -> 0.110, no slower; a pool of 16 words per 256 rows learned as well and cost
  12 % of docs' time).

The figures behind the rule, and what it gives against gensim, are in the README's "Speed".
Set any of these keys to override the rule.
"""
from __future__ import annotations

import math

from .errors import UserError

BATCH = {"skipgram": 4096, "cbow": 1024}  # neg; the other losses: OTHER_BATCH
# nce and sampled_softmax share one set of noise words over the whole batch (TensorFlow's
# samplers), hs sends every example through the root of the tree and softmax through every
# row: their summed pushes grow with the batch, so they keep the moderate batch they were tuned at
OTHER_BATCH = 512
# lr per optimizer, for sgd per loss, for sgd with neg per model; for the mean loss of
# optimizer.lr_batch = 128 examples
LR = {"sgd": {"neg": {"skipgram": 1.75, "cbow": 2.0}, "nce": 1.0, "sampled_softmax": 1.0, "softmax": 1.0, "hs": 1.0},
      "adagrad": 0.5, "adam": 0.01}
MAX_SHARE = 0.031  # the largest share of the examples one word takes at which LR holds (see above)
LONG_RUN_STEPS = 4000  # skip-gram (sgd, neg, constant lr): LR up to this many steps, then smaller
LONG_RUN_POWER = 0.2  # ... as (LONG_RUN_STEPS / steps) ** LONG_RUN_POWER
MIN_BATCH = 128
MIN_STEPS_PER_EPOCH = 200
SHARED_NEGATIVES = 8
GROUP_ROWS = {"skipgram": 256, "cbow": 128}  # neg: examples per pool of shared noise words


def batch_size(model: str, loss: str, examples_per_epoch: float) -> int:
    """The batch size for `model` and `loss` on a corpus giving this many examples per epoch."""
    b = BATCH[model] if loss == "neg" else OTHER_BATCH
    while b > MIN_BATCH and examples_per_epoch / b < MIN_STEPS_PER_EPOCH:
        b //= 2
    return b


def learning_rate(model: str, loss: str, optimizer: str) -> float:
    """The lr of `LR` for this model, loss and optimizer."""
    lr = LR[optimizer]
    lr = lr[loss] if isinstance(lr, dict) else lr
    return lr[model] if isinstance(lr, dict) else lr


def total_steps(train, examples_per_epoch: float, batch_size: int) -> int:
    """The run's steps: train.steps, else train.epochs of the corpus's expected examples."""
    if train.steps is not None:
        return int(train.steps)
    return max(1, math.ceil(train.epochs * examples_per_epoch / batch_size))


def resolve(cfg, examples_per_epoch: float, max_share: float = 0.0) -> dict:
    """Fill the null keys of `cfg` by the rule above (in place); returns what was chosen.
    `max_share`: the share of the (subsampled) corpus that its most frequent word makes up."""
    chosen = {}
    if cfg.batch_size is None:
        cfg.batch_size = chosen["batch_size"] = batch_size(cfg.model.name, cfg.loss.name, examples_per_epoch)
    if cfg.lr is None:
        lr = learning_rate(cfg.model.name, cfg.loss.name, cfg.optimizer.name)
        if cfg.optimizer.name == "sgd" and max_share > MAX_SHARE:
            lr *= MAX_SHARE / max_share
        steps = total_steps(cfg.train, examples_per_epoch, cfg.batch_size)
        if ((cfg.optimizer.name, cfg.loss.name, cfg.model.name, cfg.optimizer.schedule) ==
                ("sgd", "neg", "skipgram", "constant") and steps > LONG_RUN_STEPS):
            lr *= (LONG_RUN_STEPS / steps) ** LONG_RUN_POWER
        cfg.lr = chosen["lr"] = round(lr, 4)
    if cfg.loss.name == "neg":
        if cfg.loss.shared_negatives is None:
            cfg.loss.shared_negatives = chosen["loss.shared_negatives"] = max(SHARED_NEGATIVES, cfg.loss.num_sampled)
        if cfg.loss.negative_groups is None:
            groups = max(1, cfg.batch_size // GROUP_ROWS[cfg.model.name]) if cfg.loss.shared_negatives else 1
            while cfg.batch_size % groups:
                groups -= 1
            cfg.loss.negative_groups = chosen["loss.negative_groups"] = groups
        elif cfg.batch_size % cfg.loss.negative_groups:
            raise UserError(f"loss.negative_groups={cfg.loss.negative_groups} is not allowed: it must divide "
                            f"batch_size ({cfg.batch_size}); set both, or leave loss.negative_groups null")
    return chosen
