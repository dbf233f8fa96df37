"""`ecgbench run` on a small grid of the embedded synthetic data, with one deliberately failing run."""
import json
import shutil
from pathlib import Path

import nbformat
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
        f"  - {{name: broken, method: clip, data_dir: {tmp_path / 'no_such_data'}}}\n")    # passes the checks, fails when run
    r = run_cli("run", str(tmp_path / "grid.yaml"), "--json")
    assert r.returncode == 1, r.stderr[-3000:]                 # the grid ran, one of its runs failed: not a success
    assert r.stderr.strip().splitlines()[-1].startswith("ecgbench: run: 1 of 3 runs failed: broken (each keeps its executed.ipynb")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["runs"] == 3 and out["failed"] == ["broken"]
    table = pd.read_csv(tmp_path / "out/results.csv").set_index("run")
    assert table.loc["supervised", "status"] == "ok"
    # one epoch of 2 steps barely moves a random-init model: its embeddings may be (near-)collapsed, and the table says so
    clip = table.loc["clip-signal"]
    assert clip["status"] == ("collapsed" if clip["test.collapsed"] == 1 else "ok"), clip[["status", "test.collapsed"]]
    assert table.loc["broken", "status"] == "failed" and "no_such_data" in table.loc["broken", "detail"]
    assert (tmp_path / "out/broken/executed.ipynb").is_file()
    assert "param.data_dir" in table.columns and (tmp_path / "out/results.md").is_file()
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
    kept = list((tmp_path / "out/r/.replaced").glob("*/metrics.json"))              # the seed-0 run moved aside, whole
    assert len(kept) == 1 and json.loads(kept[0].read_text()) == first and (kept[0].parent / "executed.ipynb").is_file()
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


def _toy_grid(tmp_path) -> Path:
    "A grid of three runs of a tiny parameterised notebook (never executed here: the tests dispatch), plus a stray old run."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1\noutput_dir = '.'", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, tmp_path / "toy.ipynb")
    (tmp_path / "grid.yaml").write_text("notebook: toy.ipynb\noutput_dir: out\n"
                                        "runs:\n  - {name: a, x: 1}\n  - {name: b, x: 2}\n  - {name: broken, x: 3}\n")
    (tmp_path / "out/old").mkdir(parents=True)                 # an earlier grid's failed run: not this grid's
    (tmp_path / "out/old/params.yaml").write_text("x: 0\n")
    (tmp_path / "out/old/status.json").write_text('{"status": "failed", "detail": "RuntimeError: long ago"}')
    return tmp_path / "grid.yaml"


def test_exit_status_says_which_runs_of_the_grid_failed(tmp_path):
    grid = _toy_grid(tmp_path)
    tail = " (each keeps its executed.ipynb and status.json in its run folder)"
    r = run_cli("run", str(grid), "--dispatch", "test {name} != broken", "--json")      # the scheduler refuses one run
    assert r.returncode == 1 and r.stderr.strip() == "ecgbench: run: 1 of 3 runs failed: broken" + tail, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["failed"] == ["broken"]
    r = run_cli("run", str(grid), "--dispatch", "exit 3", "--rerun", "--json")           # every run failed
    assert r.returncode == 1 and r.stderr.strip() == "ecgbench: run: 3 of 3 runs failed: a, b, broken" + tail, r.stderr
    r = run_cli("run", str(grid), "--dispatch", "true", "--rerun", "--json")             # all dispatched; `old` is not this grid's
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["failed"] == []


def test_run_check_lists_the_runs_and_writes_nothing(tmp_path):
    grid = _toy_grid(tmp_path)
    before = sorted(p for p in tmp_path.rglob("*"))
    r = run_cli("run", str(grid), "--check", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"runs": 3, "folders": {n: str(tmp_path / "out" / n) for n in ("a", "b", "broken")}}
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_collect_counts_failed_and_unfinished_runs(tmp_path):
    out = tmp_path / "out"
    for name, status, metrics in (("a", "ok", '{"test": {"RSUM": 1.0, "collapsed": 0}}'), ("b", "failed", None),
                                  ("c", "dispatched", None), ("d", None, None), ("e", "ok", '{"test": {"collapsed": 1}}')):
        (out / name).mkdir(parents=True); (out / name / "config.yaml").write_text("seed: 1\n")
        if status: (out / name / "status.json").write_text(json.dumps({"status": status, "detail": ""}))
        if metrics: (out / name / "metrics.json").write_text(metrics)
    counts = {"ok": 1, "collapsed": 1, "failed": 1, "corrupt": 0, "unfinished": 2}
    r = run_cli("collect", str(out), "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["counts"] == counts, r.stdout + r.stderr
    r = run_cli("collect", str(out))
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "5 runs: 1 ok, 1 collapsed, 1 failed, 0 corrupt, 2 unfinished"
