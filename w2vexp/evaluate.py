"""Evaluation with the data gensim ships, giving exactly the answers of gensim's own methods
(tested against them) without importing gensim (SPEC section 8).

- analogy accuracy on Mikolov's questions-words set, restricted to the 30000 most frequent
  words and case-insensitive (gensim's `evaluate_word_analogies`), also split into its semantic
  (the first five sections) and syntactic (`gram*`) parts;
- Spearman correlation with WordSim-353 and SimLex-999 (`evaluate_word_pairs`).

`python -m w2vexp.evaluate RUN_DIR` prints them for a finished run. During training they are
computed every `train.eval_every` steps and at the end, logged as `eval/analogy_acc`,
`eval/ws353`, `eval/simlex` and stored in run.json.
"""
from __future__ import annotations

import contextlib
import functools
import os
import sys
from pathlib import Path

import numpy as np

from .sources import gensim_datapath

RESTRICT_VOCAB = 30000
ANALOGIES = "questions-words.txt"
WS353 = "wordsim353.tsv"
SIMLEX = "simlex999.txt"
from .config import OPTIMIZED_METRICS as METRICS  # noqa: E402 - one list of the headline metrics


@functools.lru_cache(maxsize=None)
def _analogy_questions() -> tuple:
    """questions-words.txt as ((section, ((A, B, C, EXPECTED), ...)), ...), upper-cased as
    gensim's case-insensitive evaluation reads it; lines that are not four words are skipped."""
    sections = []
    with open(gensim_datapath(ANALOGIES), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith(": "):
                sections.append((line.lstrip(": ").strip(), []))
            elif sections:
                words = tuple(line.upper().split())  # one upper() per line, not per word
                if len(words) == 4:
                    sections[-1][1].append(words)
    return tuple((name, tuple(qs)) for name, qs in sections)


def _spelling_index(keys) -> dict:
    """Each upper-cased word of `keys` (words in frequency order) -> the row of its most frequent
    spelling: how gensim's case-insensitive evaluations look words up."""
    return {k.upper(): i for i, k in reversed(list(enumerate(keys)))}


class _VocabIndex:
    """What the evaluations need of a vocabulary (its first `restrict_vocab` words), whatever
    the vectors: the spelling index, each row's most frequent spelling (`group`) and the other
    rows of a word spelled several ways (`others`), which questions of the file are asked
    (`asked`), the asked ones as rows [a, b, c, expected] (`questions`) and those of them that
    meet another spelling (`spelled`). Built once per vocabulary (`_vocab_index`), so an
    evaluation is left with its arithmetic."""

    def __init__(self, keys: tuple) -> None:
        self.ok_vocab = _spelling_index(keys)
        self.group = np.array([self.ok_vocab[k.upper()] for k in keys], dtype=np.int64)
        self.others: dict = {}
        for i in np.flatnonzero(self.group != np.arange(len(keys))):
            self.others.setdefault(int(self.group[i]), []).append(int(i))
        every = [qs for _, questions in _analogy_questions() for qs in questions]
        self.asked = np.array([all(w in self.ok_vocab for w in qs) for qs in every], dtype=bool)
        self.questions = np.array([[self.ok_vocab[w] for w in qs] for qs, ok in zip(every, self.asked) if ok],
                                  dtype=np.int64).reshape(-1, 4)
        others = self.others
        self.spelled = np.flatnonzero([x in others or y in others or z in others
                                       for x, y, z in self.questions[:, :3]]) if others else np.zeros(0, np.int64)


_INDEXES: dict = {}  # keys (a vocabulary's first words) -> its _VocabIndex, the last few built or loaded
_READ: dict = {}  # what the data files say, read once: "semantic" and ("pairs", file name)


def _vocab_index(keys: tuple) -> _VocabIndex:
    if keys not in _INDEXES:
        _remember(keys, _VocabIndex(keys))
    return _INDEXES[keys]


def _remember(keys: tuple, index: _VocabIndex) -> None:
    while len(_INDEXES) >= 4:
        del _INDEXES[next(iter(_INDEXES))]
    _INDEXES[keys] = index


def _index_of(kv, restrict_vocab: int) -> _VocabIndex:
    return _vocab_index(tuple(kv.index_to_key[:restrict_vocab]))


def prepare(words: list, folder=None, restrict_vocab: int = RESTRICT_VOCAB) -> None:
    """Do now what every evaluation of vectors of `words` shares, whatever the vectors: read the
    data files (the questions, the word pairs), load the BLAS wrappers, index the questions by
    the vocabulary -- with a prepared corpus's `folder`, the index stored there (`store_index`)
    is loaded instead when it is there. A run calls it before training. Never needed, only
    sooner: a file that cannot be read is left to the evaluation, which reports it."""
    try:
        keys = tuple(words[:restrict_vocab])
        if keys not in _INDEXES and not (folder is not None and _load_index(Path(folder), keys)):
            _vocab_index(keys)
            for fname in PAIR_FILES.values():
                _pairs(fname)
        _fblas()
    except Exception:  # noqa: BLE001 - not cached: the evaluation meets it again
        pass


INDEX_FILE = "evaluation-index.pickle"  # in a prepared corpus's folder (w2vexp.data)
INDEX_VERSION = 1


def store_index(words: list, folder, restrict_vocab: int = RESTRICT_VOCAB) -> None:
    """Store in a prepared corpus's `folder` what `prepare` computes for its vocabulary `words`
    (the questions' index, the semantic sections, the word pairs and their scores), unless it is
    there. A run's corpus child calls it once the corpus is prepared, on the core that
    TensorFlow's import leaves free, so that the run itself loads it (0.002 s) instead of
    parsing and indexing (0.03 s at wiki_sample's 9k words); later runs on the corpus load it
    too. Keyed by the data files (path, size, time) and the words; written atomically."""
    folder = Path(folder)
    keys = tuple(words[:restrict_vocab])
    if _load_index(folder, keys):
        return
    import pickle

    from .rundir import atomic_write

    stored = {"key": _index_key(keys), "index": _vocab_index(keys), "semantic": semantic_mask(),
              "pairs": {fname: _pairs(fname) for fname in PAIR_FILES.values()}}
    atomic_write(folder / INDEX_FILE, pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL))


