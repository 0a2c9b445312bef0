"""The word2vec graph: one model class whose build steps follow the CS20 lecture's interface.

    Word2Vec(model, loss, optimizer, counts, ...)  ->  _import_data, _create_embedding, _create_loss,
                               _create_optimizer, _create_summaries

`train_steps` is one compiled `tf.function` that runs up to `train.steps_per_call` training
steps inside the graph (a while loop over a block of batches), so Python is visited once per
block, not once per step. Its name scopes -- `data`, `embed`, `loss`, `optimizer` -- are what
TensorBoard's graph dashboard shows. Every random choice inside is stateless, derived from
(seed, step), so the variables and the step are the whole state.
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from .losses import SALT_INIT_EMBED, NegativeSamplingLoss, make_loss
from .optim import SGD, make_optimizer
from .tfsetup import available_cores


@tf.custom_gradient
def cbow_mean(rows, mask):
    """CBOW's hidden vector: the mean of the context rows [B, 2W, D] where mask [B, 2W, 1] is 1.

    Its gradient is word2vec's (and gensim's, cbow_mean=1), not the mean's: every context row
    receives the whole error of h, not 1/count of it (word2vec.c adds neu1e to each context
    word unscaled). With the mean's own gradient, context rows learn up to 2 * window times more
    slowly, and CBOW's vectors stay far behind gensim's."""
    h = tf.reduce_sum(rows * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)

    def grad(dh):
        return dh[:, None, :] * mask, tf.zeros_like(mask)

    return h, grad


class Word2Vec(tf.Module):
    """skip-gram or CBOW with any of the losses of `w2vexp.losses` and a sparse optimizer."""

    def __init__(self, model: str, loss, optimizer, counts: np.ndarray, *, embed_size: int, batch_size: int,
                 window: int, seed: int, lr: float, total_steps: int, steps_per_call: int, jit_compile: bool = True,
                 fused: bool = True) -> None:
        """`model`: skipgram or cbow; `loss`, `optimizer`: their config nodes (conf/loss, conf/optimizer);
        the rest plain numbers: the vector size D, examples per step, the window (CBOW's input
        width), the seed, the learning rate, the steps of the whole run and per compiled call,
        whether to compile with XLA, and whether to use the fused kernel where it applies."""
        super().__init__(name="word2vec")
        self.model_name, self.loss_cfg, self.optimizer_cfg = model, loss, optimizer
        self.embed_size, self.batch_size, self.window = embed_size, batch_size, window
        self.seed, self.lr, self.steps_per_call = seed, lr, steps_per_call
        self.jit_compile, self.fused = jit_compile, fused
        self.counts = np.asarray(counts)
        self.vocab_size = len(counts)
        self.total_steps = max(1, int(total_steps))
        self._import_data()
        self._create_embedding()
        self._create_loss()
        self._create_optimizer()
        self._create_summaries()

    # ---------------------------------------------------------------- the lecture's steps
    def _import_data(self) -> None:
        """Fix the shape of a block of batches: [steps_per_call, batch_size] (+ [2 * window] of
        context ids for CBOW, padded with the id `vocab_size`) and the number of valid steps."""
        K, B = self.steps_per_call, self.batch_size
        shape = [K, B] if self.model_name == "skipgram" else [K, B, 2 * self.window]
        self.pad_id = self.vocab_size
        self.input_spec = [tf.TensorSpec(shape, tf.int32, name="inputs"),
                           tf.TensorSpec([K, B], tf.int32, name="labels"),
                           tf.TensorSpec([], tf.int32, name="n_steps")]

    def _create_embedding(self) -> None:
        """The input embedding matrix, uniform in [-0.5/D, 0.5/D) like word2vec, from the seed.
        CBOW gets one extra all-zero row that padding ids point at (never exported)."""
        V, D = self.vocab_size, self.embed_size
        init = tf.random.stateless_uniform([V, D], seed=[self.seed, SALT_INIT_EMBED],
                                           minval=-0.5 / D, maxval=0.5 / D)
        if self.model_name == "cbow":
            init = tf.concat([init, tf.zeros([1, D])], axis=0)
        self.embed_matrix = tf.Variable(init, name="embed_matrix")
        self.step = tf.Variable(0, dtype=tf.int64, name="global_step", trainable=False)
        # the graph reads seed and lr from variables rather than baking them in as constants, so
        # runs that differ only in those (seed and lr sweeps) compile to the same program, which
        # train.compile_cache then loads from disk instead of compiling again
        self.seed_var = tf.Variable(self.seed, dtype=tf.int64, name="seed", trainable=False)
        self.lr_var = tf.Variable(float(self.lr), dtype=tf.float32, name="lr", trainable=False)

    def _create_loss(self) -> None:
        self.loss_fn = make_loss(self.loss_cfg, self.counts, self.embed_size, self.seed)
        if hasattr(self.loss_fn, "sampler"):
            self.loss_fn.sampler.seed = self.seed_var
        self.train_vars = [self.embed_matrix, *self.loss_fn.trainable_variables]

    def _create_optimizer(self) -> None:
        self.optimizer = make_optimizer(self.optimizer_cfg, self.train_vars)

    def _create_summaries(self) -> None:
        """Summaries are written by the training loop from the values `train_steps` returns
        (loss and lr per step; histograms of the matrices at checkpoints): no host sync per
        step. This builds the compiled step function whose graph TensorBoard shows."""
        self.kernel = self._fused_kernel()
        # the batch builder's C loops (w2vexp.kernels.BatchRows: the same batches) come with the kernel
        self.batch_rows = None
        if self.kernel is not None:
            from . import kernels

            self.batch_rows = kernels.batch_rows(tf)
            # 1: the kernel runs in the calling thread; 0: on all intra-op threads. Its result is
            # the same either way, so the Trainer may set it to whichever is faster here
            self.kernel_threads = tf.Variable(0, dtype=tf.int32, trainable=False, name="kernel_threads")
            self.train_steps = tf.function(self._fused_steps, input_signature=self.input_spec, autograph=False)
            return
        # TensorFlow's accidental-hit removal (ComputeAccidentalHits) has no XLA kernel
        jit = bool(self.jit_compile) and not getattr(self.loss_fn, "remove_accidental_hits", False)
        # autograph=False: the loop is written as a tf.while_loop, so tracing skips AutoGraph's
        # source conversion (~0.5 s of every run's start-up)
        self.train_steps = tf.function(self._train_steps, input_signature=self.input_spec, jit_compile=jit,
                                       autograph=False)

    # ---------------------------------------------------------------- the graph
    def learning_rate(self, step) -> tf.Tensor:
        """lr at `step`: constant, or decayed linearly to lr * min_lr_ratio like word2vec."""
        return self.optimizer.learning_rate(self.lr_var.read_value(), step, self.total_steps)

    def embed(self, inputs) -> tf.Tensor:
        """Input-side vectors h [B, D]: the centre word's row (skip-gram), or the mean of the
        context rows (CBOW, padding masked out; see `cbow_mean`)."""
        if self.model_name == "skipgram":
            return tf.gather(self.embed_matrix, inputs)
        rows = tf.gather(self.embed_matrix, inputs)  # [B, 2W, D]
        return cbow_mean(rows, tf.cast(inputs != self.pad_id, tf.float32)[..., None])

    def loss_and_grads(self, inputs, labels, step):
        """Mean loss of one batch, and the gradients (IndexedSlices for the gathered rows) of the
        summed loss divided by `optimizer.lr_batch` -- the linear scaling rule: with the
        lecture's lr_batch=128, lr=1.0 moves each example as the lecture's reduce_mean over a
        batch of 128 did, at any batch_size."""
        with tf.GradientTape() as tape:
            with tf.name_scope("embed"):
                h = self.embed(inputs)
            with tf.name_scope("loss"):
                per_example = self.loss_fn(h, labels, step)
                objective = tf.reduce_sum(per_example) / self.optimizer.lr_batch
        return tf.reduce_mean(per_example), tape.gradient(objective, self.train_vars)

    def _train_steps(self, inputs, labels, n_steps):
        """Run n_steps (<= steps_per_call) training steps; return each step's loss and lr."""
        K = self.steps_per_call

        def one_step(i, losses, lrs):
            with tf.name_scope("data"):
                x, y = inputs[i], labels[i]
            step = self.step.read_value()
            loss, grads = self.loss_and_grads(x, y, step)
            with tf.name_scope("optimizer"):
                lr = self.learning_rate(step)
                self.optimizer.apply(zip(grads, self.train_vars), lr, step)
                self.step.assign_add(1)
            return i + 1, losses.write(i, loss), lrs.write(i, lr)

        _, losses, lrs = tf.while_loop(lambda i, *_: i < n_steps, one_step,
                                       [tf.constant(0), tf.TensorArray(tf.float32, size=K),
                                        tf.TensorArray(tf.float32, size=K)])
        return losses.stack(), lrs.stack()

    # ---------------------------------------------------------------- the fused kernel
    def _fused_kernel(self):
        """The op module of `w2vexp.kernels` when this run uses it (neg with sgd and
        `train.fused`), else None (the XLA graph below)."""
        if not (self.fused and isinstance(self.loss_fn, NegativeSamplingLoss) and isinstance(self.optimizer, SGD)):
            return None
        from . import kernels

        return kernels.load(tf)

    def _noise_layout(self) -> tuple[int, int, float]:
        """(groups G, pool size S, weight of a pool word): `NegativeSamplingLoss`'s layout; with
        shared_negatives=0 every example is its own group of num_sampled words, weight 1."""
        loss = self.loss_fn
        if loss.shared:
            return loss.groups, loss.shared, loss.num_sampled / loss.shared
        return self.batch_size, loss.num_sampled, 1.0

    def _noise_and_lrs(self, step0):
        """The noise words [K, G, S] and learning rates [K] of the K steps from step0: the same
        draws of (seed, step) as the XLA graph's, in TensorFlow's own kernels (no program to
        compile: integer arithmetic gives the same bits either way)."""
        K = self.steps_per_call
        G, S, _ = self._noise_layout()
        steps = step0 + tf.range(K, dtype=tf.int64)
        noise = tf.reshape(self.loss_fn.sampler.sample_steps(steps, G * S), [K, G, S])
        return noise, self.learning_rate(steps) * tf.ones([K])

    def _fused_steps(self, inputs, labels, n_steps):
        """Run n_steps steps with the fused kernel; return each step's loss and lr. The graph
        keeps the lecture's name scopes: `data` (the block), `embed` (the input vectors), `loss`
        (the output vectors and the noise draws) and `optimizer` (the kernel's update)."""
        with tf.name_scope("data"):
            step0 = self.step.read_value()
            inputs, labels = tf.identity(inputs), tf.identity(labels)
        with tf.name_scope("embed"):
            embed = tf.identity(self.embed_matrix.handle)
        with tf.name_scope("loss"):
            weights = tf.identity(self.loss_fn.weights.handle)
            noise, lrs = self._noise_and_lrs(step0)
        with tf.name_scope("optimizer"):
            losses = self.kernel.word2_vec_neg_sgd(
                embed, weights, inputs, labels, noise, lrs / self.optimizer.lr_batch, n_steps,
                self.kernel_threads, noise_weight=self._noise_layout()[2], cores=available_cores())
            with tf.control_dependencies([losses]):
                self.step.assign_add(tf.cast(n_steps, tf.int64))
        return tf.identity(losses), lrs

    # ---------------------------------------------------------------- results
    def embeddings(self) -> np.ndarray:
        """The trained input embeddings [V, D] as float32 (the vectors a user gets)."""
        return self.embed_matrix.numpy()[: self.vocab_size]

    def checkpoint_items(self) -> dict:
        """Everything of the model a checkpoint must hold: step, variables, optimizer slots."""
        items = {"step": self.step, "embed_matrix": self.embed_matrix}
        for i, v in enumerate(self.loss_fn.trainable_variables):
            items[f"out_{i}"] = v
        for i, v in enumerate(getattr(self.optimizer, "slots", [])):
            items[f"slot_{i}"] = v
        return items
