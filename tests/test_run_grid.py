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
        "base: {source: synthetic, epochs: 1, batch_size: 32, limit: 60, seed: 0, embed_dim: 32, threads: 1, progress: false}\n"
        "runs:\n"
        "  - {name: clip-signal, method: clip, input: signal, text_pooling: mean}\n"
        "  - {name: supervised, method: supervised, input: signal}\n"
        "  - {name: broken, method: clip, ecg_encoder: no_such_encoder}\n")
    r = run_cli("run", str(tmp_path / "grid.yaml"), "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1])["runs"] == 3
    table = pd.read_csv(tmp_path / "out/results.csv").set_index("run")
    assert table.loc["supervised", "status"] == "ok"
    # one epoch of 2 steps barely moves a random-init model: its embeddings may be (near-)collapsed, and the table says so
    clip = table.loc["clip-signal"]
    assert clip["status"] == ("collapsed" if clip["test.collapsed"] == 1 else "ok"), clip[["status", "test.collapsed"]]
    assert table.loc["broken", "status"] == "failed" and "no_such_encoder" in table.loc["broken", "detail"]
    assert (tmp_path / "out/broken/executed.ipynb").is_file()
    assert "param.ecg_encoder" in table.columns and (tmp_path / "out/results.md").is_file()
    assert any(c.startswith("test.") for c in table.columns)


def test_grid_typos_fail_before_any_run(tmp_path):
    shutil.copy(REPO / "nbs/experiments/train_retrieval.ipynb", tmp_path / "train_retrieval.ipynb")
    for text, words in (("grdi: {seed: [0, 1]}\n", ["grdi", "did you mean `grid`"]),
                        ("base: {epoch: 1}\n", ["`epoch`", "did you mean `epochs`"]),
                        ("runs:\n  - {name: a, method: clip, freez_text: true}\n", ["freez_text", "freeze_text"]),
                        ("base: {lr: '1e-4'}\n", ["lr", "float"])):
        (tmp_path / "grid.yaml").write_text("notebook: train_retrieval.ipynb\noutput_dir: out\n" + text)
        r = run_cli("run", str(tmp_path / "grid.yaml"))
        assert r.returncode == 2 and all(w in r.stderr for w in words), (text, r.stderr[-2000:])
        assert not (tmp_path / "out").exists()


def test_changed_settings_rerun_a_named_run(tmp_path):
    shutil.copy(REPO / "nbs/experiments/train_retrieval.ipynb", tmp_path / "train_retrieval.ipynb")
    grid = ("notebook: train_retrieval.ipynb\noutput_dir: out\n"
            "base: {source: synthetic, epochs: 1, batch_size: 32, limit: 40, embed_dim: 16, threads: 1, progress: false,"
            " ecg_kw: {width: 8}}\nruns:\n  - {name: r, method: clip, seed: SEED}\n")
    (tmp_path / "grid.yaml").write_text(grid.replace("SEED", "0"))
    assert run_cli("run", str(tmp_path / "grid.yaml"), "--json").returncode == 0
    first = json.loads((tmp_path / "out/r/metrics.json").read_text())
    stamp = (tmp_path / "out/r/metrics.json").stat().st_mtime_ns
    assert run_cli("run", str(tmp_path / "grid.yaml"), "--json").returncode == 0          # unchanged: skipped
    assert (tmp_path / "out/r/metrics.json").stat().st_mtime_ns == stamp
    (tmp_path / "grid.yaml").write_text(grid.replace("SEED", "1"))
    assert run_cli("run", str(tmp_path / "grid.yaml"), "--json").returncode == 0          # changed: rerun
    second = json.loads((tmp_path / "out/r/metrics.json").read_text())
    assert first["params"]["seed"] == 0 and second["params"]["seed"] == 1 and second["test"] != first["test"]
    table = pd.read_csv(tmp_path / "out/results.csv").set_index("run")
    assert table.loc["r", "param.seed"] == 1
    md = (tmp_path / "out/results.md").read_text()
    assert "baseline: random" in md and "baseline: popularity" in md


def test_committed_configs_and_grids_are_valid():
    "Every run config and grid under nbs/experiments passes the typed checks (a stale key fails here, not on a GPU node)."
    from ecgbench.runner import load_grid
    from ecgbench.train.config import load_config, read_yaml
    files = sorted((REPO / "nbs/experiments").glob("*.yaml"))
    assert len(files) >= 3
    for f in files:
        spec = read_yaml(f)
        if "notebook" in spec:
            g = load_grid(f)
            assert g["config"] and g["runs"]
        else:
            assert load_config(f).method == spec["method"]
