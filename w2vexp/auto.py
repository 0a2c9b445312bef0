"""The rule that chooses what a user leaves to w2vexp (null in the config): the batch size, the
learning rate and negative sampling's noise layout, from the model, the loss, the optimizer
and the corpus (SPEC section 2).

- `batch_size`: with neg, 4096 examples for skip-gram, 1024 for CBOW (a CBOW example is a
  whole window, about window + 1 skip-gram pairs); with the other losses 512 (see OTHER_BATCH);
  halved until an epoch has at least `MIN_STEPS_PER_EPOCH`
  steps (small corpora need steps more than big batches), never below 128. Large batches are
  what makes a step cheap per example on a CPU: one compiled call does the gathers, matrix
  products and scattered updates of thousands of examples.
- `lr`: `LR`, by optimizer, and for sgd by loss (constant; sgd's schedule is constant).
- `loss.shared_negatives` (neg): 8 -- one pool of 8 noise words shared by a group of examples,
  weighted num_sampled / 8 so the expected objective is word2vec's (`NegativeSamplingLoss`).
- `loss.negative_groups` (neg): one pool per `GROUP_ROWS` = 512 examples of the batch, so no
  noise row takes the summed push of a whole large batch, and each group's matrix product is
  large enough for XLA's CPU backend.

Measured on wiki_sample (bench/compare_gensim.py, README "Speed"): skip-gram at 4096 with 8
groups of 8 noise words and CBOW at 1024 with 2 groups, constant lr 2.0, reach or pass gensim's
analogy, WordSim-353 and SimLex-999 at 5 epochs. Set any of these keys to override the rule.
"""
from __future__ import annotations

from .errors import UserError

BATCH = {"skipgram": 4096, "cbow": 1024}  # neg; the other losses: OTHER_BATCH
# nce and sampled_softmax share one set of noise words over the whole batch (TensorFlow's
# samplers), hs sends every example through the root of the tree and softmax through every
# row: their summed pushes grow with the batch, so they keep the moderate batch they were tuned at
OTHER_BATCH = 512
# lr per optimizer (sgd: per loss), for the mean loss of optimizer.lr_batch = 128 examples
LR = {"sgd": {"neg": 2.0, "nce": 1.0, "sampled_softmax": 1.0, "softmax": 1.0, "hs": 1.0},
      "adagrad": 0.5, "adam": 0.01}
MIN_BATCH = 128
MIN_STEPS_PER_EPOCH = 200
SHARED_NEGATIVES = 8
GROUP_ROWS = 512


def batch_size(model: str, loss: str, examples_per_epoch: float) -> int:
    """The batch size for `model` and `loss` on a corpus giving this many examples per epoch."""
    b = BATCH[model] if loss == "neg" else OTHER_BATCH
    while b > MIN_BATCH and examples_per_epoch / b < MIN_STEPS_PER_EPOCH:
        b //= 2
    return b


def resolve(cfg, examples_per_epoch: float) -> dict:
    """Fill the null keys of `cfg` by the rule above (in place); returns what was chosen."""
    chosen = {}
    if cfg.batch_size is None:
        cfg.batch_size = chosen["batch_size"] = batch_size(cfg.model.name, cfg.loss.name, examples_per_epoch)
    if cfg.lr is None:
        lr = LR[cfg.optimizer.name]
        cfg.lr = chosen["lr"] = lr[cfg.loss.name] if isinstance(lr, dict) else lr
    if cfg.loss.name == "neg":
        if cfg.loss.shared_negatives is None:
            cfg.loss.shared_negatives = chosen["loss.shared_negatives"] = SHARED_NEGATIVES
        if cfg.loss.negative_groups is None:
            groups = max(1, cfg.batch_size // GROUP_ROWS) if cfg.loss.shared_negatives else 1
            while cfg.batch_size % groups:
                groups -= 1
            cfg.loss.negative_groups = chosen["loss.negative_groups"] = groups
        elif cfg.batch_size % cfg.loss.negative_groups:
            raise UserError(f"loss.negative_groups={cfg.loss.negative_groups} is not allowed: it must divide "
                            f"batch_size ({cfg.batch_size}); set both, or leave loss.negative_groups null")
    return chosen
