"""The dashboards work in a real JupyterLab: each dashboard notebook opens without a "Select Kernel" dialog, runs
all its cells without an error, and its dashboard reacts in the browser (selecting option 1 of the primary
dropdown changes a plotly figure's data or the dashboard's text). Also: the README figure loads in Lab.

The dashboard conventions relied on: the dashboard's top container has the class `ecgbench-dashboard`, exactly one
`W.Dropdown` in it has the class `ecgbench-primary`. With `$ECGBENCH_FIGURES` set (`make figures`), each dashboard's
screenshot is saved there as `dashboard_<name>.png`; else under the test's tmp_path. `$ECGBENCH_RUN` (a run folder)
is passed to the kernels: the notebooks then show that run instead of the synthetic one. As in `nbdev_test`'s fast
tier, cells flagged `#| slow` or `#| bench` only print a note (an IPython startup file of the test's kernels, see
`tests/browser.py`); `ECGBENCH_LAB_FLAGS=slow` runs them too.
"""
from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import pytest

from browser import REPO, LabServer, browser_page, require_browser

pytestmark = pytest.mark.browser

DASHBOARDS = sorted(REPO.glob("nbs/7*_dashboards.*.ipynb")) + sorted(REPO.glob("nbs/8*_dashboards.*.ipynb"))
VIEWPORT = (1500, 2400)      # tall: a whole dashboard fits in the notebook panel, for its screenshot
# Cells flagged `#| slow`/`#| bench` (real-data runs of minutes) print a note instead of running, as in `nbdev_test`'s
# fast tier; `ECGBENCH_LAB_FLAGS=slow` runs them too (as `nbdev_test --flags slow`).
RUN_FLAGS = tuple(os.environ.get("ECGBENCH_LAB_FLAGS", "").replace(",", " ").split())
# kernel start + all cells, per notebook, on two busy cores (a real run, or the slow cells, take longer)
RUN_TIMEOUT_MS = 900_000 if RUN_FLAGS or os.environ.get("ECGBENCH_RUN") else 240_000
# Console errors seen in a healthy Lab that are no fault of ours: none so far (add a substring here, saying why).
HARMLESS_CONSOLE_ERRORS: tuple[str, ...] = ()

STATE_JS = """() => {
  const ds = document.querySelectorAll('.jp-Notebook .ecgbench-dashboard');
  const d = ds[ds.length - 1];
  if (!d) return null;
  return {plots: [...d.querySelectorAll('.js-plotly-plot')].map(e => JSON.stringify(e.data || null)),
          text: d.innerText, n_dashboards: ds.length};
}"""

# Legend entries plotly.js drew: a trace whose name got lost reads "trace N" (the image inspector's R peaks once did).
LEGEND_JS = """() => { const ds = document.querySelectorAll('.jp-Notebook .ecgbench-dashboard');
  return [...ds[ds.length - 1].querySelectorAll('.legendtext')].map(e => e.textContent); }"""

def unnamed_traces(page) -> list[str]:
    "Legend entries of the last dashboard that carry plotly's default name ('trace 1'): a trace drawn without its name."
    return [t for t in page.evaluate(LEGEND_JS) if re.fullmatch(r"trace \d+", t.strip())]

