"""TensorBoard itself, over its HTTP API on 127.0.0.1, shows what a sweep wrote."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

pytestmark = pytest.mark.slow


class TensorBoard:
    def __init__(self, logdir) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        end = time.time() + 90
        while time.time() < end:
            try:
                if len(self.get("/data/runs")) >= 4:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        time.sleep(2)

    def get(self, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-XSRF-Protected": "1"} if data else {}
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data, headers),
                                    timeout=30) as r:
            raw = r.read()
        try:
            return json.loads(raw)
        except ValueError:
            return raw

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


def test_tensorboard_shows_scalars_eval_text_graph_hparams_and_projector(cli):
    p = cli("w2vexp.run", "name=tb", "lr=0.5,1.0", "seed=1,2", "train.steps=200", "train.eval_every=100", "-m")
    assert p.returncode == 0, p.stdout[-3000:]
    tb = TensorBoard(cli.dir / "outputs" / "tb")
    runs = [f"lr={lr},seed={s},train.eval_every=100,train.steps=200" for lr in ("0.5", "1.0") for s in (1, 2)]
    try:
        assert sorted(tb.get("/data/runs")) == runs
        tags = tb.get("/data/plugin/scalars/tags")
        for run in runs:
            assert {"loss", "lr", "words_per_sec", "eval/analogy_acc", "eval/ws353", "eval/simlex"} <= set(tags[run])
            pts = tb.get(f"/data/plugin/scalars/scalars?run={urllib.parse.quote(run)}&tag=eval%2Fws353")
            assert [x[1] for x in pts] == [100, 200]
        assert all(tb.get("/data/plugin/histograms/tags").get(r) for r in runs)
        assert all(tb.get("/data/plugin/text/tags").get(r) for r in runs)
        assert all(r in tb.get("/data/plugin/graphs/info") for r in runs)
        exp = tb.get("/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {"lr", "loss", "model", "train.steps"} <= {h["name"] for h in exp["hparamInfos"]}
        assert any("analogy" in m["name"]["tag"] for m in exp["metricInfos"])
        groups = tb.get("/data/plugin/hparams/session_groups", {
            "experimentName": "", "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE",
                                                      "STATUS_RUNNING"],
            "colParams": [], "startIndex": 0, "sliceSize": 100})
        # runs that differ only by seed are one session group (one row) with a session per seed
        assert sorted(g["hparams"]["lr"] for g in groups["sessionGroups"]) == [0.5, 1.0]
        assert all(len(g["sessions"]) == 2 for g in groups["sessionGroups"])
        assert all("seed" not in g["hparams"] for g in groups["sessionGroups"])
        assert sorted(tb.get("/data/plugin/projector/runs")) == runs
        info = tb.get(f"/data/plugin/projector/info?run={urllib.parse.quote(runs[0])}")
        emb = info["embeddings"][0]
        assert emb["tensorName"] == "word_embeddings" and emb["metadataPath"]
        tensor = tb.get(f"/data/plugin/projector/tensor?run={urllib.parse.quote(runs[0])}&name=word_embeddings")
        vocab = (cli.dir / "outputs" / "tb" / runs[0] / "vocab.tsv").read_text().splitlines()
        assert len(tensor) == len(vocab) * 32 * 4
        # the histogram of the embedding matrix counts every one of its V x D values
        hist = tb.get(f"/data/plugin/histograms/histograms?run={urllib.parse.quote(runs[0])}&tag=embed%2Fembed_matrix")
        assert hist[-1][1] == 200 and sum(b[2] for b in hist[-1][2]) == len(vocab) * 32
        assert all(left <= right for left, right, _ in hist[-1][2])
    finally:
        tb.close()
