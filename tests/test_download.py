"""text8's real download code, against a local HTTP server on 127.0.0.1 serving a small zip."""
from __future__ import annotations

import functools
import http.server
import socket
import threading
import zipfile

import pytest

from w2vexp.config import compose
from w2vexp.data import prepare_corpus
from w2vexp.sources import text8_path
from w2vexp.errors import DataError

TEXT = ("anarchism originated as a term of abuse first used against early working class radicals " * 40).strip()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    with zipfile.ZipFile(root / "text8.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("text8", TEXT)
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root / "text8.zip", hits
    httpd.shutdown()
    httpd.server_close()


def _prepare(cfg):
    """The corpus of a config, as the pipeline prepares it."""
    from w2vexp.pipeline import vocab_of

    return prepare_corpus(cfg.data, **vocab_of(cfg))


def _cfg(tmp_path, url, size=None, sha256=None):
    cfg = compose(["data=text8", f"data.cache_dir={tmp_path / 'cache'}"])
    cfg.data.url, cfg.data.size, cfg.data.sha256 = url, size, sha256
    cfg.min_count = 1
    return cfg


def test_downloads_checks_and_caches(tmp_path, server):
    base, zpath, hits = server
    cfg = _cfg(tmp_path, f"{base}/text8.zip", size=zpath.stat().st_size)
    corpus = _prepare(cfg)
    assert corpus.raw_tokens == len(TEXT.split())
    assert corpus.words[1] in TEXT.split()
    assert (tmp_path / "cache" / "text8" / "text8").read_text() == TEXT
    n = len(hits)
    _prepare(cfg)  # cached: no second download
    assert len(hits) == n == 1


def test_wrong_size_is_refused_and_not_cached(tmp_path, server):
    base, zpath, _ = server
    cfg = _cfg(tmp_path, f"{base}/text8.zip", size=zpath.stat().st_size + 1)
    with pytest.raises(DataError, match="bytes, expected"):
        text8_path(cfg.data)
    assert not (tmp_path / "cache" / "text8" / "text8").exists()
    assert not (tmp_path / "cache" / "text8" / "text8.zip").exists()


def test_wrong_checksum_is_refused(tmp_path, server):
    base, zpath, _ = server
    cfg = _cfg(tmp_path, f"{base}/text8.zip", size=zpath.stat().st_size, sha256="0" * 64)
    with pytest.raises(DataError, match="sha256"):
        text8_path(cfg.data)


def test_offline_says_how_to_use_a_file_instead(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _cfg(tmp_path, f"http://127.0.0.1:{port}/text8.zip")
    with pytest.raises(DataError, match="data=file data.path="):
        text8_path(cfg.data)
    assert not list((tmp_path / "cache" / "text8").glob("*.part*"))
