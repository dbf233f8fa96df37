"""`ecgbench run` on a small grid of the embedded synthetic data, with one deliberately failing run."""
import json
import shutil
from pathlib import Path

import pandas as pd

from conftest import REPO, run_cli


def test_grid_results_table_marks_the_failure(tmp_path):
    shutil.copy(REPO / "nbs/experiments/train_retrieval.ipynb", tmp_path / "train_retrieval.ipynb")
    (tmp_path / "grid.yaml").write_text(
        "notebook: train_retrieval.ipynb\noutput_dir: out\n"
        "base: {epochs: 1, batch_size: 32, limit: 60, seed: 0, embed_dim: 32, threads: 1}\n"
        "runs:\n"
        "  - {name: clip-signal, method: clip, input: signal}\n"
        "  - {name: supervised, method: supervised, input: signal}\n"
        "  - {name: broken, method: clip, ecg_encoder: no_such_encoder}\n")
    r = run_cli("run", str(tmp_path / "grid.yaml"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["runs"] == 3
    table = pd.read_csv(tmp_path / "out/results.csv").set_index("run")
    assert table.loc["clip-signal", "status"] == "ok" and table.loc["supervised", "status"] == "ok"
    assert table.loc["broken", "status"] == "failed" and "no_such_encoder" in table.loc["broken", "detail"]
    assert (tmp_path / "out/broken/executed.ipynb").is_file()
    assert "param.ecg_encoder" in table.columns and (tmp_path / "out/results.md").is_file()
    assert any(c.startswith("test.") for c in table.columns)
