"""Corpora, vocabulary, subsampling, the dynamic window and the batches built from them."""
from __future__ import annotations

import collections

import numpy as np
import pytest
from omegaconf import OmegaConf

from w2vexp.batches import (ExampleStream, Position, cbow_examples, keep_probabilities, prefetch,
                            reduced_windows, skipgram_pairs)
from w2vexp.config import compose
from w2vexp.data import UNK, build_vocab, prepare_corpus, tokenize
from w2vexp.sources import normalise_text8, wiki_sample_path
from w2vexp.errors import DataError


def _prepare(cfg):
    """The corpus of a config, as the pipeline prepares it."""
    from w2vexp.pipeline import vocab_of

    return prepare_corpus(cfg.data, **vocab_of(cfg))


def _cfg(tmp_path, **kw):
    cfg = compose([f"data={kw.pop('data.name', 'wiki_sample')}", f"data.cache_dir={tmp_path / 'cache'}"])
    for k, v in kw.items():
        OmegaConf.update(cfg, k, v)
    return cfg


def test_normalise_text8_spells_digits_and_keeps_only_a_to_z():
    assert normalise_text8("In 1984, Orwell's <b>Big</b> Brother!").split() == \
        ["in", "one", "nine", "eight", "four", "orwell", "s", "b", "big", "b", "brother"]


def test_tokenize_lowercases_and_splits_on_non_letters():
    assert tokenize("Hello, World--it's 2 Über-cool") == ["hello", "world", "it", "s", "über", "cool"]
    assert tokenize("Hello, World--it's 2 uber_cool\x1fX") == ["hello", "world", "it", "s", "uber", "cool", "x"]


def test_tokenize_ascii_path_gives_the_regex_tokens():
    """ASCII text takes the translate-and-split path: the same tokens as the letter-run regex,
    on random strings over every ASCII character (control characters, digits, _ included)."""
    from w2vexp.data import _WORD_RE

    rng = np.random.default_rng(0)
    alphabet = np.array([chr(i) for i in range(128)] + list("aeiou etaoin"))
    for n in (0, 1, 5, 100, 5000):
        for _ in range(20):
            text = "".join(rng.choice(alphabet, size=n))
            assert text.isascii()
            assert tokenize(text) == _WORD_RE.findall(text.lower())


def test_vocab_keeps_most_frequent_with_unk_first():
    c = collections.Counter({"a": 10, "b": 7, "c": 7, "d": 2, "e": 1})
    words, counts = build_vocab(c, vocab_size=4, min_count=2, keep_unk=True)
    assert words == [UNK, "a", "b", "c"]  # ties broken alphabetically
    assert counts.tolist() == [3, 10, 7, 7]  # UNK counts the replaced tokens (d, d, e)
    words, counts = build_vocab(c, vocab_size=4, min_count=2, keep_unk=False)
    assert words == ["a", "b", "c", "d"] and counts.tolist() == [10, 7, 7, 2]


