"""The evaluation (against gensim itself), compare's table and aggregation, and the tools' errors."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

from w2vexp.artifacts import write_vectors, write_vocab
from w2vexp.compare import aggregate, collect, compare_table
from w2vexp.sources import gensim_datapath
from w2vexp.artifacts import keyed_vectors
from w2vexp.evaluate import evaluate_kv


def _question_words(n=400):
    words = []
    for line in gensim_datapath("questions-words.txt").read_text().splitlines():
        if not line.startswith(":"):
            words += [w.lower() for w in line.split()]
    seen = list(dict.fromkeys(words))
    return seen[:n]


@pytest.fixture(scope="module")
def kv():
    words = _question_words()
    emb = np.random.default_rng(0).normal(size=(len(words), 16)).astype(np.float32)
    emb[:, 0] += np.arange(len(words)) / len(words)  # some structure so scores are not all zero
    return keyed_vectors(words, emb)


def test_metrics_are_gensims_own(kv):
    m = evaluate_kv(kv)
    score, sections = kv.evaluate_word_analogies(str(gensim_datapath("questions-words.txt")),
                                                 restrict_vocab=30000, case_insensitive=True)
    assert m["analogy_acc"] == pytest.approx(score)
    total = sections[-1]
    assert m["analogy_n"] == len(total["correct"]) + len(total["incorrect"]) > 0
    ws = kv.evaluate_word_pairs(str(gensim_datapath("wordsim353.tsv")), restrict_vocab=30000, case_insensitive=True)
    assert m["ws353"] == pytest.approx(ws[1][0])
    sl = kv.evaluate_word_pairs(str(gensim_datapath("simlex999.txt")), restrict_vocab=30000, case_insensitive=True)
    assert m["simlex"] == pytest.approx(sl[1][0])
    sem = [s for s in sections[:-1] if not s["section"].startswith("gram")]
    n_sem = sum(len(s["correct"]) + len(s["incorrect"]) for s in sem)
    n_syn = m["analogy_n"] - n_sem
    right = m["analogy_semantic"] * n_sem + m["analogy_syntactic"] * n_syn
    assert right == pytest.approx(len(total["correct"]))


def test_evaluation_gives_the_same_numbers_whoever_works_beside_it(kv, monkeypatch):
    """evaluate_kv (word pairs first, then the analogies: searched on AMX, or by matrix products
    on all cores or one fewer while another process is busy) gives metrics_of(evaluation_items)'s
    dict, key for key, intervals included; the products wait for the other process at most about
    as long as they take (here even products shorter than asking threadpoolctl), and nothing
    waits for a search without products."""
    import tensorflow as tf

    from w2vexp import evaluate, kernels

    kernels.load(tf)
    monkeypatch.setattr(evaluate, "THREADPOOLCTL_SECONDS", 0.0)
    expected = list(evaluate.metrics_of(evaluate.evaluation_items(kv), intervals=True).items())
    asked = dict(expected)["analogy_n"]
    assert asked > 0 and dict(expected)["ws353_lo"] is not None and dict(expected)["analogy_acc_hi"] is not None
    bound = 1e-9 * asked * len(kv.index_to_key)  # a wait no longer than a 1 GFLOPS machine's products
    search = kernels._loaded.pop("analogy", None)
    try:
        for with_search in (False, True):
            if with_search and search is not None:
                kernels._loaded["analogy"] = search
            waits = []
            for busy in (None, lambda wait: waits.append(wait) or True, lambda wait: waits.append(wait) or False):
                assert list(evaluate_kv(kv, intervals=True, busy_beside=busy).items()) == expected
            if not with_search or search is None:  # every question through the products
                assert len(waits) == 2 and waits[0] == waits[1]
                assert 0 < waits[0] < bound
            else:
                assert all(0 <= w < bound for w in waits)
    finally:
        if search is not None:
            kernels._loaded["analogy"] = search


def test_a_stored_evaluation_index_gives_the_same_numbers(kv, tmp_path, monkeypatch):
    """The index a run's corpus child stores beside the prepared corpus (`store_index`) is what
    a later process loads instead of parsing the data files and indexing the questions: the same
    metrics, key for key; an index of other words, or a broken file, is not used."""
    from w2vexp import evaluate

    words = list(kv.index_to_key)
    expected = list(evaluate_kv(kv, intervals=True).items())
    evaluate.store_index(words, tmp_path)
    assert (tmp_path / evaluate.INDEX_FILE).is_file()
    monkeypatch.setattr(evaluate, "_INDEXES", {})
    monkeypatch.setattr(evaluate, "_READ", {})
    evaluate._analogy_questions.cache_clear()
    evaluate.prepare(words, tmp_path)
    assert evaluate._analogy_questions.cache_info().currsize == 0 and evaluate._READ  # loaded, not parsed
    assert list(evaluate_kv(kv, intervals=True).items()) == expected
    assert evaluate._analogy_questions.cache_info().currsize == 0
    assert not evaluate._load_index(tmp_path, tuple(words[1:]))  # another vocabulary
    (tmp_path / evaluate.INDEX_FILE).write_bytes(b"not a pickle")
    assert not evaluate._load_index(tmp_path, tuple(words))


@pytest.fixture(scope="module")
def wiki_word2vec():
    """gensim's Word2Vec trained briefly on the wiki_sample text: real vectors."""
    import os

    from gensim.models import Word2Vec
    from omegaconf import OmegaConf

    from w2vexp.data import iter_text_blocks, tokenize
    from w2vexp.sources import wiki_sample_path

    path = wiki_sample_path(OmegaConf.create({"cache_dir": os.environ["W2VEXP_CACHE_DIR"]}))
    words = tokenize(" ".join(iter_text_blocks(path)))
    sentences = [words[i:i + 1000] for i in range(0, len(words), 1000)]
    return Word2Vec(sentences, vector_size=50, min_count=5, epochs=3, workers=2, seed=1).wv