def _index_key(keys: tuple) -> tuple:
    import hashlib

    files = tuple((str(p), st.st_size, st.st_mtime_ns) for p in map(gensim_datapath, (ANALOGIES, *PAIR_FILES.values()))
                  for st in (os.stat(p),))
    return (INDEX_VERSION, files, len(keys), hashlib.sha256("\n".join(keys).encode()).hexdigest())


def _load_index(folder: Path, keys: tuple) -> bool:
    """Seed this process's caches from `folder`'s stored index of `keys`; False when there is
    none for them (or it cannot be read)."""
    import pickle

    try:
        stored = pickle.loads((folder / INDEX_FILE).read_bytes())
        if stored["key"] != _index_key(keys):
            return False
    except Exception:  # noqa: BLE001 - missing, partial or from another version: built afresh
        return False
    _remember(keys, stored["index"])
    _READ.setdefault("semantic", stored["semantic"])
    for fname, pairs in stored["pairs"].items():
        _READ.setdefault(("pairs", fname), pairs)
    return True


def analogy_flags(kv, restrict_vocab: int = RESTRICT_VOCAB, chunk: int = 512, busy_beside=None) -> np.ndarray:
    """gensim's `evaluate_word_analogies(restrict_vocab, case_insensitive=True)`, batched, one
    flag per question of the file (in file order): 1 answered right, 0 wrong, -1 not asked (a
    word outside the first `restrict_vocab` words).

    The same questions, the same rule (the answer is the word whose unit vector is nearest to
    the unit mean of b, c and -a, a, b and c themselves excluded) and float32 arithmetic, but
    every question of a chunk is answered by one matrix product (into one buffer) instead of
    one `most_similar` call each: 8.5 s -> a fraction of a second at a 23.5k vocabulary. Where
    the CPU has AMX, `w2vexp.kernels.analogy_best` searches instead, on one core: rough
    bfloat16 products, then float32 ones for the few rows that can still win (wiki_sample's
    3822 questions x 9069 words at 128 dimensions: 0.052 s on 2 cores -> 0.022 s on one, 8
    questions left over); the questions it leaves -- more than 256 rows within its margin of the
    top, as for three in four at 50 dimensions -- go through the matrix product. `busy_beside`:
    as `evaluate_kv`'s, for the matrix products.

    Words that differ only by case (`UNK` and `unk`) follow gensim's rules too: a question's
    word is its most frequent spelling; an answer counts when it matches the expected word in
    any case; other spellings of a, b and c are passed over, but only within gensim's top 5."""
    from .kernels import analogy_best
    from .tfsetup import available_cores

    ix = _index_of(kv, restrict_vocab)
    group, q = ix.group, ix.questions
    vectors = np.asarray(kv.vectors[: len(group)], dtype=np.float32)
    with np.errstate(all="ignore"):
        unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]  # gensim's get_normed_vectors()
    right = np.zeros(len(q), dtype=bool)
    todo = np.arange(len(q))
    means = _unit_means(unit, q)  # each row its own: the same bits for any subset of the questions
    best = analogy_best(means, unit, q[:, :3]) if len(q) else None
    if best is not None:
        found = best >= 0
        found[ix.spelled] = False  # other spellings: gensim's top-5 rule needs the whole row
        right[found] = group[best[found]] == q[found, 3]
        todo = np.flatnonzero(~found)
    if len(todo):
        seconds = 2.0 * len(todo) * unit.size / (SGEMM_FLOPS_PER_CORE * available_cores())  # on all cores
        with _cores_beside(busy_beside, seconds):
            _product_answers(unit, means, q, todo, ix, right, chunk)
    flags = np.full(len(ix.asked), -1, dtype=np.int8)
    flags[ix.asked] = right
    return flags


