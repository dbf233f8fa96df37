"""Every notebook names its kernel, so JupyterLab opens it without a "Select Kernel" dialog and a plain
`papermill nb.ipynb out.ipynb` runs it (without a kernelspec papermill stops with "No kernel name found");
`nbdev_clean` keeps `kernelspec`, and `language_info` is in settings.ini's `allowed_metadata_keys`."""
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "nbs").glob("*.ipynb")) + sorted((REPO / "nbs/experiments").glob("*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_names_its_kernel(nb):
    md = json.loads(nb.read_text())["metadata"]
    assert md.get("kernelspec", {}).get("name") == "python3", f"{nb.name}: no kernelspec (add it; see this test's docstring)"
    assert md.get("language_info", {}).get("name") == "python", f"{nb.name}: no language_info"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) > 30
