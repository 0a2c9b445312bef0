"""Every config composes and validates; bad values are named; conf/ is found from anywhere."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

import w2vexp.cli.run  # noqa: F401 - registers the schema and the run-folder resolver
from w2vexp.config import compose, conf_dir, validate
from w2vexp.errors import UserError

CONF = conf_dir()
GROUPS = ["model", "loss", "optimizer", "data"]


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def _compose(*overrides: str):
    return compose(overrides)


def test_conf_dir_is_the_repository_conf():
    assert (CONF / "config.yaml").is_file()
    assert CONF.name in ("conf", "_conf")


def test_default_config_composes_and_validates():
    cfg = _compose()
    validate(cfg)
    assert cfg.model.name == "skipgram" and cfg.loss.name == "neg" and cfg.optimizer.name == "sgd"
    assert cfg.data.name == "wiki_sample" and cfg.seed == 42 and cfg.name == "default"
    assert cfg.deterministic is True and cfg.resume == "auto"


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes(group, option):
    extra = ["data.path=/tmp/x.txt"] if (group, option) == ("data", "file") else []
    cfg = _compose(f"{group}={option}", *extra)
    validate(cfg)
    assert cfg[group].name == option


@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_experiment_preset_composes(preset):
    cfg = _compose(f"experiment={preset}")
    validate(cfg)


@pytest.mark.parametrize("loss", _options("loss"))
@pytest.mark.parametrize("optimizer", _options("optimizer"))
def test_every_loss_optimizer_pair_gets_a_learning_rate(loss, optimizer):
    from w2vexp.auto import resolve

    cfg = _compose(f"loss={loss}", f"optimizer={optimizer}")
    assert cfg.lr is None
    resolve(cfg, examples_per_epoch=1e6)
    assert cfg.lr > 0 and cfg.batch_size >= 128


def test_the_rule_keeps_groups_that_divide_the_batch_and_shrinks_batches_for_small_corpora():
    from w2vexp.auto import resolve

    cfg = _compose()
    assert resolve(cfg, examples_per_epoch=1e6) == {"batch_size": 4096, "lr": 1.75, "loss.shared_negatives": 8,
                                                    "loss.negative_groups": 16}
    cfg = _compose("model=cbow")  # a CBOW example is a whole window: a pool per 128 of them
    assert resolve(cfg, examples_per_epoch=1e7) == {"batch_size": 1024, "lr": 2.0, "loss.shared_negatives": 8,
                                                    "loss.negative_groups": 8}
    cfg = _compose()
    assert resolve(cfg, examples_per_epoch=50_000)["batch_size"] == 128  # >= 200 steps an epoch when it can
    cfg = _compose("batch_size=768", "lr=0.5")
    chosen = resolve(cfg, examples_per_epoch=1e7)
    assert "batch_size" not in chosen and "lr" not in chosen and cfg.batch_size % cfg.loss.negative_groups == 0


def test_sgds_lr_shrinks_when_one_word_dominates_the_examples():
    """Subsampled corpora (the most frequent word at most 3.1 % of the examples) keep the tuned
    lr; without subsampling (wiki_sample: 7.8 %) it shrinks in proportion, adaptive optimizers
    keep theirs."""
    from w2vexp.auto import resolve

    assert resolve(_compose(), 1e6, max_share=0.0144)["lr"] == 1.75
    assert resolve(_compose(), 1e6, max_share=0.078)["lr"] == pytest.approx(1.75 * 0.031 / 0.078, abs=1e-4)
    assert resolve(_compose("optimizer=adam"), 1e7, max_share=0.078)["lr"] == 0.01


def test_skipgrams_lr_shrinks_with_the_runs_length():
    """Skip-gram with sgd and neg keeps LR up to LONG_RUN_STEPS steps and takes a smaller
    constant step on longer runs (the docstring corpus's 28.6k steps: 1.1807); CBOW, another
    schedule, another optimizer or a set lr keep theirs; train.steps counts when set."""
    from w2vexp.auto import LONG_RUN_STEPS, resolve

    examples = lambda steps: steps * 4096 / 5  # noqa: E731 - an epoch's examples for `steps` steps of 4096 in 5 epochs
    assert resolve(_compose(), examples(LONG_RUN_STEPS))["lr"] == 1.75
    assert resolve(_compose(), examples(28_608))["lr"] == 1.1807
    assert resolve(_compose(), examples(28_608), max_share=0.062)["lr"] == pytest.approx(1.1807 / 2, abs=1e-4)
    assert resolve(_compose("train.steps=2000"), examples(28_608))["lr"] == 1.75
    assert resolve(_compose("model=cbow"), 1e9)["lr"] == 2.0
    assert resolve(_compose("optimizer.schedule=linear"), examples(28_608))["lr"] == 1.75
    assert resolve(_compose("optimizer=adagrad"), examples(28_608))["lr"] == 0.5
    assert "lr" not in resolve(_compose("lr=1.75"), examples(28_608))


def test_experiment_paper_table1_sweeps_the_papers_grid():
    for variant, loss, k in (("neg5", "neg", 5), ("neg15", "neg", 15), ("nce5", "nce", 5), ("hs", "hs", None)):
        c = _compose("experiment=paper_table1", f"table1={variant}")
        assert c.loss.name == loss and c.name == "paper_table1" and c.lr is None
        assert k is None or c.loss.num_sampled == k
    from omegaconf import OmegaConf

    sweep = OmegaConf.load(CONF / "experiment" / "paper_table1.yaml").hydra.sweeper.params
    assert sweep == {"table1": "neg5,neg15,hs,nce5", "subsample": "0,1e-5", "seed": "1,2,3"}


@pytest.mark.parametrize("override,key", [
    ("lr=-1", "lr"), ("window=0", "window"), ("batch_size=0", "batch_size"), ("embed_size=-5", "embed_size"),
    ("loss.num_sampled=100000000", "num_sampled"), ("subsample=1.5", "subsample"), ("resume=sometimes", "resume"),
    ("train.checkpoint_every=0", "train.checkpoint_every"), ("vocab_size=1", "vocab_size"),
    ("batch_size=512 loss.negative_groups=3", "loss.negative_groups"),
])
def test_out_of_range_values_are_named(override, key):
    cfg = _compose(*override.split())
    with pytest.raises(UserError, match=key):
        validate(cfg)


def test_types_are_enforced_at_composition():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="lr"):
        _compose("lr=abc")
    with pytest.raises(ConfigCompositionException, match="no_such_key"):
        _compose("no_such_key=1")


def test_config_is_fully_typed():
    cfg = _compose()
    assert OmegaConf.get_type(cfg.train).__name__ == "TrainConfig"
    assert OmegaConf.get_type(cfg.loss).__name__ == "NegConfig"
    assert OmegaConf.get_type(_compose("optimizer=adam").optimizer).__name__ == "AdamConfig"


def test_a_key_of_another_choice_is_refused():
    """One schema per choice: sgd has no beta1, hs no num_sampled."""
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match="beta1"):
        _compose("optimizer=sgd", "optimizer.beta1=0.5")
    with pytest.raises(ConfigCompositionException, match="num_sampled"):
        _compose("loss=hs", "loss.num_sampled=5")


def test_every_choice_has_its_implementation():
    """The names of config.CHOICES are the keys of losses.LOSSES and optim.OPTIMIZERS."""
    from w2vexp.config import CHOICES
    from w2vexp.losses import LOSSES
    from w2vexp.optim import OPTIMIZERS

    assert list(LOSSES) == list(CHOICES["loss"]) and list(OPTIMIZERS) == list(CHOICES["optimizer"])


def test_conf_found_from_another_directory(tmp_path):
    p = subprocess.run([sys.executable, "-m", "w2vexp.run", "--cfg", "job"], cwd=tmp_path, text=True,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "skipgram" in p.stdout and "wiki_sample" in p.stdout


@pytest.mark.parametrize("argv,bad", [(["loss=foo"], "loss=foo"), (["model=skipgram,cbw", "-m"], "model=cbw"),
                                      (["+experiment=nope"], "experiment=nope")])
def test_unknown_group_choices_are_one_line_naming_the_allowed_values(argv, bad, capsys):
    from w2vexp.cli.run import check_group_choices

    with pytest.raises(SystemExit) as e:
        check_group_choices(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and bad in err and "is one of" in err


def test_known_group_choices_and_sweeper_syntax_pass():
    from w2vexp.cli.run import check_group_choices

    check_group_choices(["loss=nce,neg", "model=cbow", "hydra/launcher=joblib", "loss=choice(nce,neg)",
                         "+experiment=lecture", "hparams_search=optuna", "lr=0.5"])


@pytest.mark.slow
def test_a_non_editable_install_ships_and_finds_conf(tmp_path):
    """The wheel carries conf/ as w2vexp/_conf, and the installed package finds it from anywhere."""
    pytest.importorskip("setuptools")
    import zipfile

    root = Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "-w", str(tmp_path / "dist"), str(root)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("w2vexp-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    assert (site / "w2vexp" / "_conf" / "config.yaml").is_file()
    env = dict(__import__("os").environ, PYTHONPATH=str(site))
    p = subprocess.run([sys.executable, "-c", "import w2vexp.config as c; print(c.__file__); print(c.conf_dir())"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0 and str(site) in p.stdout.splitlines()[0]
    assert p.stdout.splitlines()[1] == str(site / "w2vexp" / "_conf")


def test_compile_cache_is_a_folder_per_tensorflow_version_and_off_where_it_cannot_be_written(tmp_path):
    """TensorFlow fails a compilation whose cache entry it cannot save, so an unusable cache
    folder turns the cache off instead of failing the run."""
    from w2vexp.tfsetup import compile_cache_dir

    cfg = _compose(f"data.cache_dir={tmp_path}")
    path = Path(compile_cache_dir(cfg))
    assert path.is_dir() and path.parent == tmp_path / "xla" and path.name.startswith("tf-")
    (tmp_path / "a_file").write_text("x")
    assert compile_cache_dir(_compose(f"data.cache_dir={tmp_path / 'a_file'}")) is None  # not a folder
    assert compile_cache_dir(cfg, min_free_bytes=1 << 62) is None  # disk (nearly) full
    assert compile_cache_dir(_compose(f"data.cache_dir={tmp_path}", "train.compile_cache=false")) is None


def test_a_key_of_another_choice_is_named_in_one_line(capsys):
    from w2vexp.cli.run import check_group_choices

    with pytest.raises(SystemExit) as e:
        check_group_choices(["optimizer=sgd", "optimizer.beta1=0.5"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "optimizer.beta1" in err and "optimizer.lr_batch" in err
    check_group_choices(["optimizer=adam", "optimizer.beta1=0.5"])  # adam has it


def _python(code: str, env=None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python (a first import of TensorFlow); it must succeed."""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    return p


def test_tensorflow_starts_without_keras_and_tf_keras_still_works():
    """TensorFlow's eager Keras import (1.2-1.7 s of every run: Keras pulls in scikit-learn,
    SciPy's stats and matplotlib) is skipped; `tf.keras` still loads Keras 3 when asked for.
    Garbage collection is back on after the import, with TensorFlow's objects frozen."""
    code = ("import os, sys\n"
            "from w2vexp.tfsetup import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "print(sorted(m for m in ('keras', 'sklearn', 'matplotlib', 'scipy.stats') if m in sys.modules))\n"
            "print('TF_USE_LEGACY_KERAS' in os.environ, None in tf.__path__)\n"
            "import gc\n"  # collection paused for the import only; its objects frozen, not lost
            "print(gc.isenabled(), gc.get_freeze_count() > 100_000)\n"
            "print(tf.keras.layers.Dense.__module__.split('.')[0])\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_USE_LEGACY_KERAS"}
    assert _python(code, env=env).stdout.splitlines() == ["[]", "False False", "True True", "keras"]


def test_tensorflows_api_modules_run_when_first_used():
    """`import_tensorflow` leaves TensorFlow's API modules unexecuted until first used, and most
    import each name only when it is asked for, so what a run never uses (tf.feature_column,
    tf.compat.v1's layers and optimizers, TensorFlow's legacy Keras, the TPU cluster resolver
    behind tf.config) is never imported, TensorBoard's summaries included; every name still
    works when asked for and is listed by dir(), tf.compat.v1's self-wrapping modules included
    (TensorBoard's event reader goes through tf.compat.v1.io)."""
    code = ("import sys\n"
            "from w2vexp.tfsetup import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "from tensorboard.compat import tf2\n"  # TensorBoard's summaries use tf.compat.v2
            "tf2.summary.experimental.write_raw_pb\n"
            "tf.config.threading.get_intra_op_parallelism_threads(), tf.train.CheckpointManager\n"
            "unused = ('tensorflow.python.feature_column.feature_column_v2', 'tensorflow.python.keras.models',\n"
            "          'tensorflow.python.distribute.combinations', 'tensorflow._api.v2.compat.v1.nn',\n"
            "          'tensorflow.python.training.training', 'tensorflow.python.eager.remote')\n"
            "print([m for m in unused if m in sys.modules])\n"
            "print(float(tf.reduce_sum(tf.nn.softplus(tf.zeros([2])))) > 1.38, tf.train.Checkpoint.__name__)\n"
            "print('ExponentialMovingAverage' in dir(tf.train), tf.config.__doc__.strip(), hasattr(tf.train, 'nope'))\n"
            "print(tf.config.experimental_connect_to_cluster.__name__, tf.train.experimental.__name__)\n"
            "print(tf.compat.v1.io.tf_record_iterator.__name__, tf.compat.v1.nn.dynamic_rnn.__name__)\n"
            "import tensorflow.python.keras as legacy\n"
            "print(legacy.models.Model.__name__, tf.feature_column.numeric_column.__name__)\n"
            "print(tf.__internal__.distribute.combinations.generate.__module__)\n")
    assert _python(code).stdout.splitlines() == [
        "[]", "True Checkpoint", "True Public API for tf._api.v2.config namespace False",
        "connect_to_cluster tensorflow._api.v2.train.experimental", "tf_record_iterator dynamic_rnn",
        "Model numeric_column", "tensorflow.python.distribute.combinations"]


def test_every_name_of_tensorflows_api_modules_resolves():
    """Every name of every API module that `import_tensorflow` imports name by name resolves to
    what its `from M import A` line names -- the same object as the line executed now -- and is
    listed by dir(); modules of any other form are executed as they are."""
    code = ("import glob, importlib, os\n"
            "from w2vexp.tfsetup import _ByName, _imported_names, import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "base = os.path.dirname(tf.__file__)\n"
            "by_name = names = other = 0\n"
            "for f in sorted(glob.glob(base + '/_api/v2/**/__init__.py', recursive=True)):\n"
            "    name = 'tensorflow' + f[len(base):-len('/__init__.py')].replace(os.sep, '.')\n"
            "    module = importlib.import_module(name)\n"
            "    plain = _imported_names(open(f).read())\n"
            "    if plain is None:\n"
            "        other += type(module) is not _ByName\n"
            "        continue\n"
            "    by_name += type(module) is _ByName\n"
            "    for k, line in plain[1].items():\n"
            "        ns = {}\n"
            "        exec(f'from {line[0]} import {line[1]} as x', ns)\n"
            "        assert getattr(module, k) is ns['x'] and k in dir(module), (name, k)\n"
            "        names += 1\n"
            "print(by_name > 200, other > 50, names > 5000)\n")
    assert _python(code).stdout.split() == ["True", "True", "True"]


def test_tensorflows_type_hints_are_what_typing_makes_them():
    """While TensorFlow imports, typing makes one ForwardRef per distinct type-hint string (two
    TypeVars' equal constraint strings share it): its op wrappers' TypeVars still hold
    ForwardRefs equal to fresh ones, whose code is what `compile` gives and that evaluate to
    the annotation types, and typing is left as it was."""
    code = ("import typing\n"
            "check = typing._type_check\n"
            "from w2vexp.tfsetup import import_tensorflow\n"
            "tf = import_tensorflow()\n"
            "from tensorflow.python.ops import gen_math_ops as g\n"
            "from tensorflow.security.fuzzing.py import annotation_types as atypes\n"
            "refs = g.TV_Abs_T.__constraints__ + g.TV_AccumulateNV2_T.__constraints__\n"
            "same = [type(r) is typing.ForwardRef and r == typing.ForwardRef(r.__forward_arg__)"
            " and r.__forward_code__.co_code == compile(r.__forward_arg__, '<string>', 'eval').co_code for r in refs]\n"
            "value = typing._eval_type(refs[1], {'_atypes': atypes}, None)\n"
            "a, b = g.TV_Abs_T.__constraints__[0], g.TV_AccumulateNV2_T.__constraints__[0]\n"
            "print(len(refs) > 20, all(same), value is atypes.Float32, typing._type_check is check,"
            " a.__forward_arg__ == b.__forward_arg__ and a is b)\n")
    assert _python(code).stdout.split() == ["True", "True", "True", "True", "True"]


def test_tensorflows_libraries_preload_quietly_beside_python_work():
    """`python -m w2vexp.run` loads TensorFlow's shared libraries on a thread while Hydra
    composes: Python goes on meanwhile (libc's dlopen releases the GIL), a message printed in
    that window still reaches stderr while the libraries' own start-up notices do not, fd 2 is
    the real stderr again afterwards, and TensorFlow imports and runs on the loaded libraries."""
    code = ("import os, sys, time, threading\n"
            "from w2vexp import tfsetup\n"
            "tfsetup.preload_tensorflow()\n"
            "thread = tfsetup._preload[0]\n"
            "n, t = 0, time.perf_counter()\n"
            "while thread.is_alive() and time.perf_counter() - t < 5: n += 1\n"
            "print('message in the window', file=sys.stderr)\n"
            "tfsetup.finish_preload()\n"
            "os.write(2, b'fd 2 is back\\n')\n"
            "tf = tfsetup.import_tensorflow()\n"
            "print(n > 10_000, int(tf.reduce_sum(tf.range(4))))\n")
    p = _python(code)
    assert p.stdout.split() == ["True", "6"]
    assert p.stderr.splitlines() == ["message in the window", "fd 2 is back"]
    # Python's stderr captured elsewhere (not fd 2), or missing: left as it is, fd 2 still quiet
    for stream in ("io.StringIO()", "None"):
        code = ("import io, os, sys\n"
                "from w2vexp import tfsetup\n"
                f"sys.stderr = {stream}\n"
                "tfsetup.preload_tensorflow()\n"
                "if sys.stderr is not None: print('captured', file=sys.stderr)\n"
                "tfsetup.finish_preload()\n"
                "sys.stdout.write(sys.stderr.getvalue() if sys.stderr is not None else 'none\\n')\n"
                "os.write(2, b'fd 2 is back\\n')\n")
        p = _python(code)
        assert p.stdout.split() == (["captured"] if stream != "None" else ["none"])
        assert p.stderr.splitlines() == ["fd 2 is back"]


def test_the_run_command_loads_tensorflows_libraries_beside_hydra_without_waiting(tmp_path):
    """`python -m w2vexp.run` starts loading TensorFlow's libraries before it imports Hydra, and
    nothing it does until the run begins (importing the command, Hydra's composition, its job
    set-up) loads a C extension module that `tfsetup.EXTENSIONS_FIRST` did not load before:
    such a module's dlopen would wait for all of TensorFlow's libraries (libc's loader lock).
    The run's first import of NumPy, where this stops, comes just before it waits for them."""
    code = ("import os, runpy, sys\n"
            "from w2vexp import tfsetup\n"
            "def ext():\n"
            "    return {n for n, m in list(sys.modules.items()) if (getattr(m, '__file__', None) or '').endswith('.so')}\n"
            "seen = {}\n"
            "start = tfsetup.preload_tensorflow\n"
            "def preload():\n"
            "    start()\n"
            "    seen.setdefault('ext', ext())\n"
            "    seen.setdefault('hydra', 'hydra' in sys.modules)\n"
            "tfsetup.preload_tensorflow = preload\n"
            "def hook(event, args):\n"
            "    if event == 'import' and args[0] == 'numpy' and 'numpy' not in sys.modules:\n"
            "        print(seen.get('hydra'), sorted(ext() - seen.get('ext', set())), flush=True)\n"
            "        os._exit(0)\n"
            "sys.addaudithook(hook)\n"
            "sys.argv = ['w2vexp.run', 'data=file', 'data.path=x.txt', 'model=cbow']\n"
            "runpy.run_module('w2vexp.run', run_name='__main__')\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert p.stdout.strip() == "False []", p.stdout + p.stderr[-2000:]


@pytest.mark.parametrize("argv, preload", [
    ([], True), (["model=cbow", "lr=0.5,1.0", "-m"], True), (["--cfg", "job"], False), (["--help"], False),
    (["hydra/launcher=joblib", "lr=0.5,1.0", "-m"], False), (["hydra/launcher=basic", "-m"], True)])
def test_tensorflow_is_preloaded_only_for_commands_that_train_here(argv, preload):
    from w2vexp.tfsetup import in_process_training

    assert in_process_training(argv) is preload
