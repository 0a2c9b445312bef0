"""One run, start to finish: the sequence every caller shares (`python -m w2vexp.run`, its sweeps,
`w2vexp.reproduce`, the tests).

    train(cfg, run_dir, overrides)
      validate -> lock the run folder -> fork the vectors writer ->
      prepare the corpus (while TensorFlow imports) -> configure TensorFlow -> build the Trainer ->
      restore the newest good checkpoint -> train -> export vectors and projector -> run.json

Skips a finished run, refuses an existing run under resume=never, and records in run.json what
happened (status, reason, where the time went).
"""
from __future__ import annotations

import functools
import logging
import os
import time
from pathlib import Path

from omegaconf import DictConfig

from .config import validate
from .errors import RunFolderError, TrainingFailed, UserError
from .rundir import RunFolder, git_commit, now, process_seconds, versions

log = logging.getLogger("w2vexp")


def _show(path: Path) -> str:
    try:
        rel = os.path.relpath(path)
        return rel if not rel.startswith("..") else str(path)
    except ValueError:
        return str(path)


def train(cfg: DictConfig, run_dir: Path, overrides: list) -> dict:
    """Train (or resume, or skip) the run of `cfg` in `run_dir`; returns its run.json."""
    validate(cfg)
    folder = RunFolder(run_dir)
    status = folder.status()
    if cfg.resume == "never" and folder.holds_run():
        raise RunFolderError(f"run folder {_show(run_dir)} already holds a run (status {status or 'unknown'}); "
                             f"resume=never refuses to touch it: choose another name= or drop resume=never")
    if status == "finished":
        log.info(f"run {_show(run_dir)} is already finished: skipping it (nothing to do)")
        return folder.info()
    folder.lock()
    from .artifacts import VectorsWriter

    writer = VectorsWriter.start()  # forked now, before TensorFlow is imported
    try:
        return _train_locked(cfg, folder, overrides, writer)
    finally:
        if writer is not None:
            writer.close()
        folder.unlock()


def time_spent(prepare: float, parts: dict) -> dict:
    """Where this process's wall time went (run.json "time", seconds): preparing the corpus
    (TensorFlow's import runs meanwhile when the corpus is prepared in a child process), waiting
    for batches (batch building that did not overlap training), the training loop, evaluations,
    checkpoints, summaries, exports -- each with its own set-up: reading the evaluation data,
    creating the checkpoint manager and restoring, opening the event file and writing the graph
    and HParams -- and start-up, the rest: Python, Hydra and TensorFlow starting, building,
    tracing and compiling the graph."""
    total = process_seconds()
    out = {"prepare": prepare, **{k: parts.get(k, 0.0) for k in ("batches", "train_loop", "evaluate", "checkpoints",
                                                                  "summaries", "exports")}}
    out["startup"] = max(0.0, total - sum(out.values()))
    out["total"] = total
    return {k: round(v, 3) for k, v in out.items()}


def vocab_of(cfg: DictConfig) -> dict:
    """The vocabulary settings `w2vexp.data.prepare_corpus` takes."""
    return {"vocab_size": cfg.vocab_size, "min_count": cfg.min_count, "keep_unk": cfg.keep_unk}


def build(cfg: DictConfig, corpus) -> tuple:
    """The parts of a run, each from its own config node and plain numbers: the keys w2vexp.auto
    chooses (filled into cfg, returned as a dict), the model, its batch stream and the number of
    steps (train.steps, else train.epochs of the corpus's expected examples)."""
    from . import auto
    from .batches import ExampleStream, keep_probabilities
    from .model import Word2Vec

    epoch_examples = ExampleStream.expected_examples(corpus.ids, corpus.counts, cfg.model.name, cfg.window,
                                                     cfg.subsample)
    kept = corpus.counts * keep_probabilities(corpus.counts, cfg.subsample)
    chosen = auto.resolve(cfg, epoch_examples, max_share=float(kept.max() / max(kept.sum(), 1e-12)))
    t = cfg.train
    total_steps = auto.total_steps(t, epoch_examples, cfg.batch_size)
    model = Word2Vec(cfg.model.name, cfg.loss, cfg.optimizer, corpus.counts, embed_size=cfg.embed_size,
                     batch_size=cfg.batch_size, window=cfg.window, seed=cfg.seed, lr=cfg.lr, total_steps=total_steps,
                     steps_per_call=t.steps_per_call, jit_compile=t.jit_compile, fused=t.fused)
    stream = ExampleStream(corpus.ids, corpus.counts, model=cfg.model.name, window=cfg.window, sample=cfg.subsample,
                           batch_size=cfg.batch_size, seed=cfg.seed, chunk_tokens=cfg.train.chunk_tokens,
                           pad=corpus.vocab_size, rows=model.batch_rows)
    return chosen, model, stream, total_steps


def _prepare_in_child(prepare) -> None:
    """The corpus child's work (`tfsetup.import_while`): the corpus into its cache, then the
    evaluation's index of its words beside it (`evaluate.store_index`); a failure of the index
    is not the corpus's: the run builds the index itself."""
    from . import evaluate

    corpus = prepare()
    try:
        evaluate.store_index(corpus.words, corpus.folder)
    except Exception:  # noqa: BLE001
        pass


