"""The sweep report: one self-contained HTML page that renders in a real browser (headless
Chromium): the table with intervals and marks, and every picture embedded and decoded."""
from __future__ import annotations

import pytest

from test_browser import browser  # noqa: F401 - the headless Chromium fixture

pytestmark = pytest.mark.slow

IMAGES = """return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);"""
ROWS = """return Array.from(document.querySelectorAll('table')).map(t => t.rows.length);"""


def test_report_renders_in_chromium(cli, browser):  # noqa: F811
    p = cli("w2vexp.run", "-m", "name=rep", "experiment=quick", "train.steps=400", "window=2,5", "seed=1,2")
    assert p.returncode == 0, p.stdout[-2000:]
    p = cli("w2vexp.report", "outputs/rep", smoke=False)
    assert p.returncode == 0, p.stdout[-2000:]
    page = cli.dir / "outputs" / "rep" / "report.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # self-contained: nothing to fetch
    browser.get(page.as_uri())
    assert browser.title == "w2vexp report: rep"
    body = browser.find_element("tag name", "body").text
    assert "vs best" in body and "best" in body and "t-SNE map of the best run" in body
    assert "[" in body and "±" in body  # intervals and seed spread in the table
    assert browser.execute_script(ROWS) == [3, 3]  # header + 2 configs (seeds folded), runs and paper tables
    images = browser.execute_script(IMAGES)
    assert sorted(i[0] for i in images) == ["curves", "stability", "tsne"]
    for alt, complete, w, h in images:
        assert complete and w > 300 and h > 200, (alt, w, h)  # decoded: a broken data URI has no size


def test_real_seeds_are_less_than_perfectly_stable(cli):
    """Two real seeds of one config share far from all neighbours (tests/test_stability.py:
    identical runs give exactly 1.0)."""
    from w2vexp.stability import stability

    p = cli("w2vexp.run", "-m", "name=seeds", "experiment=quick", "train.steps=400", "seed=1,2")
    assert p.returncode == 0, p.stdout[-2000:]
    (r,) = stability(cli.dir / "outputs" / "seeds").values()
    assert r["runs"] == 2 and 0.0 < r["overlap"].mean() < 0.9 and r["distance"].mean() > 0.001