def _product_answers(unit: np.ndarray, means: np.ndarray, q: np.ndarray, todo: np.ndarray, ix, right: np.ndarray,
                     chunk: int) -> None:
    """`analogy_flags`' matrix products of the questions `todo` (their unit `means`), a chunk at
    a time: right[i] for each."""
    group, others, spelled = ix.group, ix.others, set(ix.spelled.tolist())
    sims_buffer = np.empty((min(chunk, len(todo)), len(unit)), dtype=np.float32)
    for start in range(0, len(todo), chunk):
        these = todo[start:start + chunk]
        a, b, c, expected = q[these].T
        sims = np.matmul(means[these], unit.T, out=sims_buffer[:len(a)])  # each question's argmax runs along a row
        rows = np.arange(len(a))
        sims[rows, a] = sims[rows, b] = sims[rows, c] = -np.inf
        ok = np.ones(len(a), dtype=bool)
        for r in (r for r, i in enumerate(these.tolist()) if i in spelled):
            skip = [i for w in {a[r], b[r], c[r]} for i in others.get(int(w), [])]
            passed = sims[r, skip].copy()
            sims[r, skip] = -np.inf
            ok[r] = (passed > sims[r].max()).sum() < 5  # gensim looks at its top 5 only
        right[these] = ok & (group[np.argmax(sims, axis=1)] == expected)


def _unit_means(unit: np.ndarray, questions: np.ndarray) -> np.ndarray:
    """Each question's unit mean of b, c and -a (most_similar's weighted mean, then
    matutils.unitvec), float32 [questions, D]."""
    a, b, c = questions[:, 0], questions[:, 1], questions[:, 2]
    mean = np.stack([unit[b], unit[c], -unit[a]]).mean(axis=0)
    with np.errstate(all="ignore"):
        return (mean / np.linalg.norm(mean, axis=1)[:, None]).astype(np.float32)


def analogy_sections(kv, restrict_vocab: int = RESTRICT_VOCAB) -> list:
    """[{"section", "correct", "incorrect"}] with counts, the sections of questions-words.txt in
    order (gensim's "Total accuracy" left out), from `analogy_flags`."""
    flags, out, start = analogy_flags(kv, restrict_vocab), [], 0
    for name, questions in _analogy_questions():
        f = flags[start:start + len(questions)]
        start += len(questions)
        out.append({"section": name, "correct": int((f == 1).sum()), "incorrect": int((f == 0).sum())})
    return out


def semantic_mask() -> np.ndarray:
    """True for the questions of the semantic sections (the first five; the rest are `gram*`)."""
    if "semantic" not in _READ:
        mask = np.concatenate([np.full(len(qs), not name.startswith("gram")) for name, qs in _analogy_questions()])
        mask.flags.writeable = False
        _READ["semantic"] = mask
    return _READ["semantic"]


def _pairs(fname: str) -> tuple:
    """The word pairs of a similarity file as gensim's `evaluate_word_pairs(case_insensitive=True)`
    reads them: ((A, B) upper-cased, ...) and the human scores."""
    if ("pairs", fname) not in _READ:
        _READ[("pairs", fname)] = _read_pairs(fname)
    return _READ[("pairs", fname)]


def _read_pairs(fname: str) -> tuple:
    pairs, gold = [], []
    with open(gensim_datapath(fname), encoding="utf8") as fh:
        for line in fh:
            if not line or line.startswith("#"):
                continue
            try:
                a, b, sim = [w.upper() for w in line.split("\t")]
                sim = float(sim)
            except (ValueError, TypeError):
                continue
            pairs.append((a, b))
            gold.append(sim)
    gold = np.array(gold, dtype=np.float64)
    gold.flags.writeable = False
    return tuple(pairs), gold