def _train_locked(cfg: DictConfig, folder: RunFolder, overrides: list, writer) -> dict:
    from . import artifacts, evaluate
    from .data import failure_window, prepare_corpus
    from .tfsetup import compile_cache_dir, configure, configure_compile_cache, import_while

    t0 = time.perf_counter()
    xla_cache = compile_cache_dir(cfg)
    if xla_cache:  # XLA reads its cache flag when TensorFlow is imported
        configure_compile_cache(xla_cache)
    prepare = functools.partial(prepare_corpus, cfg.data, **vocab_of(cfg))
    # the corpus (and the evaluation's index of its words) is prepared in a child while TensorFlow loads
    import_while(_prepare_in_child, prepare, quick_fail=failure_window(cfg.data))
    corpus = prepare()
    t_prepare = time.perf_counter() - t0
    V = corpus.vocab_size
    if "num_sampled" in cfg.loss and cfg.loss.num_sampled >= V:
        raise UserError(f"loss.num_sampled={cfg.loss.num_sampled} must be smaller than the "
                        f"vocabulary of this corpus ({V} words)")
    tf = configure(cfg.train.threads, cfg.deterministic, cfg.seed, xla_cache)
    from .pruning import reporter_from_env
    from .train import Interrupted, Trainer

    from .summaries import hparams_of, session_group

    artifacts.write_vocab(folder.path / "vocab.tsv", corpus.words)
    chosen, model, stream, total_steps = build(cfg, corpus)
    trainer = Trainer(cfg.train, model, stream, total_steps, folder, tf, corpus.words,
                      probe_words=list(cfg.probe_words), hparams=hparams_of(cfg, overrides),
                      session_group=session_group(overrides), on_eval=reporter_from_env(cfg.optimized_metric),
                      on_last_step=writer and (lambda emb: writer.ask(folder.path, corpus.words, emb)),
                      busy_beside=writer and writer.busy)
    with trainer.timed("evaluate"):  # the evaluations' share of the work, done before training
        evaluate.prepare(corpus.words, corpus.folder)
    previous = folder.info() or {}
    try:
        start = trainer.restore()
    except TrainingFailed as e:
        folder.write_info({**previous, "status": "failed", "reason": str(e), "ended": now()})
        raise
    info = {
        **previous,
        "status": "running", "reason": None, "name": cfg.name, "overrides": list(overrides),
        "started": previous.get("started") or now(), "ended": None, "seed": cfg.seed,
        "deterministic": cfg.deterministic, "total_steps": trainer.total_steps, "steps": start,
        "versions": versions(), "git_commit": git_commit(Path.cwd()), "threads": cfg.train.threads,
        # "fused": w2vexp.kernels' op; "xla": the XLA graph (not neg+sgd, train.fused=false, no compiler)
        "step_kernel": "fused" if trainer.model.kernel is not None else "xla",
        "corpus": {"source": cfg.data.name, "tokens": int(len(corpus.ids)), "raw_tokens": corpus.raw_tokens,
                   "vocab_size": V, "prepared": str(corpus.folder)},
        "resumes": list(previous.get("resumes") or []),
        "auto": chosen,  # what w2vexp.auto chose for the keys left null
        "pid": os.getpid(),
    }
    if start > 0:
        info["resumes"].append({"from_step": start, "time": now()})
        log.info(f"resuming {_show(folder.path)} from step {start} of {trainer.total_steps}")
    else:
        log.info(f"training {_show(folder.path)}: {cfg.model.name} with {cfg.loss.name} on {cfg.data.name} "
                 f"({len(corpus.ids):,} tokens, {V:,} words), {trainer.total_steps:,} steps")
    folder.write_info(info)
    try:
        result = trainer.run(start)
    except Interrupted as e:
        folder.update_info(status="interrupted", reason=str(e), ended=now(), steps=int(trainer.model.step.numpy()))
        log.error(str(e))
        raise SystemExit(Interrupted.exit_code)
    except TrainingFailed as e:
        folder.update_info(status="failed", reason=str(e), ended=now(), steps=int(trainer.model.step.numpy()))
        raise
    except BaseException as e:
        folder.update_info(status="failed", reason=f"{type(e).__name__}: {e}"[:500], ended=now())
        raise
    emb = trainer.model.embeddings()
    with trainer.timed("exports"):
        artifacts.write_vectors(folder.path, corpus.words, emb, writer)
        artifacts.write_projector(folder.path, emb)
    info = folder.update_info(
        status="finished", ended=now(), steps=result.steps, final_loss=result.final_loss,
        words_per_sec=result.words_per_sec, train_seconds=result.train_seconds,
        sha256=artifacts.embedding_sha256(emb), metrics=result.metrics, stopped_early=result.stopped_early,
        time=time_spent(t_prepare, trainer.seconds))
    log.info(f"run folder: {_show(folder.path)}  ({result.steps} steps, final loss {result.final_loss:.4g}, "
             f"{result.words_per_sec:,.0f} words/s)")
    from .evaluate import format_metrics

    log.info(f"  {format_metrics(result.metrics)}")
    probes = artifacts.probe_words(list(cfg.probe_words), corpus.words)
    near_of = result.neighbours or artifacts.nearest(emb, corpus.words, probes, 8)  # the final evaluation's, else now
    for w, near in near_of.items():
        log.info(f"  nearest to {w}: {', '.join(x for x, _ in near)}")
    return info


