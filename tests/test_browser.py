"""TensorBoard's pages in a real browser (headless Chromium driven by selenium).

The HTTP API answers for any run name once it is URL-encoded, but TensorBoard's own web page
puts run names into its URLs as they are: a '+' arrives as a space and the Projector stays on
"Fetching projector config...". So this test loads the Scalars, HParams and Projector pages
of a sweep whose run names use every character a name may hold (A-Za-z0-9._=,:@-) and waits
for what a person would see: the runs listed, one HParams row per run, "Points: N".
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

# the text of a page, through shadow roots, without style and script
DEEP_TEXT = """
function walk(n, out) {
  if (n.shadowRoot) walk(n.shadowRoot, out);
  for (const c of n.childNodes) {
    if (c.nodeType === 3) out.push(c.textContent);
    else if (!['STYLE', 'SCRIPT', 'TEMPLATE'].includes(c.tagName)) walk(c, out);
  }
}
const out = []; walk(document.documentElement, out); return out.join(' ').replace(/\\s+/g, ' ');
"""
FRAMES = """
function walk(n, out) {
  if (n.shadowRoot) walk(n.shadowRoot, out);
  for (const c of n.children || []) { if (c.tagName === 'IFRAME') out.push(c); walk(c, out); }
}
const out = []; walk(document.documentElement, out); return out;
"""


def _need_browser():
    missing = [n for n, p in (("chromium", CHROMIUM), ("chromedriver", DRIVER)) if not p]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if missing:
        msg = f"needs {', '.join(missing)} (apt-get install chromium chromium-driver; pip install selenium)"
        if os.environ.get("CI"):
            pytest.fail(msg)  # CI installs them: a missing browser there is a broken CI script
        pytest.skip(msg)


def _page_text(driver) -> str:
    """All text of the page and of the frames inside it (the Projector lives in nested frames)."""
    text = driver.execute_script(DEEP_TEXT)
    for frame in driver.execute_script(FRAMES):
        driver.switch_to.frame(frame)
        try:
            text += " " + _page_text(driver)
        finally:
            driver.switch_to.parent_frame()
    return text


def _wait_for(driver, pattern: str, timeout: float = 90) -> re.Match:
    deadline = time.time() + timeout
    text = ""
    while time.time() < deadline:
        text = _page_text(driver)
        m = re.search(pattern, text)
        if m:
            return m
        time.sleep(1)
    raise AssertionError(f"the page never showed {pattern!r}; it showed: {text[-1500:]}")


@pytest.fixture
def browser():
    _need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    opts = Options()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def tensorboard():
    procs = []

    def start(logdir) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        procs.append(subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                                       "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return f"http://127.0.0.1:{port}/"

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=30)


def test_scalars_histograms_hparams_and_projector_load_in_chromium_for_every_allowed_character(
        cli, browser, tensorboard, tmp_path):
    from gensim.test.utils import datapath

    corpus = tmp_path / "texts" / "Lee:corpus-1_x.txt"
    corpus.parent.mkdir()
    shutil.copy(datapath("lee_background.cor"), corpus)
    p = cli("w2vexp.run", "name=browser", "experiment=quick", "keep_unk=false", "data=file", f"data.path={corpus}",
            "lr=0.5,1.0", "train.steps=200", "-m", timeout=900)
    assert p.returncode == 0, p.stdout[-3000:]
    sweep = cli.dir / "outputs" / "browser"
    runs = sorted(d.name for d in sweep.iterdir() if (d / "run.json").is_file())
    assert len(runs) == 2
    used = set("".join(runs))
    for group in ("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", "0123456789", ".", "_", "=", ",", ":",
                  "@", "-"):
        assert used & set(group), f"the run names use no {group!r}: {runs}"
    points = sum(1 for line in (sweep / runs[0] / "vocab.tsv").read_text().splitlines() if line)

    url = tensorboard(sweep)
    deadline = time.time() + 90
    while True:  # TensorBoard is up
        try:
            browser.get(url)
            break
        except Exception:  # noqa: BLE001
            if time.time() > deadline:
                raise
            time.sleep(1)

    browser.get(url + "#scalars")
    for run in runs:
        _wait_for(browser, re.escape(run))
    _wait_for(browser, r"tag: loss")
    browser.save_screenshot(str(tmp_path / "scalars.png"))

    browser.get(url + "#histograms")  # the matrices' histograms, counted by NumPy
    _wait_for(browser, r"embed/embed_matrix")
    for run in runs:
        _wait_for(browser, re.escape(run))
    browser.save_screenshot(str(tmp_path / "histograms.png"))

    browser.get(url + "#text")  # the final evaluation's table of the probe words' nearest neighbours
    _wait_for(browser, r"nearest_neighbours")
    _wait_for(browser, r"nearest neighbours")  # the table's header, rendered
    _wait_for(browser, r"\w+ \((-|−)?[01]\.\d\d\)")  # a neighbour and its cosine
    browser.save_screenshot(str(tmp_path / "text.png"))

    browser.get(url + "#hparams")
    _wait_for(browser, r"Number of matching session groups: 2")
    for run in runs:
        _wait_for(browser, re.escape(run))
    browser.save_screenshot(str(tmp_path / "hparams.png"))

    browser.get(url + "#projector")
    m = _wait_for(browser, r"Points: ([1-9][0-9]*)")  # "Points: 0" and "Loading..." come first
    browser.save_screenshot(str(tmp_path / "projector.png"))
    assert int(m.group(1)) == points
    assert "Fetching projector config" not in _page_text(browser)