DONE_JS = """() => {
  const ps = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
  if (!ps.length || ps.some(t => t.includes('*'))) return false;          // a cell is running or queued
  const err = document.querySelector('.jp-Notebook .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]');
  return /\\d/.test(ps[ps.length - 1]) || (err !== null && /Traceback|Error/.test(err.innerText));
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_browser()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    "One JupyterLab for the module, serving the repository root (as `make lab` does)."
    with LabServer(tmp_path_factory.mktemp("lab"), run_flags=RUN_FLAGS) as server:
        yield server


@pytest.fixture()
def unchanged(request):
    "Files that must be byte-identical after the test (Lab must never save the repository's notebooks)."
    files: list[Path] = []
    def digest(p: Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()
    before = {}
    def watch(p: Path): files.append(p); before[p] = digest(p)
    yield watch
    changed = [p.name for p in files if digest(p) != before[p]]
    assert not changed, f"the browser test changed {changed}: Lab must not save them (autosave is off in tests/browser.py)"


def close_sessions(lab: LabServer) -> None:
    "Shut down every session (and its kernel), so the next notebook starts on a quiet server."
    for s in lab.api("sessions"): lab.api(f"sessions/{s['id']}", method="DELETE")


def open_notebook(page, lab: LabServer, rel: str) -> None:
    "Open `rel` in Lab and wait for its kernel to be idle; fail if Lab asks which kernel to use."
    page.goto(lab.lab_url(rel), wait_until="domcontentloaded")
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=180_000)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 180:   # the kernel started and idle (REST API), or Lab asked something
        if page.locator(".jp-Dialog").count(): break
        if any(s["path"] == rel and s["kernel"]["execution_state"] == "idle" for s in lab.api("sessions")): break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)          # a dialog would show right after the session starts
    dialogs = page.locator(".jp-Dialog").all_inner_texts()
    assert not dialogs, f"{rel}: Lab showed a dialog on opening (a missing kernelspec asks 'Select Kernel'): {dialogs}"
    kernels = [s["kernel"]["name"] for s in lab.api("sessions") if s["path"] == rel]
    assert kernels == ["python3"], f"{rel}: expected one python3 kernel, the sessions say {kernels}"
    left = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if left.count(): left.first.click()   # collapse the file browser: the notebook gets the page's width


def run_all(page, rel: str) -> float:
    "Run → Run All Cells, wait until every cell ran (or one failed); returns the seconds it took."
    t0 = time.monotonic()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(DONE_JS, timeout=RUN_TIMEOUT_MS, polling=500)
    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=60_000)
    return time.monotonic() - t0


def error_outputs(page) -> list[str]:
    "Text of the stderr/error outputs that hold a traceback or an error."
    texts = page.locator('.jp-Notebook .jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]').all_inner_texts()
    return [t[:2000] for t in texts if re.search(r"Traceback|Error", t)]


def stable_state(page, timeout: float = 60) -> dict:
    "The last dashboard's plotly data and text once it has rendered and stopped changing (two equal reads 1 s apart)."
    t0, last = time.monotonic(), None
    while time.monotonic() - t0 < timeout:
        now = page.evaluate(STATE_JS)
        if now is not None and now == last and all(p != "null" for p in now["plots"]): return now
        last = now
        page.wait_for_timeout(1000)
    assert last is not None, ("no `.ecgbench-dashboard` element in the notebook's outputs: the dashboard must call "
                              "`widget.add_class('ecgbench-dashboard')` on its top container and be displayed")
    return last


def screenshot_path(nb: Path, tmp_path: Path) -> Path:
    "`$ECGBENCH_FIGURES/dashboard_<name>.png` under `make figures`, else a file in the test's tmp_path."
    name = nb.stem.split("dashboards.", 1)[-1]
    if os.environ.get("ECGBENCH_FIGURES"):
        from ecgbench.core import figures_dir
        return figures_dir() / f"dashboard_{name}.png"
    return tmp_path / f"dashboard_{name}.png"


@pytest.mark.parametrize("nb", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_runs_and_reacts(nb: Path, lab, chromium, tmp_path, unchanged):
    rel = nb.relative_to(REPO).as_posix()
    unchanged(nb)
    try:
        with browser_page(chromium, tmp_path, viewport=VIEWPORT) as (page, log):
            open_notebook(page, lab, rel)
            took = run_all(page, rel)
            errors = error_outputs(page)
            assert not errors, f"{rel}: a cell failed in Lab:\n" + "\n---\n".join(errors)
            before = stable_state(page)
            dash = page.locator(".jp-Notebook .ecgbench-dashboard").last
            page.screenshot(path=str(tmp_path / "notebook.png"))
            shot = screenshot_path(nb, tmp_path)
            dash.scroll_into_view_if_needed()
            page.mouse.move(0, 0)            # no hover toolbar (plotly's modebar) in the picture
            page.wait_for_timeout(500)
            dash.screenshot(path=str(shot))
            primary = dash.locator(".ecgbench-primary select")
            assert primary.count() == 1, (f"{rel}: expected exactly one `.ecgbench-primary` W.Dropdown in the dashboard, "
                                          f"found {primary.count()} (mark one Dropdown with `.add_class('ecgbench-primary')`)")
            options = primary.locator("option").all_inner_texts()
            assert len(options) >= 2, f"{rel}: the primary dropdown needs at least 2 options, it has {options}"
            primary.select_option(index=1)
            try:
                page.wait_for_function(f"(b) => {{ const s = ({STATE_JS})(); return s !== null && "
                                       "(JSON.stringify(s.plots) !== JSON.stringify(b.plots) || s.text !== b.text); }",
                                       arg=before, timeout=60_000, polling=500)
            except Exception as e:
                raise AssertionError(f"{rel}: selecting {options[1]!r} in the primary dropdown changed neither a plotly "
                                     f"figure's data nor the dashboard's text within 60 s") from e
            after = stable_state(page)
            assert after != before
            assert not unnamed_traces(page), f"{rel}: legend entries without a name: {unnamed_traces(page)}"
            page.screenshot(path=str(tmp_path / "after_select.png"))
            errors = error_outputs(page)
            assert not errors, f"{rel}: an error after selecting {options[1]!r}:\n" + "\n---\n".join(errors)
            assert not log.errors(HARMLESS_CONSOLE_ERRORS), f"{rel}: console errors: {log.errors(HARMLESS_CONSOLE_ERRORS)}"
            assert not log.external_requests, f"{rel}: requests to non-local hosts: {log.external_requests}"
            print(f"{rel}: ran in {took:.0f} s; {len(before['plots'])} plotly figure(s); screenshot {shot}")
    except Exception:
        print(f"Lab log {lab.log} ends with:\n{lab.log.read_text(errors='replace')[-3000:]}")
        raise
    finally: close_sessions(lab)


def test_index_figure_loads(lab, chromium, tmp_path, unchanged):
    "`make lab` opens nbs/index.ipynb with the repository root served, so its `../figures/*.png` images load."
    rel = "nbs/index.ipynb"
    unchanged(REPO / rel)
    try:
        with browser_page(chromium, tmp_path) as (page, log):
            open_notebook(page, lab, rel)
            page.wait_for_selector('.jp-RenderedMarkdown img[src*="figures/"]', timeout=60_000)
            page.wait_for_function("""() => [...document.querySelectorAll('.jp-RenderedMarkdown img[src*="figures/"]')]
                                      .every(i => i.complete)""", timeout=60_000)
            imgs = page.evaluate("""() => [...document.querySelectorAll('.jp-RenderedMarkdown img[src*="figures/"]')]
                                    .map(i => ({src: i.getAttribute('src'), w: i.naturalWidth}))""")
            broken = [i["src"] for i in imgs if i["w"] == 0]
            assert imgs and not broken, f"{rel}: README figures that did not load in Lab: {broken} (of {imgs})"
            page.screenshot(path=str(tmp_path / "index.png"))
            assert not log.errors(HARMLESS_CONSOLE_ERRORS), f"{rel}: console errors: {log.errors(HARMLESS_CONSOLE_ERRORS)}"
            assert not log.external_requests, f"{rel}: requests to non-local hosts: {log.external_requests}"
    finally: close_sessions(lab)
