"""Where corpus text comes from (SPEC section 4): `wiki_sample` (the English Wikipedia text in
gensim's test data, normalised like text8), `text8` (downloaded once from `data.url`, checked
and cached) and `file` (any UTF-8 text file). Each ends as a plain text file of words, which
`w2vexp.data` prepares. Also the cache folder and its locks, which preparation shares."""
from __future__ import annotations

import bz2
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import socket
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator, Optional

from .errors import DataError

NORMALISATION_VERSION = 1  # bump when the text normalisation changes: invalidates caches
TEXT8_MEMBER = "text8"
TEXT8_LENGTH = 100_000_000  # the text8 member: the first 10^8 characters
TEXT8_ZIP_SIZE = 31_344_016  # the canonical text8.zip
WIKI_SAMPLE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"

_DIGITS = {str(d): f" {w} " for d, w in enumerate(
    "zero one two three four five six seven eight nine".split())}
_DIGIT_RE = re.compile(r"[0-9]")
_NON_AZ = re.compile(r"[^a-z]+")


def normalise_text8(text: str) -> str:
    """Normalise text the way Matt Mahoney's wikifil.pl made text8: lower-case a-z only, each
    digit spelled out ("1984" -> "one nine eight four"), everything else a single space."""
    text = _DIGIT_RE.sub(lambda m: _DIGITS[m.group(0)], text.lower())
    return _NON_AZ.sub(" ", text)


def cache_root(data_cfg) -> Path:
    """The cache folder (`data.cache_dir`, default ~/.cache/w2vexp, or $W2VEXP_CACHE_DIR)."""
    return Path(os.path.expanduser(str(data_cfg.cache_dir)))


@contextlib.contextmanager
def locked(path: Path):
    """An exclusive lock on `path` (a lock file), so parallel jobs prepare a cache entry once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_text(path: Path, chunks: Iterator[str]) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        for c in chunks:
            fh.write(c)
    os.replace(tmp, path)


def gensim_datapath(name: str) -> Path:
    """A file of gensim's test data -- what gensim.test.utils.datapath returns, without importing
    that module (it builds demo corpora and logs at import)."""
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    return Path(spec.origin).parent / "test" / "test_data" / name


def wiki_sample_path(data_cfg) -> Path:
    """The text of the shortened English Wikipedia dump in gensim's test data, normalised like
    text8 and cached (article text only: markup and redirect pages are dropped)."""
    src = gensim_datapath(WIKI_SAMPLE)
    if not src.is_file():
        raise DataError(f"gensim's test data lacks {WIKI_SAMPLE}; reinstall gensim or use data=file")
    out = cache_root(data_cfg) / "wiki_sample" / f"wiki_sample-v{NORMALISATION_VERSION}-{src.stat().st_size}.txt"
    if out.is_file():
        return out
    with locked(out.parent / (out.name + ".lock")):
        if not out.is_file():
            from gensim.corpora.wikicorpus import extract_pages, filter_wiki

            def articles() -> Iterator[str]:
                with bz2.open(src, "rb") as fh:
                    for _title, text, _pageid in extract_pages(fh):
                        if text.lstrip().lower().startswith("#redirect"):
                            continue
                        yield normalise_text8(filter_wiki(text)).strip() + "\n"
            atomic_text(out, articles())
    return out


def _download(url: str, dest: Path, size: Optional[int]) -> None:
    from tqdm import tqdm

    tmp = dest.with_name(dest.name + f".part{os.getpid()}")
    try:
        with urllib.request.urlopen(url, timeout=30) as r, open(tmp, "wb") as out:
            total = int(r.headers.get("Content-Length") or 0) or size
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}") as bar:
                while True:
                    buf = r.read(1 << 20)
                    if not buf:
                        break
                    out.write(buf)
                    bar.update(len(buf))
    except (urllib.error.URLError, socket.timeout, OSError, ValueError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or e
        raise DataError(f"cannot download text8 from {url} ({reason}); offline? Put the text in a file "
                        f"and use data=file data.path=/path/to/text8") from None
    os.replace(tmp, dest)


def _check_text8_zip(zpath: Path, size: Optional[int], sha256: Optional[str]) -> None:
    got = zpath.stat().st_size
    if size is not None and got != size:
        raise DataError(f"downloaded {zpath} has {got} bytes, expected {size} (data.size); removed it, try again")
    if sha256:
        h = hashlib.sha256()
        with open(zpath, "rb") as fh:
            for buf in iter(lambda: fh.read(1 << 20), b""):
                h.update(buf)
        if h.hexdigest() != sha256.lower():
            raise DataError(f"downloaded {zpath} has sha256 {h.hexdigest()}, expected {sha256} (data.sha256)")
    try:
        with zipfile.ZipFile(zpath) as z:
            if TEXT8_MEMBER not in z.namelist():
                raise DataError(f"{zpath} holds no member named {TEXT8_MEMBER!r}")
            bad = z.testzip()  # checks every member's CRC-32
            if bad:
                raise DataError(f"{zpath}: member {bad} fails its CRC-32 check")
    except zipfile.BadZipFile as e:
        raise DataError(f"{zpath} is not a valid zip file ({e})") from None


def text8_path(data_cfg) -> Path:
    """text8, downloaded once from `data.url` with a progress bar, checked and cached."""
    folder = cache_root(data_cfg) / "text8"
    out = folder / TEXT8_MEMBER
    if out.is_file():
        return out
    url = data_cfg.url
    if not url:
        raise DataError("data=text8 needs data.url")
    with locked(folder / "text8.lock"):
        if out.is_file():
            return out
        zpath = folder / "text8.zip"
        if not zpath.is_file():
            _download(url, zpath, data_cfg.size)
        try:
            _check_text8_zip(zpath, data_cfg.size, data_cfg.sha256)
        except DataError:
            zpath.unlink(missing_ok=True)
            raise
        tmp = out.with_name(out.name + f".tmp{os.getpid()}")
        with zipfile.ZipFile(zpath) as z, z.open(TEXT8_MEMBER) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        if data_cfg.size == TEXT8_ZIP_SIZE and tmp.stat().st_size != TEXT8_LENGTH:
            tmp.unlink()
            raise DataError(f"text8 from {url} is not {TEXT8_LENGTH} bytes long")
        os.replace(tmp, out)
    return out


def source_path(data_cfg) -> Path:
    """The plain-text file behind `data` (downloading or extracting it first if needed)."""
    if data_cfg.name == "wiki_sample":
        return wiki_sample_path(data_cfg)
    if data_cfg.name == "text8":
        return text8_path(data_cfg)
    return Path(os.path.expanduser(str(data_cfg.path)))


# ---------------------------------------------------------------- vocabulary and ids
