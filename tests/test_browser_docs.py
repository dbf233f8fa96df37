"""The docs site (`make docs` -> `_site/`) works in a real browser, offline: the home page, a module page with its API
entries, a results page with its table, and the search page find what they should, with no console error and no
request to any host other than 127.0.0.1 (such requests are aborted and listed).

The site is served by `python -m http.server` on a free local port. `$ECGBENCH_SITE` points the test at another
built site (default `_site/`); without one the tests skip, saying to run `make docs` (CI builds it first).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from browser import REPO, browser_page, require_browser, static_server

pytestmark = pytest.mark.browser

SITE = Path(os.environ.get("ECGBENCH_SITE") or REPO / "_site")
MODULE_PAGE = "00_core.html"                     # nbs/00_core.ipynb
MODULE_API = ("ptbxl_dir", "figures_dir")        # functions exported by 00_core: each has an API entry
SEARCH_QUERY = "recall"


@pytest.fixture(scope="module")
def site_url(tmp_path_factory):
    require_browser()
    if not (SITE / "index.html").exists(): pytest.skip("docs site not built: run `make docs`")
    with static_server(SITE, tmp_path_factory.mktemp("http")) as url:
        yield url


@pytest.fixture()
def page(site_url, tmp_path):
    "A page in a fresh Chromium; after the test: no console error, no failed request, nothing asked of other hosts."
    with browser_page(require_browser(), tmp_path) as (p, log):
        yield p
        p.wait_for_timeout(300)   # late requests and errors of the last page
        assert not log.external_requests, f"the site asked hosts other than 127.0.0.1 (it must work offline): {log.external_requests}"
        failed = [f for f in log.failed_requests if "127.0.0.1" in f]
        assert not failed, f"requests that failed: {failed}"
        assert not log.errors(), f"console errors: {log.errors()}"


def results_page() -> str:
    "A results page of the site (a notebook whose name contains `results`; the PTB-XL one when present)."
    pages = sorted(p.name for p in SITE.glob("*results*.html") if "dashboards" not in p.name)
    assert pages, f"no results page (*results*.html) in {SITE}: the results notebooks (e.g. 85_ptbxl_results) must be built"
    return next((p for p in pages if "ptbxl" in p), pages[0])


def goto(page, url: str) -> None:
    resp = page.goto(url, wait_until="load")
    assert resp is not None and resp.ok, f"{url}: HTTP {resp.status if resp else 'no response'}"


def test_home(page, site_url):
    goto(page, f"{site_url}/index.html")
    assert "ecgbench" in page.title().lower(), page.title()
    assert "ecgbench" in page.locator("h1").first.inner_text().lower()
    nav = page.evaluate("() => [...document.querySelectorAll('.sidebar-tree a')].map(a => a.getAttribute('href'))")
    assert MODULE_PAGE in nav, f"the sidebar does not link {MODULE_PAGE}: {nav}"
    imgs = page.evaluate("() => [...document.querySelectorAll('article img')].map(i => ({src: i.getAttribute('src'), "
                         "w: i.complete ? i.naturalWidth : -1}))")
    broken = [i["src"] for i in imgs if i["w"] <= 0]
    assert not broken, f"images of the home page that did not load: {broken}"


def test_module_page(page, site_url):
    goto(page, f"{site_url}/{MODULE_PAGE}")
    h1 = page.locator("article h1").first.inner_text()
    assert h1.strip(), "the module page has no title"
    for name in MODULE_API:
        entry = page.locator("article :is(h2, h3, h4)", has_text=name)
        assert entry.count() >= 1, f"{MODULE_PAGE}: no API entry (heading) for {name}"
    text = page.locator("article").inner_text()
    assert "Where figures are saved" in text, f"{MODULE_PAGE}: figures_dir's docstring is not shown"


def test_results_page(page, site_url):
    name = results_page()
    goto(page, f"{site_url}/{name}")
    assert page.locator("article h1").first.inner_text().strip(), f"{name}: no title"
    rows = page.evaluate("() => Math.max(0, ...[...document.querySelectorAll('article table')].map(t => t.rows.length))")
    assert rows >= 2, f"{name}: no table with a header and at least one row"
    n_plotly = page.locator("article .ecgbench-plotly").count()
    if n_plotly:   # figures are drawn by the site's own plotly.min.js
        page.wait_for_function(f"() => document.querySelectorAll('article .ecgbench-plotly.js-plotly-plot').length == {n_plotly}",
                               timeout=30_000)


def test_search(page, site_url):
    goto(page, f"{site_url}/search.html?q={SEARCH_QUERY}")
    page.wait_for_selector("#search-results ul.search li", timeout=30_000)
    hits = page.locator("#search-results ul.search li a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert hits, f"searching {SEARCH_QUERY!r} found nothing"
    assert any("results" in h or "retrieval" in h for h in hits), f"searching {SEARCH_QUERY!r} gave {hits}"
