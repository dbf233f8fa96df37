"""Helpers of the browser tests (`pytest -m browser`): find Chromium, serve JupyterLab or the docs site, drive a page.

The tests run Debian's `chromium` (`/usr/bin/chromium`, apt packages `chromium chromium-driver`) through
playwright-python; playwright's own browser download is never used. Every helper skips, saying why, when
Chromium or playwright is missing. Servers listen on 127.0.0.1 only, on a free port, and keep their state
(settings, workspaces, runtime files) in temporary folders.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]

# The closed network refuses connections: without the background-networking flags Chromium stalls on them.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def find_chromium() -> str | None:
    "A Chromium executable: `$ECGBENCH_CHROMIUM`, else `/usr/bin/chromium`, else `chromium`/`chromium-browser` on PATH."
    env = os.environ.get("ECGBENCH_CHROMIUM")
    if env: return env if os.access(env, os.X_OK) else None
    for c in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK): return c
    return None


def require_browser() -> str:
    "The Chromium path, or skip the test saying what to install."
    if importlib.util.find_spec("playwright") is None:
        pytest.skip("playwright (python) is not installed: `pip install -e '.[dev]'` (make install) provides it")
    exe = find_chromium()
    if exe is None:
        pytest.skip("no Chromium: install Debian's `apt-get install -y chromium chromium-driver` "
                    "(or set $ECGBENCH_CHROMIUM to a Chromium executable)")
    return exe


def free_port() -> int:
    "A TCP port free on 127.0.0.1 right now."
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None) -> None:
    "Wait until `url` answers (any HTTP status below 500); fail with the server log if `proc` dies or time runs out."
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status < 500: return
        except urllib.error.HTTPError as e:
            if e.code < 500: return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s:\n{_tail(log)}")


def _tail(log: Path | None, n: int = 4000) -> str:
    return log.read_text(errors="replace")[-n:] if log is not None and log.exists() else "(no log)"


def _stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    "Terminate `proc` (started by us), then kill it if it does not exit in time."
    if proc.poll() is not None: return
    proc.terminate()
    try: proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill(); proc.wait(10)


# Lab settings for a test: no autosave (the notebooks are the repository's own files and must stay untouched),
# every cell in the DOM (no windowing), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


# IPython startup file of the test kernels: a cell flagged with a test flag that is not asked for (`#| slow`, `#| bench`)
# runs as a one-line note instead, as `nbdev_test` skips it without `--flags` (real-data cells take minutes).
SKIP_FLAGS_STARTUP = """
def _ecgbench_skip_flagged(lines, _skip={skip!r}):
    for line in lines:
        if not line.strip(): continue
        if not line.lstrip().startswith("#|"): break
        flag = line.lstrip()[2:].strip()
        if flag in _skip:
            return [f"print('#| {{flag}} cell skipped in this Lab (as nbdev_test does without --flags {{flag}})')\\n"]
    return lines