def _same_sections_as_gensim(kv, restrict: int) -> list:
    from w2vexp.evaluate import analogy_sections

    ours = analogy_sections(kv, restrict_vocab=restrict)
    _, theirs = kv.evaluate_word_analogies(str(gensim_datapath("questions-words.txt")),
                                           restrict_vocab=restrict, case_insensitive=True)
    assert [(x["section"], x["correct"], x["incorrect"]) for x in ours] == \
        [(x["section"], len(x["correct"]), len(x["incorrect"])) for x in theirs[:-1]]
    assert sum(x["correct"] for x in ours) > 0 and sum(x["incorrect"] for x in ours) > 0
    return ours


def test_batched_analogies_give_gensims_answers_on_real_vectors(wiki_word2vec):
    """Real vectors (gensim's Word2Vec on the wiki_sample text): every section's counts equal
    gensim's evaluate_word_analogies, at the top-30000 restriction and at a tighter one, and
    with NumPy's BLAS on one thread (the final evaluation beside the vectors writer) the same
    answers, question by question, and the same metrics as on all threads."""
    from w2vexp.evaluate import analogy_flags, evaluate_kv
    from w2vexp.tfsetup import blas_threads

    for restrict in (30000, 3000):
        _same_sections_as_gensim(wiki_word2vec, restrict)
    with blas_threads(1):
        from threadpoolctl import threadpool_info

        assert {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"} == {1}
        one = analogy_flags(wiki_word2vec), evaluate_kv(wiki_word2vec, intervals=True)
    np.testing.assert_array_equal(one[0], analogy_flags(wiki_word2vec))
    assert one[1] == evaluate_kv(wiki_word2vec, intervals=True)


def test_the_amx_search_gives_the_matrix_products_answers(wiki_word2vec):
    """Where the CPU has AMX, analogy.cc's search (rough bfloat16 scores, then float32 for the rows
    within its margin) answers every question it answers as the float32 matrix product does, on
    real vectors at two dimensions; a question whose top is a crowd of rows is left to the
    products (-1), and a, b and c are never the answer."""
    import tensorflow as tf

    from w2vexp import evaluate, kernels

    kernels.load(tf)
    kv = wiki_word2vec
    ix = evaluate._index_of(kv, evaluate.RESTRICT_VOCAB)
    unit = kv.vectors[: len(ix.group)] / np.linalg.norm(kv.vectors[: len(ix.group)], axis=1)[:, None]
    if kernels.analogy_best(evaluate._unit_means(unit, ix.questions[:2]), unit, ix.questions[:2, :3]) is None:
        pytest.skip("no AMX here: the matrix products answer every question")
    search = kernels._loaded.pop("analogy")
    try:
        products = evaluate.analogy_flags(kv)
    finally:
        kernels._loaded["analogy"] = search
    np.testing.assert_array_equal(evaluate.analogy_flags(kv), products)
    for dim in (50, 20):  # 20: not a multiple of the tiles' 32
        sub = np.ascontiguousarray(unit[:, :dim]) / np.linalg.norm(unit[:, :dim], axis=1)[:, None]
        means = evaluate._unit_means(sub, ix.questions)
        best = kernels.analogy_best(means, sub, ix.questions[:, :3])
        sims = means @ sub.T
        rows = np.arange(len(means))
        for k in range(3):
            sims[rows, ix.questions[:, k]] = -np.inf
        ok = best >= 0  # at these few dimensions many questions have a crowd near the top: left to the products
        assert ok.sum() > 100
        np.testing.assert_array_equal(best[ok], np.argmax(sims, axis=1)[ok])
        assert not (best[:, None] == ix.questions[:, :3]).any(axis=1)[ok].any()
    crowd = np.tile(sub[:1], (600, 1))  # 600 equal rows: too many near the top to search
    assert kernels.analogy_best(means[:3], crowd, np.zeros((3, 3), np.int64))[0] == -1


def test_pair_similarities_are_gensims_bits_on_real_vectors(wiki_word2vec):
    """Each WordSim-353 / SimLex-999 pair's similarity equals gensim's `similarity` bit for bit
    (the evaluation computes it without importing gensim), from a KeyedVectors and from the
    plain matrix a training run evaluates, and so do the metrics."""
    from w2vexp.evaluate import PAIR_FILES, Vectors, _pairs, evaluate_kv, pair_similarities

    kv = wiki_word2vec
    plain = Vectors(kv.index_to_key, kv.vectors)
    for fname in PAIR_FILES.values():
        ours, theirs = pair_similarities(kv, fname), []
        index = {k.upper(): k for k in reversed(kv.index_to_key)}
        for a, b in _pairs(fname)[0]:
            theirs.append(kv.similarity(index[a], index[b]) if a in index and b in index else np.nan)
        assert np.isfinite(ours).sum() > 50
        np.testing.assert_array_equal(ours, np.array(theirs, dtype=np.float64))
        np.testing.assert_array_equal(pair_similarities(plain, fname), ours)
    assert evaluate_kv(plain, intervals=True) == evaluate_kv(kv, intervals=True)


def test_batched_analogies_give_gensims_answers_when_words_differ_only_by_case(wiki_word2vec):
    """Real vectors plus other spellings (`Paris`, `PARIS` beside `paris`) of the analogy words,
    each near its word, anywhere in the frequency order: gensim's rules hold (the most frequent
    spelling is asked, an answer is right in any case, other spellings of a, b and c are passed
    over within its top 5)."""
    from gensim.models import KeyedVectors

    from w2vexp.evaluate import _analogy_questions

    kv = wiki_word2vec
    rng = np.random.default_rng(3)
    asked = sorted({w.lower() for _, qs in _analogy_questions() for q in qs for w in q} & set(kv.index_to_key))
    words, vector = list(kv.index_to_key), {w: kv[w] for w in kv.index_to_key}
    for w in asked:
        for variant in (w.capitalize(), w.upper(), w.capitalize().swapcase())[: int(rng.integers(4))]:
            words.insert(int(rng.integers(len(words) + 1)), variant)
            vector[variant] = kv[w] + rng.normal(scale=0.1 * np.abs(kv[w]).mean(), size=kv.vector_size)
    spelled = KeyedVectors(vector_size=kv.vector_size)
    spelled.add_vectors(words, np.stack([vector[w] for w in words]).astype(np.float32))
    for restrict in (30000, 3000):
        _same_sections_as_gensim(spelled, restrict)
    # six spellings of b and c nearer than the expected answer: gensim's top 5 holds none but them
    q = {"athens": [1, 0, 0, 0], "greece": [0, 1, 0, 0], "baghdad": [0, 0, 1, 0], "iraq": [-0.5, 1, 1, 3]}
    for w in ("greece", "baghdad"):
        q.update({v: q[w] for v in (w.capitalize(), w.upper(), w.capitalize().swapcase())})
    q.update({f"filler{i}": v for i, v in enumerate(rng.normal(size=(20, 4)) * [0, 0, 0, 1])})
    small = KeyedVectors(vector_size=4)
    small.add_vectors(list(q), np.array(list(q.values()), np.float32))
    from w2vexp.evaluate import analogy_flags

    flags = analogy_flags(small)
    _, theirs = small.evaluate_word_analogies(str(gensim_datapath("questions-words.txt")), case_insensitive=True)
    assert ("ATHENS", "GREECE", "BAGHDAD", "IRAQ") in theirs[-1]["incorrect"]  # iraq is 7th: past the top 5
    assert (flags == 1).sum() == len(theirs[-1]["correct"]) and (flags == 0).sum() == len(theirs[-1]["incorrect"])


def _fake_run(path, status="finished", metrics=None, overrides=(), words=None, seed=0):
    path.mkdir(parents=True)
    words = words or ["UNK", "king", "queen", "man", "woman", "paris", "france", "berlin", "germany", "city"]
    emb = np.random.default_rng(seed).normal(size=(len(words), 8)).astype(np.float32)
    write_vocab(path / "vocab.tsv", words)
    if status == "finished":
        write_vectors(path, words, emb)
    info = {"status": status, "steps": 100, "final_loss": 1.0 + seed, "metrics": metrics or {},
            "overrides": list(overrides), "words_per_sec": 1000.0, "started": "2026-01-01T00:00:00+00:00",
            "ended": "2026-01-01T00:01:00+00:00", "reason": None if status == "finished" else "stopped"}
    (path / "run.json").write_text(json.dumps(info))
    return path


@pytest.fixture
def sweep(tmp_path):
    root = tmp_path / "outputs" / "sw"
    for lr in ("0.5", "1.0"):
        for seed in (1, 2, 3):
            acc = float(lr) / 10 + seed / 1000
            _fake_run(root / f"lr={lr},seed={seed}", metrics={"analogy_acc": acc, "ws353": 0.3},
                      overrides=["name=sw", f"lr={lr}", f"seed={seed}"], seed=seed)
    _fake_run(root / "lr=2.0,seed=1", status="failed", overrides=["name=sw", "lr=2.0", "seed=1"])
    return root


def test_compare_orders_best_first_and_failed_last(sweep):
    rows = list(csv.DictReader(io.StringIO(compare_table(sweep, "csv"))))
    assert len(rows) == 7
    assert [r["run"] for r in rows[:3]] == ["lr=1.0,seed=3", "lr=1.0,seed=2", "lr=1.0,seed=1"]
    assert rows[-1]["run"] == "lr=2.0,seed=1" and rows[-1]["status"] == "failed"
    md = compare_table(sweep, "markdown")
    assert md.splitlines()[0].startswith("| run | status |") and "lr=0.5,seed=1" in md


def test_aggregate_seed_folds_runs_into_mean_std_n(sweep):
    rows = {r["run"]: r for r in aggregate([r for r in collect(sweep) if r["status"] == "finished"])}
    assert set(rows) == {"lr=0.5", "lr=1.0"}
    r = rows["lr=1.0"]
    assert r["n"] == 3
    assert r["analogy_acc"] == pytest.approx(np.mean([0.101, 0.102, 0.103]))
    assert r["analogy_acc_std"] == pytest.approx(np.std([0.101, 0.102, 0.103], ddof=1))
    assert r["final_loss"] == pytest.approx(3.0)


def _tool(*args):
    return subprocess.run([sys.executable, "-m", *args], text=True, capture_output=True, timeout=120)


def test_neighbors_and_analogy_answer(tmp_path):
    d = _fake_run(tmp_path / "run")
    p = _tool("w2vexp.neighbors", str(d), "king", "--k", "3")
    assert p.returncode == 0 and len(p.stdout.strip().splitlines()) == 4
    p = _tool("w2vexp.analogy", str(d), "king", "man", "woman")
    assert p.returncode == 0 and "king - man + woman" in p.stdout


@pytest.mark.parametrize("tool", ["neighbors", "analogy", "evaluate", "plot"])
def test_tools_fail_clearly_on_folders_that_are_not_finished_runs(tmp_path, tool):
    unfinished = _fake_run(tmp_path / "sweep" / "unfinished", status="running")
    empty = tmp_path / "empty"
    empty.mkdir()
    extra = {"neighbors": ["king"], "analogy": ["king", "man", "woman"]}.get(tool, [])
    for folder, needle in ((empty, "not a w2vexp run folder"), (tmp_path / "missing", "not a folder"),
                           (unfinished, "not finished")):
        if tool == "plot" and folder == empty:
            needle = "neither a run folder"
        p = _tool(f"w2vexp.{tool}", str(folder), *extra)
        assert p.returncode != 0 and "Traceback" not in p.stderr + p.stdout, p.stderr
        assert needle in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_unknown_words_are_named(tmp_path):
    d = _fake_run(tmp_path / "run")
    p = _tool("w2vexp.neighbors", str(d), "king", "zzqqxx")
    assert p.returncode != 0 and "zzqqxx" in p.stderr and "Traceback" not in p.stderr
    p = _tool("w2vexp.analogy", str(d), "king", "qqq", "woman")
    assert p.returncode != 0 and "qqq" in p.stderr


def test_compare_fails_clearly_on_an_empty_folder(tmp_path):
    p = _tool("w2vexp.compare", str(tmp_path))
    assert p.returncode != 0 and "holds no runs" in p.stderr and "Traceback" not in p.stderr


def test_every_tool_has_help():
    for tool in ("neighbors", "analogy", "evaluate", "compare", "plot", "reproduce"):
        p = _tool(f"w2vexp.{tool}", "--help")
        assert p.returncode == 0 and "usage" in p.stdout


def test_the_three_vector_files_read_back_bitwise(tmp_path):
    """vectors.txt (our vectorised writer), vectors.bin and vectors.kv (gensim's own writers)
    give gensim exactly the trained float32 matrix, extreme values included."""
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(0)
    emb = (rng.normal(size=(300, 16)) * 0.3).astype(np.float32)
    emb[0, :8] = [0.0, -0.0, 1e-30, -3.4e38, 9.9999999e-5, 1.0, -1.0, 123456.78]
    emb[1, :3] = [9.9999999, 0.099999999, 1e-45]
    words = [f"w{i}" for i in range(300)]
    write_vectors(tmp_path, words, emb)
    txt = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.txt"))
    binv = KeyedVectors.load_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    kv = KeyedVectors.load(str(tmp_path / "vectors.kv"), mmap="r")
    for got in (txt, binv, kv):
        assert got.index_to_key == words
        assert np.array_equal(np.asarray(got.vectors).view(np.uint32), emb.view(np.uint32))


def test_vectors_bin_is_gensims_bytes(tmp_path):
    """Our word2vec binary writer gives byte for byte what gensim's save_word2vec_format writes
    (in id order, words outside ASCII included)."""
    from w2vexp.artifacts import keyed_vectors, write_word2vec_binary

    words = ["UNK", "the", "café", "naïve", "東京", "x"] + [f"w{i}" for i in range(5000)]
    emb = np.random.default_rng(2).normal(size=(len(words), 7)).astype(np.float32)
    write_word2vec_binary(tmp_path / "ours.bin", words, emb)
    keyed_vectors(words, emb).save_word2vec_format(str(tmp_path / "gensim.bin"), binary=True)
    assert (tmp_path / "ours.bin").read_bytes() == (tmp_path / "gensim.bin").read_bytes()


_KV_WRITER_SCRIPT = """
import sys
from pathlib import Path
import numpy as np
from w2vexp.artifacts import VectorsWriter, write_vectors

words = [f"w{i}" for i in range(50)]
emb = np.random.default_rng(3).normal(size=(50, 8)).astype(np.float32)
for fate in ("asked", "asked at once", "died"):
    folder = Path(sys.argv[1]) / fate
    folder.mkdir()
    writer = VectorsWriter.start()
    if fate == "asked":  # as a run does: hand the vectors over after the last step, then evaluate
        assert not writer.busy()
        writer.ask(folder, words, emb)
        while writer.busy():  # writing them: the final evaluation's matrix products wait for a core
            pass
        assert (folder / "vectors.txt").is_file()
    if fate == "died":
        writer._process.kill()
        writer._process.join()
    write_vectors(folder, words, emb, writer)
    assert not writer.busy()
    writer.close()
    assert not writer._process.is_alive()
assert "gensim" not in sys.modules, "gensim was imported"
idle = VectorsWriter.start()
idle.close()
assert idle._process.exitcode == 0
print("ok")
"""


def test_vectors_writer_process(tmp_path):
    """The forked vectors writer (a fresh process: it forks only before TensorFlow is imported)
    writes the three files gensim loads, busy while writing, and nothing imports gensim; one let
    go without a request exits; when it died, the parent writes the files itself."""
    from gensim.models import KeyedVectors

    p = subprocess.run([sys.executable, "-c", _KV_WRITER_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
    emb = np.random.default_rng(3).normal(size=(50, 8)).astype(np.float32)
    for fate in ("asked", "asked at once", "died"):
        folder = tmp_path / fate
        for kv in (KeyedVectors.load(str(folder / "vectors.kv"), mmap="r"),
                   KeyedVectors.load_word2vec_format(str(folder / "vectors.txt")),
                   KeyedVectors.load_word2vec_format(str(folder / "vectors.bin"), binary=True)):
            assert kv.index_to_key == [f"w{i}" for i in range(50)] and np.array_equal(kv.vectors, emb)
        assert sorted(p.name for p in folder.iterdir()) == ["vectors.bin", "vectors.kv", "vectors.kv.vectors.npy",
                                                           "vectors.txt"]


_KV_BYTES_SCRIPT = """
import pickle, sys
from pathlib import Path
import numpy as np
from w2vexp.artifacts import _keyed_vectors_state, _pickle_keyed_vectors, keyed_vectors, write_keyed_vectors

folder, words = Path(sys.argv[1]), ["UNK", "the", "café", "naïve", "東京", "x"] + [f"w{i}" for i in range(40000)]
emb = np.random.default_rng(2).normal(size=(len(words), 7)).astype(np.float32)
for sub in ("ours", "gensim"):
    (folder / sub).mkdir()
tmp, when = folder / "gensim" / ".vectors.kv.tmp", "2026-01-02T03:04:05.678901"
write_keyed_vectors(folder / "ours", words, emb)
with open(folder / "stand-in", "wb") as fh:  # for gensim's path, at a set moment
    _pickle_keyed_vectors(fh, _keyed_vectors_state(words, emb.shape[1], str(tmp), when))
assert not [m for m in sys.modules if m.startswith("gensim")], "gensim was imported"
keyed_vectors(words, emb).save(str(tmp), sep_limit=0)  # what write_keyed_vectors does, by gensim
theirs = tmp.read_bytes()
their_when = pickle.loads(theirs).lifecycle_events[-1]["datetime"]
with open(folder / "real", "wb") as fh:  # gensim imported now: its own class
    _pickle_keyed_vectors(fh, _keyed_vectors_state(words, emb.shape[1], str(tmp), their_when))
assert (folder / "real").read_bytes() == theirs, "not gensim's bytes"
if len(their_when) == len(when):  # isoformat leaves out a microsecond of 0
    assert (folder / "stand-in").read_bytes() == theirs.replace(their_when.encode(), when.encode()), "not gensim's bytes"
assert (folder / "ours" / "vectors.kv.vectors.npy").read_bytes() == Path(f"{tmp}.vectors.npy").read_bytes()
print("ok")
"""


def test_vectors_kv_is_gensims_bytes(tmp_path):
    """vectors.kv is written without importing gensim, yet byte for byte what gensim's
    KeyedVectors.save(sep_limit=0) writes for the same words, vectors, path and moment (40k
    words: the pickle spans several frames), and its .npy side file too; gensim loads it."""
    from gensim.models import KeyedVectors

    p = subprocess.run([sys.executable, "-c", _KV_BYTES_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
    kv = KeyedVectors.load(str(tmp_path / "ours" / "vectors.kv"), mmap="r")
    assert kv.index_to_key[:6] == ["UNK", "the", "café", "naïve", "東京", "x"] and kv.key_to_index["東京"] == 4
    assert isinstance(kv.vectors, np.memmap) and kv.vectors.shape == (40006, 7)


def test_vectors_txt_values_read_back_exactly_for_any_float32():
    """format_float32 (the digits of vectors.txt) on 200k random float32 bit patterns, denormals
    and extremes included: `%+.8e`'s layout, and each value reads back as the same float32."""
    from w2vexp.artifacts import format_float32

    bits = np.random.default_rng(1).integers(0, 2**32, size=200_000, dtype=np.uint64).astype(np.uint32)
    x = bits.view(np.float32)
    x = x[np.isfinite(x)]
    text = format_float32(x).reshape(len(x), 15).view("S15").ravel()
    back = np.array([np.float32(float(t)) for t in text])
    assert np.array_equal(back.view(np.uint32), x.view(np.uint32))
    same_layout = [t[:3] == (b"%+.8e" % float(v))[:3] and t[11:] == (b"%+.8e" % float(v))[11:]
                   for t, v in zip(text[:2000], x[:2000])]
    assert all(same_layout)


def test_vectors_txt_digits_from_c_are_numpys_bytes():
    """float_text.cc (vectors.txt's digits in one pass) writes exactly the bytes of
    artifacts._format_into's NumPy steps: random float32 bit patterns, the float32 neighbours of
    every power of ten (where its power found by comparisons could differ from NumPy's log10),
    values that round up to the next power (9.999999995...), zeros, extremes, denormals."""
    import tensorflow as tf

    from w2vexp import artifacts, kernels

    kernels.load(tf)
    assert kernels._loaded.get("text") is not None
    rng = np.random.default_rng(5)
    x = rng.integers(0, 2**32, size=300_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    powers = np.power(10.0, np.arange(-46, 39, dtype=np.float64)).astype(np.float32).view(np.int32)
    near = (powers[:, None] + np.arange(-8, 9)[None, :]).astype(np.int32).view(np.float32).ravel()
    nines = np.array([float(f"9.99999999{d}e{k}") for k in range(-44, 38) for d in range(10)], np.float32)
    special = np.array([0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38, 1.17549435e-38], np.float32)
    values = np.concatenate([x, near, -near, nines, special])
    values = values[np.isfinite(values)]
    values = np.resize(values, (len(values) + 3) // 4 * 4).reshape(-1, 4)  # rows of a matrix
    ours = np.empty(values.shape + (16,), np.uint8)
    assert kernels.format_float32_into(values, ours, artifacts._format_tables()[2])
    text = kernels._loaded.pop("text")
    try:
        numpys = artifacts.format_float32(values)
    finally:
        kernels._loaded["text"] = text
    assert numpys.shape == values.shape + (15,) and np.array_equal(ours[..., :15], numpys)
    assert np.array_equal(artifacts.format_float32(values), numpys)
    # a value that is not finite leaves the whole block to NumPy's steps
    assert not kernels.format_float32_into(np.array([[1.0, np.inf]], np.float32), np.empty((1, 2, 16), np.uint8),
                                           artifacts._format_tables()[2])


_FBLAS_SCRIPT = r"""
import sys
import numpy as np
from w2vexp.evaluate import _fblas, _unitvec
rng = np.random.default_rng(0)
words = ["king", "queen", "money", "cash", "tiger", "cat"]
vectors = rng.normal(size=(len(words), 50)).astype(np.float32)
ours = [np.dot(_unitvec(vectors[i]), _unitvec(vectors[j])) for i in range(6) for j in range(6)]
assert "scipy.linalg" not in sys.modules, "the evaluation imported scipy.linalg"
from gensim.models import KeyedVectors  # imports scipy.linalg: it must find the module loaded above
import scipy.linalg.blas
assert scipy.linalg.blas.dnrm2 is _fblas().dnrm2
kv = KeyedVectors(50)
kv.add_vectors(words, vectors)
theirs = [kv.similarity(a, b) for a in words for b in words]
assert np.array_equal(np.array(ours, np.float64), np.array(theirs, np.float64)), (ours, theirs)
print("ok")
"""


def test_pair_similarities_load_scipys_blas_alone():
    """The evaluation loads SciPy's BLAS wrappers without importing scipy.linalg (0.15 s of a
    run's final evaluation); a later import of scipy.linalg (gensim's) finds the same module,
    and the similarities are the same bits as with it."""
    p = subprocess.run([sys.executable, "-c", _FBLAS_SCRIPT], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == "ok", p.stderr[-2000:]
