"""The training loop's scalars, written in batches by one compiled call, and the evaluation's
scalars and text, written as one summary, are the events that eager `tf.summary.scalar` and
`tf.summary.text` calls write (read back by TensorBoard's own reader)."""
from __future__ import annotations

import numpy as np


def _events(folder) -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return {tag: ([(e.step, tensor_util.make_ndarray(e.tensor_proto).tolist()) for e in acc.Tensors(tag)],
                  acc.SummaryMetadata(tag).plugin_data.plugin_name)
            for tag in acc.Tags()["tensors"]}


def test_batched_scalars_are_tf_summary_scalar_events(tmp_path):
    from w2vexp.summaries import EAGER_ROWS, SCALARS, Summaries
    from w2vexp.tfsetup import import_tensorflow

    tf = import_tensorflow()
    rng = np.random.default_rng(0)
    # more steps than EAGER_ROWS: written eagerly first, then by the compiled call
    logged = [(s, float(rng.normal()), float(rng.uniform()), float(rng.uniform(1e5, 1e6))) for s in range(10, 1210, 10)]
    eager = tf.summary.create_file_writer(str(tmp_path / "eager"))
    with eager.as_default():
        for step, *values in logged:
            for tag, v in zip(SCALARS, values):
                tf.summary.scalar(tag, v, step=step)
    eager.close()
    for seconds in (0.0, 1e9):  # written at once (eagerly, then compiled), or only when flushed (compiled)
        summaries = Summaries(tf, tmp_path / f"batched-{seconds}", None, [], [], scalar_seconds=seconds)
        for step, *values in logged:
            summaries.scalars(step, *values)
        summaries.close()
        assert summaries._write_scalars is not None and summaries._eager_rows == (EAGER_ROWS if seconds == 0 else 0)
        got = _events(tmp_path / f"batched-{seconds}")
        assert got == _events(tmp_path / "eager")
        assert set(got) == set(SCALARS) and all(plugin == "scalars" for _, plugin in got.values())
        assert [s for s, _ in got["loss"][0]] == list(range(10, 1210, 10))


def test_evaluation_summary_is_tf_summary_scalar_and_text_events(tmp_path):
    from w2vexp.summaries import Summaries
    from w2vexp.tfsetup import import_tensorflow

    tf = import_tensorflow()
    values = {"eval/analogy_acc": 0.0207, "eval/ws353": 0.285, "eval/ws353_lo": -0.125}
    text = "| word | nearest neighbours |\n| --- | --- |\n| three | four (0.93), f\u00fcnf (0.91) |"
    eager = tf.summary.create_file_writer(str(tmp_path / "eager"))
    with eager.as_default(step=1731):
        for tag, v in values.items():
            tf.summary.scalar(tag, v)
        tf.summary.text("nearest_neighbours", text)
    eager.close()
    summaries = Summaries(tf, tmp_path / "once", None, [], [])
    summaries._write_at_once(1731, values, {"nearest_neighbours": text})
    summaries.close()
    got = _events(tmp_path / "once")
    assert got == _events(tmp_path / "eager")
    assert got["nearest_neighbours"] == ([(1731, text.encode())], "text")


def test_hparams_summaries_are_the_plugins_own_events(tmp_path):
    """`Summaries.start` writes the HParams plugin's protos itself: the same events as the
    plugin's `hparams_config` and `hparams` (start times aside), read back raw."""
    import glob

    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.hparams import plugin_data_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp

    from w2vexp.evaluate import METRICS
    from w2vexp.summaries import Summaries
    from w2vexp.tfsetup import import_tensorflow

    tf = import_tensorflow()
    hparams = {"model": "cbow", "lr": 0.5, "batch_size": 64, "train.threads": 2}

    def events(folder):
        out = []
        for f in sorted(glob.glob(str(folder / "events*"))):
            for record in tf.data.TFRecordDataset(f):
                event = event_pb2.Event.FromString(record.numpy())
                event.wall_time = 0
                for v in event.summary.value:
                    if v.metadata.plugin_data.plugin_name == "hparams":
                        data = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
                        data.session_start_info.start_time_secs = 0
                        data.experiment.time_created_secs = 0
                        v.metadata.plugin_data.content = data.SerializeToString()
                if event.summary.value:
                    out.append(event.SerializeToString())
        return out

    plugin = tf.summary.create_file_writer(str(tmp_path / "plugin"))
    with plugin.as_default(step=0):
        hp.hparams_config(hparams=[hp.HParam(k) for k in hparams],
                          metrics=[hp.Metric(f"eval/{m}") for m in METRICS] + [hp.Metric("loss")])
        hp.hparams(hparams, trial_id="group-1")
    plugin.close()
    summaries = Summaries(tf, tmp_path / "ours", None, [], [])
    graph = tf.function(lambda x: x + 1).get_concrete_function(tf.TensorSpec([], tf.float32)).graph
    summaries.start(hparams, "group-1", graph)
    summaries.close()
    ours, theirs = events(tmp_path / "ours"), events(tmp_path / "plugin")
    assert len(theirs) == 2 and ours[-2:] == theirs