get_ipython().input_transformers_cleanup.append(_ecgbench_skip_flagged)
"""


def test_flags() -> list[str]:
    "nbdev's test flags (settings.ini `tst_flags`), e.g. ['slow', 'bench']."
    import configparser
    cfg = configparser.ConfigParser(); cfg.read(REPO / "settings.ini")
    return cfg["DEFAULT"].get("tst_flags", "slow bench").split()


class LabServer:
    """A JupyterLab server on 127.0.0.1 (free port, random token) serving `root`, its state in `tmp`; a context manager.
    Its kernels skip the cells flagged with a test flag (`#| slow`, `#| bench`) unless listed in `run_flags`."""
    def __init__(self, tmp: Path, root: Path = REPO, env: dict | None = None, start_timeout: float = 180,
                 run_flags: tuple[str, ...] = ()):
        self.tmp, self.root, self.start_timeout = Path(tmp), Path(root), start_timeout
        self.skip_flags = sorted(set(test_flags()) - set(run_flags))
        self.port, self.token = free_port(), os.urandom(16).hex()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.tmp / "lab.log"
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LabServer":
        settings = self.tmp / "user-settings"
        for name, value in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(value))
        for d in ("workspaces", "config", "runtime", "ipython"): (self.tmp / d).mkdir(exist_ok=True)
        startup = self.tmp / "ipython" / "profile_default" / "startup"
        startup.mkdir(parents=True, exist_ok=True)
        (startup / "00-ecgbench-skip-flags.py").write_text(SKIP_FLAGS_STARTUP.format(skip=self.skip_flags))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(self.tmp / "config"), "JUPYTER_RUNTIME_DIR": str(self.tmp / "runtime"),
               "IPYTHONDIR": str(self.tmp / "ipython"), "JUPYTER_PLATFORM_DIRS": "1", **self.extra_env}
        cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               "--port-retries=0", "--allow-root", "--ServerApp.terminals_enabled=False",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate", f"--LabApp.user_settings_dir={settings}",
               f"--LabApp.workspaces_dir={self.tmp / 'workspaces'}"]
        self._logf = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self._logf, stderr=subprocess.STDOUT, env=env, cwd=self.root)
        try: wait_http(f"{self.url}/api/status?token={self.token}", self.start_timeout, self.proc, self.log)
        except BaseException:
            self.__exit__(); raise
        return self

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            for k in self.api("kernels") if self.proc.poll() is None else []:   # shut kernels down cleanly first
                try: self.api(f"kernels/{k['id']}", method="DELETE")
                except OSError: pass
            _stop(self.proc)
        self._logf.close()

    def api(self, path: str, method: str = "GET") -> list | dict | None:
        "JSON answer of the server's REST API `/api/<path>` (with the token)."
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
        return json.loads(body) if body else None

    def lab_url(self, path: str) -> str:
        "The URL that opens `path` (relative to the server's root) alone in Lab (`reset`: no tabs of earlier tests)."
        return f"{self.url}/lab/tree/{urllib.parse.quote(path)}?reset&token={self.token}"

    def kernels_idle(self) -> bool:
        "Whether every running kernel reports `idle`."
        return all(k["execution_state"] == "idle" for k in self.api("kernels"))


@contextmanager
def static_server(folder: Path, tmp: Path, timeout: float = 30) -> Iterator[str]:
    "Serve `folder` with `python -m http.server` on 127.0.0.1 (free port); yields its base URL."
    port, log = free_port(), Path(tmp) / "http.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                 "--directory", str(folder)], stdout=logf, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_http(url + "/", timeout, proc, log)
            yield url
        finally: _stop(proc)


class PageLog:
    "What a page reported: console errors, failed requests, and requests to hosts other than 127.0.0.1/localhost."
    def __init__(self):
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.failed_requests: list[str] = []
        self.external_requests: list[str] = []

    def errors(self, ignore: tuple[str, ...] = ()) -> list[str]:
        "Console errors and uncaught page errors, less those containing one of the `ignore` substrings."
        return [e for e in self.console_errors + self.page_errors if not any(i in e for i in ignore)]


@contextmanager
def browser_page(chromium: str, tmp: Path, block_external: bool = True, viewport=(1400, 1000)):
    "A playwright page in a fresh headless Chromium profile; yields `(page, PageLog)`. Non-local requests are aborted."
    from playwright.sync_api import sync_playwright
    profile = Path(tmp) / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    log = PageLog()
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(profile), executable_path=chromium, headless=True,
                                                   args=CHROMIUM_ARGS, viewport=dict(width=viewport[0], height=viewport[1]))
        try:
            def route(r):
                host = urllib.parse.urlsplit(r.request.url).hostname
                if r.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS: r.continue_()
                else:
                    log.external_requests.append(r.request.url); r.abort()
            if block_external: ctx.route("**/*", route)
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.on("console", lambda m: m.type == "error" and log.console_errors.append(f"{m.text} ({m.location.get('url', '')})"))
            page.on("pageerror", lambda e: log.page_errors.append(f"uncaught: {e}"))
            page.on("requestfailed", lambda r: log.failed_requests.append(f"{r.method} {r.url}: {r.failure}"))
            try: yield page, log
            except BaseException:
                try:
                    page.screenshot(path=str(Path(tmp) / "failure.png"))
                    print(f"the page when the test failed: {Path(tmp) / 'failure.png'}")
                except Exception as e: print(f"no screenshot of the failure: {e}")
                raise
        finally: ctx.close()
