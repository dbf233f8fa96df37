"""Shared fixtures for the cross-module tests (the notebooks hold the unit tests)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecgbench.core import ptbxl_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    "A fresh 60-record synthetic PTB-XL-layout dataset, private to this test session."
    from ecgbench.data.synthetic import make_synthetic_ptbxl
    return make_synthetic_ptbxl(tmp_path_factory.mktemp("synth") / "ptbxl", n=60, seed=11, progress=False)


@pytest.fixture()
def synth_copy(synth_root, tmp_path) -> Path:
    "A writable copy of the synthetic dataset that a test may damage."
    dest = tmp_path / "ptbxl"
    shutil.copytree(synth_root, dest)
    return dest


@pytest.fixture(scope="session")
def real_ptbxl() -> Path:
    "The real PTB-XL copy (shared development data), or skip saying why."
    root = ptbxl_dir()
    if root is None:
        pytest.skip("real PTB-XL not found: needs ../shared/data and `make realdata` (a fresh machine has neither)")
    return root


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    "Run the installed `ecgbench` console script and capture its output."
    exe = Path(sys.executable).with_name("ecgbench")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=REPO, timeout=900)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives headless Chromium (JupyterLab, docs site); `pytest -m browser` selects them")


def pytest_runtest_logreport(report):
    "Under `make test` (which sets $ECGBENCH_SKIP_TALLY) each skipped test joins the notebook cells' skip tally."
    if report.skipped and os.environ.get("ECGBENCH_SKIP_TALLY") and not hasattr(report, "wasxfail"):
        from ecgbench.testing import record_skip
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        record_skip(reason.removeprefix("Skipped: "), where=report.nodeid, kind="pytest")