def test_prepared_corpus_maps_rare_words_to_unk_or_drops_them(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("the cat sat on the mat the cat ran zebra\n" * 3)
    corpus = _prepare(_cfg(tmp_path, **{"data.name": "file", "data.path": str(f), "min_count": 6}))
    assert corpus.words == [UNK, "the", "cat"]
    assert len(corpus.ids) == 30 and corpus.ids[:4].tolist() == [1, 2, 0, 0]
    dropped = _prepare(_cfg(tmp_path, **{"data.name": "file", "data.path": str(f), "min_count": 6,
                                               "keep_unk": False}))
    assert dropped.words == ["the", "cat"] and dropped.ids[:5].tolist() == [0, 1, 0, 0, 1]


@pytest.mark.parametrize("keep_unk", [True, False])
def test_prepared_ids_are_the_plain_mapping_over_many_blocks(tmp_path, monkeypatch, keep_unk):
    """The one-pass preparation (numbers by first appearance, renumbered by a table) gives the
    ids of the plain recipe: tokenize everything, count, choose the vocabulary, map each token.
    Tiny blocks, so words, blocks and renumbering chunks all cross boundaries."""
    import collections

    from w2vexp import data

    rng = np.random.default_rng(0)
    lexicon = ["".join(rng.choice(list("abcdefghij"), size=rng.integers(1, 6))) for _ in range(400)]
    text = " ".join(rng.choice(lexicon, size=20000, p=np.arange(1, 401)[::-1] / np.arange(1, 401).sum()))
    (tmp_path / "c.txt").write_text(text.replace("  ", "\n"))
    monkeypatch.setattr(data, "BLOCK_CHARS", 997)
    corpus = prepare_corpus(OmegaConf.create({"name": "file", "path": str(tmp_path / "c.txt"),
                                              "cache_dir": str(tmp_path / "cache")}),
                            vocab_size=50, min_count=3, keep_unk=keep_unk)
    tokens = data.tokenize(text)
    words, counts = data.build_vocab(collections.Counter(tokens), 50, 3, keep_unk)
    index = {w: i for i, w in enumerate(words)}
    expected = [index.get(t, 0) for t in tokens if keep_unk or t in index]
    assert corpus.words == words and list(corpus.counts) == list(counts)
    assert np.array_equal(corpus.ids[0:len(corpus.ids)], np.array(expected, np.int32))
    assert corpus.raw_tokens == len(tokens)


def test_prepared_corpus_is_cached(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("a b c d e f g " * 20)
    cfg = _cfg(tmp_path, **{"data.name": "file", "data.path": str(f), "min_count": 1})
    first = _prepare(cfg)
    stamp = (first.folder / "ids.npy").stat().st_mtime_ns
    second = _prepare(cfg)
    assert second.folder == first.folder and (second.folder / "ids.npy").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("content,match", [(None, "does not exist"), ("", "empty"),
                                           (b"\x00\x01binary\xff", "binary"), (b"caf\xe9 latin-1", "UTF-8"),
                                           ("alpha beta alpha beta gamma", "too small")])
def test_bad_corpora_fail_clearly(tmp_path, content, match):
    f = tmp_path / "bad.txt"
    if isinstance(content, bytes):
        f.write_bytes(content)
    elif content is not None:
        f.write_text(content)
    with pytest.raises(DataError, match=match) as e:
        _prepare(_cfg(tmp_path, **{"data.name": "file", "data.path": str(f)}))
    assert str(f) in str(e.value)


def test_wiki_sample_is_real_normalised_wikipedia(tmp_path):
    text = wiki_sample_path(_cfg(tmp_path).data).read_text()
    words = text.split()
    assert len(words) > 400_000
    assert set("".join(words[:100_000])) <= set("abcdefghijklmnopqrstuvwxyz")
    assert "anarchism" in words[:200]


def test_subsampling_keeps_the_expected_fraction():
    rng = np.random.default_rng(0)
    counts = np.array([500_000, 100_000, 10_000, 1_000, 100])
    p = keep_probabilities(counts, 1e-3)
    assert p[-1] == 1.0 and p[0] < p[1] < p[2] <= 1.0
    f = counts[0] / counts.sum()
    t = 1e-3
    assert p[0] == pytest.approx((np.sqrt(f / t) + 1) * t / f)
    ids = np.repeat(np.arange(5), counts)
    kept = rng.random(len(ids)) < p[ids]
    for w in range(3):
        assert kept[ids == w].mean() == pytest.approx(p[w], abs=0.01)
    assert keep_probabilities(counts, 0).tolist() == [1.0] * 5


def test_dynamic_window_is_uniform_over_1_to_window():
    eff = reduced_windows(200_000, 5, np.random.default_rng(0))
    freq = np.bincount(eff, minlength=6)[1:] / len(eff)
    assert eff.min() == 1 and eff.max() == 5
    assert np.allclose(freq, 0.2, atol=0.01)


def test_skipgram_pairs_on_a_hand_made_sentence():
    tokens = np.array([10, 11, 12, 13, 14])
    c, x = skipgram_pairs(tokens, np.array([1, 2, 1, 1, 2]), window=2).T
    got = sorted(zip(c.tolist(), x.tolist()))
    want = sorted([(10, 11), (11, 10), (11, 12), (11, 13), (12, 11), (12, 13), (13, 12), (13, 14),
                   (14, 13), (14, 12)])
    assert got == want


def test_cbow_examples_on_a_hand_made_sentence():
    tokens = np.array([10, 11, 12, 13])
    ctx, centre = cbow_examples(tokens, np.array([1, 2, 1, 1]), window=2, pad=99)
    assert centre.tolist() == [10, 11, 12, 13]
    assert ctx.tolist() == [[99, 99, 11, 99], [99, 10, 12, 13], [99, 11, 13, 99], [99, 12, 99, 99]]


def _stream(ids, **kw):
    args = dict(model="skipgram", window=2, sample=1e-3, batch_size=64, seed=3, chunk_tokens=1000, pad=50)
    args.update(kw)
    return ExampleStream(ids, np.bincount(ids, minlength=50), **args)


def test_stream_is_deterministic_and_resumes_exactly():
    ids = np.random.default_rng(1).zipf(1.5, 5000).clip(max=49).astype(np.int32)
    a = _stream(ids)
    full = [a.take(7) for _ in range(6)]
    b = _stream(ids)
    b.take(7), b.take(7), b.take(7)
    pos = Position(**vars(b.pos))
    c = _stream(ids)
    c.pos = pos  # a fresh stream set to a saved position continues with the same batches
    for i in range(3, 6):
        x, y, w = c.take(7)
        assert np.array_equal(x, full[i][0]) and np.array_equal(y, full[i][1]) and w == full[i][2]
    assert not np.array_equal(_stream(ids, seed=4).take(7)[0], full[0][0])


def test_prefetch_gives_the_same_blocks_in_order():
    ids = np.random.default_rng(1).zipf(1.5, 5000).clip(max=49).astype(np.int32)
    direct = _stream(ids, model="cbow")
    blocks = list(prefetch(_stream(ids, model="cbow"), iter([3, 5, 2, 4])))
    for blk, k in zip(blocks, [3, 5, 2, 4]):
        x, y, w = direct.take(k)
        assert blk.steps == k and np.array_equal(blk.inputs, x) and np.array_equal(blk.labels, y)
        assert blk.position == direct.pos
    assert blocks[0].inputs.shape == (3, 64, 4)


def test_words_consumed_counts_corpus_words_before_subsampling():
    ids = np.random.default_rng(1).zipf(1.5, 20_000).clip(max=49).astype(np.int32)
    s = _stream(ids, chunk_tokens=20_000, batch_size=100)
    n_examples = len(s.chunk(0, 0)[1])
    total = sum(s.take(1)[2] for _ in range(n_examples // 100))
    assert total == pytest.approx(20_000 * (n_examples // 100) * 100 / n_examples)


@pytest.mark.parametrize("window", [1, 2, 5])
def test_cbow_examples_equal_the_definition(window):
    """Each row is the centre's neighbours at offsets -window..-1, 1..window, kept where the
    offset is within the reduced window and inside the chunk, else pad; rows with none go."""
    rng = np.random.default_rng(window)
    offsets = [*range(-window, 0), *range(1, window + 1)]
    for n in (0, 1, 2, 3, 50):
        tokens = rng.integers(0, 20, n).astype(np.int32)
        eff = rng.integers(1, window + 1, n).astype(np.int32)
        rows = [[int(tokens[i + d]) if 0 <= i + d < n and eff[i] >= abs(d) else 99 for d in offsets] for i in range(n)]
        keep = [i for i in range(n) if any(x != 99 for x in rows[i])]
        ctx, centre = cbow_examples(tokens, eff, window, pad=99)
        assert ctx.shape == (len(keep), 2 * window) and ctx.dtype == np.int32
        assert ctx.tolist() == [rows[i] for i in keep] and centre.tolist() == tokens[keep].tolist()


@pytest.mark.parametrize("window", [1, 2, 5])
def test_skipgram_pairs_equal_the_definition(window):
    """Every (centre i, context j) with 0 < |i - j| <= the centre's reduced window, once."""
    rng = np.random.default_rng(window)
    for n in (0, 1, 2, 3, 50):
        tokens = rng.integers(0, 20, n).astype(np.int32)
        eff = rng.integers(1, window + 1, n).astype(np.int32)
        want = sorted((int(tokens[i]), int(tokens[j])) for i in range(n) for j in range(n)
                      if 0 < abs(i - j) <= eff[i])
        c, x = skipgram_pairs(tokens, eff, window).T
        assert c.dtype == x.dtype == np.int32 and sorted(zip(c.tolist(), x.tolist())) == want


def test_cbow_examples_shuffled_while_built_equal_shuffled_after():
    """cbow_examples(..., rng) gives the rows in rng.permutation's order, bit for bit as
    shuffling the unshuffled result with the same generator (the batches a seed gives)."""
    gen = np.random.default_rng(7)
    for n in (0, 1, 2, 5, 300):
        for pad in (20, 3):  # 3: some tokens equal the pad id, so rows may drop
            tokens = gen.integers(0, 20, n).astype(np.int32)
            eff = gen.integers(1, 4, n).astype(np.int32)
            ctx, centre = cbow_examples(tokens, eff, 3, pad)
            order = np.random.default_rng(n).permutation(len(centre))
            got_ctx, got_centre = cbow_examples(tokens, eff, 3, pad, rng=np.random.default_rng(n))
            assert np.array_equal(got_ctx, ctx[order]) and np.array_equal(got_centre, centre[order])
            assert got_ctx.flags.c_contiguous and got_ctx.dtype == np.int32


def test_failure_window_checks_a_file_at_once_and_waits_only_for_small_ones(tmp_path):
    """Bad input fails before TensorFlow's import: a missing, binary or folder path at once; a
    tiny file gets the window to fail in preparation; a larger one none (waiting would only
    delay its first run: a 1 MB file at the default threshold)."""
    from omegaconf import OmegaConf

    from w2vexp.data import failure_window

    def data(path):
        return OmegaConf.create({"name": "file", "path": str(path), "cache_dir": str(tmp_path / "cache")})

    small, big, binary = tmp_path / "small.txt", tmp_path / "big.txt", tmp_path / "binary.txt"
    small.write_text("a few words\n")
    big.write_text("word " * (1 << 20))
    binary.write_bytes(b"text\x00more")
    assert failure_window(data(small), window=0.3) == 0.3
    assert failure_window(data(big), small_bytes=1 << 20) == 0.0
    medium = tmp_path / "medium.txt"
    medium.write_text("word " * (1 << 18))
    assert failure_window(data(medium)) == 0.0
    for bad, says in ((tmp_path / "missing.txt", "does not exist"), (binary, "binary"), (tmp_path, "regular file")):
        with pytest.raises(DataError, match=says):
            failure_window(data(bad))
    assert failure_window(OmegaConf.create({"name": "wiki_sample"}), window=0.3) == 0.3


def test_prefetch_converts_blocks_in_its_own_thread():
    """The trainer's conversion to tensors (a copy TensorFlow makes) runs in the batch thread,
    not in the training thread that waits for the kernel."""
    import threading

    ids = np.random.default_rng(1).zipf(1.5, 5000).clip(max=49).astype(np.int32)
    direct = _stream(ids)
    seen = []
    blocks = list(prefetch(_stream(ids), iter([2, 3]), convert=lambda a: (seen.append(threading.current_thread().name),
                                                                              a * 2)[1]))
    for blk, k in zip(blocks, [2, 3]):
        x, y, _ = direct.take(k)
        assert np.array_equal(blk.inputs, x * 2) and np.array_equal(blk.labels, y * 2)
    assert seen == ["w2vexp-batches"] * 4


def test_a_skipgram_chunk_is_its_pairs_in_the_order_of_a_permutation():
    """The stream shuffles a chunk's pairs in place; the result is the pairs taken in the order
    of rng.permutation (the same draws), so a seed's batches are those of the definition."""
    ids = np.random.default_rng(4).zipf(1.5, 3000).clip(max=49).astype(np.int32)
    s = _stream(ids, chunk_tokens=1000)
    for c in range(3):
        rng = np.random.default_rng([s.seed, 1, c, 0x77327665])
        raw = ids[c * 1000:(c + 1) * 1000]
        tokens = raw[rng.random(len(raw)) < s.keep[raw]]
        eff = reduced_windows(len(tokens), s.window, rng)
        pairs = skipgram_pairs(tokens, eff, s.window)
        want = pairs[rng.permutation(len(pairs))]
        inputs, labels, n_raw = s.chunk(1, c)
        assert np.array_equal(inputs, want[:, 0]) and np.array_equal(labels, want[:, 1]) and n_raw == 1000
