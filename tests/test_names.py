"""Run-folder names (SPEC section 3): safe for TensorBoard's web page, one level, bounded, stable."""
from __future__ import annotations

import re

from w2vexp.names import MAX_BYTES, run_dirname

SAFE = re.compile(r"[A-Za-z0-9._=,:@-]+")


def test_plain_overrides_keep_hydras_override_dirname_form():
    assert run_dirname([]) == "default"
    assert run_dirname(["lr=0.5"]) == "lr=0.5"
    assert run_dirname(["seed=1", "lr=0.5", "name=x", "resume=never", "train.log_every=5"]) == "lr=0.5,seed=1"
    assert run_dirname(["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "lr=1.0"]) == "lr=1.0"


def test_a_plus_never_shows_and_means_the_same_run():
    assert run_dirname(["+experiment=quick"]) == run_dirname(["experiment=quick"]) == "experiment=quick"


def test_a_path_shows_as_its_file_name_with_a_hash():
    a = run_dirname(["data=file", "data.path=/home/me/my corpus.txt"])
    b = run_dirname(["data=file", "data.path=/home/you/my corpus.txt"])
    assert SAFE.fullmatch(a) and "/" not in a and a.startswith("data.path=my_corpus.txt@")
    assert a != b  # the same file name in two folders: two runs


def test_unsafe_characters_are_replaced_and_still_tell_runs_apart():
    names = {run_dirname([f"probe_words={v}"]) for v in ("[a,b]", "(a,b)", "a+b", "a b", "a_b")}
    assert len(names) == 5 and all(SAFE.fullmatch(n) for n in names)
    assert run_dirname(["probe_words=a_b"]) == "probe_words=a_b"  # safe values stay as they are


def test_long_names_become_a_prefix_and_a_hash():
    long = [f"key{i}=" + "1" * 40 for i in range(10)]
    name = run_dirname(long)
    assert len(name.encode()) <= MAX_BYTES and SAFE.fullmatch(name) and name.startswith("key0=")
    other = run_dirname(long[:-1] + ["key9=" + "1" * 39 + "2"])
    assert other != name and len(other.encode()) <= MAX_BYTES
    assert run_dirname(list(reversed(long))) == name  # order on the command line does not matter


def test_a_run_and_the_same_job_of_a_multirun_get_one_name():
    # a multirun job's overrides are Hydra's re-printed values (floats normalised, strings quoted)
    typed = ["lr=0.50", "keep_unk=false", "data.path=/tmp/a b/lee corpus.txt"]
    swept = ["lr=0.5", "keep_unk=False", "data.path='/tmp/a b/lee corpus.txt'"]
    assert run_dirname(typed) == run_dirname(swept)
