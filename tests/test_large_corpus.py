"""Corpora larger than memory: the prepared ids are read through memory-mapped windows, so the
batch pipeline runs under an address-space limit smaller than the id file itself."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.slow

N_TOKENS = 160_000_000  # 640 MB of int32 ids
LIMIT = 512 << 20  # 512 MiB of address space for the whole Python process


def test_batches_stream_from_an_id_file_larger_than_the_memory_limit(tmp_path):
    ids = np.lib.format.open_memmap(tmp_path / "ids.npy", mode="w+", dtype=np.int32, shape=(N_TOKENS,))
    rng = np.random.default_rng(0)
    block = rng.zipf(1.3, 4_000_000).clip(max=999).astype(np.int32) - 1
    for start in range(0, N_TOKENS, len(block)):
        ids[start:start + len(block)] = block[: N_TOKENS - start]
    ids.flush()
    del ids
    counts = np.bincount(block, minlength=999).astype(np.int64) * (N_TOKENS // len(block))
    np.save(tmp_path / "counts.npy", counts)
    assert (tmp_path / "ids.npy").stat().st_size > LIMIT
    script = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, ({LIMIT}, {LIMIT}))
        import numpy as np
        from w2vexp.data import IdFile
        from w2vexp.batches import ExampleStream
        ids = IdFile(r"{tmp_path / 'ids.npy'}")
        counts = np.load(r"{tmp_path / 'counts.npy'}")
        try:
            np.ones({N_TOKENS}, np.int32)  # the limit is real: the whole corpus does not fit
            sys.exit("the memory limit did not hold")
        except MemoryError:
            pass
        s = ExampleStream(ids, counts, model="skipgram", window=5, sample=1e-3, batch_size=4096, seed=1,
                          chunk_tokens=2_000_000, pad=999)
        s.pos.chunk = s.n_chunks - 1  # the far end of the file, then round into the next epoch
        words = 0.0
        for _ in range(400):
            x, y, w = s.take(10)
            words += w
            if s.pos.epoch == 1 and s.pos.chunk == 1:
                break
        assert x.shape == (10, 4096) and (s.pos.epoch, s.pos.chunk) == (1, 1), s.pos
        print("ok", len(ids), s.examples_per_epoch() > len(ids), int(words))
    """)
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith(f"ok {N_TOKENS} True")