class Vectors:
    """The two attributes of gensim's KeyedVectors the evaluation reads -- `index_to_key` (words
    in id order) and `vectors` -- without importing gensim (0.6 s, most of it SciPy's stats): a
    training run evaluates its matrix as this, the tools a loaded KeyedVectors."""

    def __init__(self, words: list, vectors: np.ndarray) -> None:
        self.index_to_key = list(words)
        self.vectors = vectors


@functools.lru_cache(maxsize=None)
def _fblas():
    """SciPy's Fortran BLAS wrappers, the module `scipy.linalg.blas` re-exports (gensim's
    `matutils.unitvec` calls its dnrm2 and dscal). Importing `scipy.linalg` for them costs
    0.15 s of the final evaluation here (its package imports all of SciPy's linear algebra), so
    the extension module is loaded from its file alone (0.0025 s; found without running SciPy's
    own `__init__`, which took 0.009 s more) and registered under its own name, where a later
    `import scipy.linalg` finds it: the same functions. Falls back to the plain import when the
    file is not where SciPy keeps it."""
    import importlib.util

    name = "scipy.linalg._fblas"
    if name in sys.modules:  # scipy.linalg imported it already
        return sys.modules[name]
    scipy = importlib.util.find_spec("scipy")  # found, not imported
    folders = list(scipy.submodule_search_locations or []) if scipy is not None else []
    found = sorted((Path(folders[0]) / "linalg").glob("_fblas.*")) if folders else []
    if not found:
        from scipy.linalg import blas

        return blas
    spec = importlib.util.spec_from_file_location(name, found[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[name] = module
    return module


def _unitvec(vec: np.ndarray) -> np.ndarray:
    """gensim's `matutils.unitvec(vec)` for a float32 vector, by the same BLAS calls (dnrm2 and
    dscal in float64, then back to float32), so the same bits."""
    blas = _fblas()
    veclen = blas.dnrm2(vec)
    return blas.dscal(1.0 / veclen, vec).astype(vec.dtype) if veclen > 0.0 else vec


def pair_similarities(kv, fname: str, restrict_vocab: int = RESTRICT_VOCAB) -> np.ndarray:
    """The model's cosine similarity of each pair of `fname` (NaN when a word is outside the
    first `restrict_vocab` words), computed as gensim's `similarity` (the dot product of the two
    `unitvec`s), which `evaluate_word_pairs` uses."""
    ok_vocab = _index_of(kv, restrict_vocab).ok_vocab
    pairs, _ = _pairs(fname)
    out = np.full(len(pairs), np.nan)
    for i, (a, b) in enumerate(pairs):
        if a in ok_vocab and b in ok_vocab:
            out[i] = np.dot(_unitvec(kv.vectors[ok_vocab[a]]), _unitvec(kv.vectors[ok_vocab[b]]))
    return out


PAIR_FILES = {"ws353": WS353, "simlex": SIMLEX}


def evaluation_items(kv) -> dict:
    """What every metric is computed from, item by item (for intervals and paired tests):
    `analogy` flags per question, `ws353` / `simlex` model similarities per pair."""
    return {"analogy": analogy_flags(kv), **_pair_items(kv)}


def _pair_items(kv) -> dict:
    """The model's similarity of each pair, per word-pair file (`PAIR_FILES`)."""
    return {k: pair_similarities(kv, f) for k, f in PAIR_FILES.items()}


def metrics_of(items: dict, intervals: bool = False) -> dict:
    """All metrics of one set of vectors from its `evaluation_items`: analogy_acc (+ _semantic,
    _syntactic, _n: questions answered), ws353, simlex (Spearman; None when too few pairs are in
    the vocabulary) and their _oov shares -- gensim's numbers -- and with `intervals` each
    metric's 95 % bootstrap interval as <metric>_lo and <metric>_hi (w2vexp.uncertainty)."""
    return {**_analogy_metrics(items["analogy"], intervals), **_pair_metrics(items, intervals)}


def _analogy_metrics(flags: np.ndarray, intervals: bool) -> dict:
    from . import uncertainty

    out = {}
    sem = semantic_mask()
    for name, part in (("analogy_acc", flags >= 0), ("analogy_semantic", (flags >= 0) & sem),
                       ("analogy_syntactic", (flags >= 0) & ~sem)):
        right = flags[part]
        out[name] = float(right.mean()) if len(right) else 0.0
        if intervals:
            ci = uncertainty.accuracy_interval(right)
            out[name + "_lo"], out[name + "_hi"] = ci if ci else (None, None)
    out["analogy_n"] = int((flags >= 0).sum())
    return out


def _pair_metrics(items: dict, intervals: bool) -> dict:
    from . import uncertainty

    out = {}
    for key, fname in PAIR_FILES.items():
        model = items[key]
        gold = _pairs(fname)[1]
        ok = ~np.isnan(model)
        out[key] = None
        if ok.any():
            with np.errstate(all="ignore"):
                rho = uncertainty.spearman(gold[ok], model[ok])
            out[key] = None if np.isnan(rho) else rho
            out[f"{key}_oov"] = float((~ok).sum()) / len(ok) * 100
        if intervals:
            ci = uncertainty.spearman_interval(gold[ok], model[ok]) if out[key] is not None else None
            out[key + "_lo"], out[key + "_hi"] = ci if ci else (None, None)
    return out


# what BLAS's sgemm does a second on one core of this project's machine (158 GFLOPS measured alone,
# about 140 in the analogies' shape): only for how long the analogies wait for a core (`evaluate_kv`)
SGEMM_FLOPS_PER_CORE = 1.4e11
THREADPOOLCTL_SECONDS = 0.006  # threadpool_limits' first look at the libraries a run has loaded


def evaluate_kv(kv, intervals: bool = False, busy_beside=None) -> dict:
    """`metrics_of(evaluation_items(kv))`: the numbers of gensim's evaluate_word_analogies and
    evaluate_word_pairs, and with `intervals` their 95 % bootstrap intervals.

    The word pairs come first, then the analogies, whose matrix products run on all cores
    (BLAS's threads split the work evenly, so one that shares a core holds all of them up).
    `busy_beside(seconds)`: whether another process of this run still takes a core after waiting
    up to that long for it -- the run's vectors writer, which works beside the pairs. The
    products wait for it as long as they would take on all cores (`SGEMM_FLOPS_PER_CORE`):
    waiting w, then all cores, beats one core fewer from the start while w is below half their
    time on one core; when it is still busy, they run on one core fewer (threadpoolctl, asked
    only then: its look at the 107 libraries a run has loaded takes 0.006 s). wiki_sample CBOW,
    whose writer was still at work for the last few ms of the pairs: evaluation 0.165-0.177 s
    with one core fewer, 0.127-0.135 s waiting (3 runs each). With AMX (`analogy_flags`) the
    search takes one core and no products: nothing waits."""
    pairs = _pair_metrics(_pair_items(kv), intervals)
    flags = analogy_flags(kv, busy_beside=busy_beside)
    return {**_analogy_metrics(flags, intervals), **pairs}


def _cores_beside(busy_beside, seconds: float):
    """A `with` context for matrix products that take `seconds` on all cores: all of BLAS's
    threads, unless `busy_beside(seconds)` says another process still takes a core after that
    long; then one core fewer (`evaluate_kv`). Products shorter than threadpoolctl's look at the
    libraries (`THREADPOOLCTL_SECONDS`) run as they are: asking would cost more than it saves."""
    if busy_beside is None or seconds < THREADPOOLCTL_SECONDS or not busy_beside(seconds):
        return contextlib.nullcontext()  # BLAS's own threads: one per core
    from .tfsetup import available_cores, blas_threads

    return blas_threads(available_cores() - 1)


def evaluate_embeddings(words: list, emb: np.ndarray, intervals: bool = False, busy_beside=None) -> dict:
    """`evaluate_kv` of a matrix whose rows are `words`' vectors (gensim is not imported)."""
    return evaluate_kv(Vectors(words, emb), intervals, busy_beside)


def format_value(m: dict, key: str) -> str:
    """A metric as text (percent for accuracies), with its 95 % interval when `m` has one."""
    pct = key.startswith("analogy")
    v = m.get(key)
    if v is None:
        return "n/a"
    text = f"{100 * v:.2f}%" if pct else f"{v:.4f}"
    lo, hi = m.get(key + "_lo"), m.get(key + "_hi")
    if lo is not None and hi is not None:
        text += f" [{100 * lo:.2f}, {100 * hi:.2f}]" if pct else f" [{lo:.3f}, {hi:.3f}]"
    return text


def format_metrics(m: dict) -> str:
    return (f"analogy accuracy {format_value(m, 'analogy_acc')} of {m.get('analogy_n', 0)} questions "
            f"(semantic {format_value(m, 'analogy_semantic')}, syntactic {format_value(m, 'analogy_syntactic')}); "
            f"WordSim-353 Spearman {format_value(m, 'ws353')}; SimLex-999 Spearman {format_value(m, 'simlex')}"
            + ("; [95% bootstrap intervals]" if m.get("analogy_acc_lo") is not None else ""))


if __name__ == "__main__":  # python -m w2vexp.evaluate: the command is w2vexp.cli.evaluate
    from .cli.evaluate import main

    sys.exit(main())
