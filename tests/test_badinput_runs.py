"""Bad-input matrix, run and record names: a grid's run name or an `ecgbench record` name that is not one plain
folder name (`..`, a path, a hidden, empty or over-long name, ...) is refused before anything is written, naming
the file, the name, what is allowed and a safe example; a run folder that leads out of the grid's `output_dir`
through a link is refused; and a kept record never mixes the files of two runs. The end-to-end cases snapshot
every file outside the folder written to (bytes and mtimes) and assert that none changed."""
import os
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import run_cli
from ecgbench.core import DataError
from ecgbench.runner import NAME_RULE, check_name, keep_record, load_grid
from ecgbench.testing import test_raises
from ecgbench.train.config import ConfigError


def _toy(folder: Path) -> Path:
    "A tiny parameterised notebook (parameters x, y, output_dir) that writes metrics.json: a stand-in for training."
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1\ny = 0\noutput_dir = '.'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import json, pathlib\n"
                                          "pathlib.Path(output_dir, 'metrics.json').write_text(json.dumps({'score': x}))")]
    nbformat.write(nb, folder / "toy.ipynb")
    return folder / "toy.ipynb"


def _trained(folder: Path, seed: int = 1, evals=("zero_shot",)) -> Path:
    "A finished run as `ecgbench train` leaves it: config, metrics, status, protocol records, a checkpoint."
    (folder / "eval").mkdir(parents=True); (folder / "checkpoints").mkdir()
    (folder / "config.yaml").write_text(f"method: clip\nseed: {seed}\noutput_dir: {folder}\n")
    (folder / "metrics.json").write_text(f'{{"test": {{"RSUM": {100 + seed}.0, "collapsed": 0}}, "seconds": 1.0}}')
    (folder / "status.json").write_text('{"status": "ok", "detail": "ecgbench train"}')
    for e in evals: (folder / "eval" / f"{e}.json").write_text(f'{{"metrics": {{"macro_auroc": 0.{seed}}}}}')
    (folder / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    return folder


def _snapshot(root: Path, skip: Path | None = None) -> dict:
    "{relative path: (bytes, mtime_ns)} of every file under `root` (links not followed), leaving out `skip`."
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if skip is not None and Path(dirpath) == skip: dirnames[:] = []; continue
        for f in filenames:
            p = Path(dirpath) / f
            if skip is None or skip not in p.parents:
                out[str(p.relative_to(root))] = (p.read_bytes(), p.lstat().st_mtime_ns)
    return out


def _grid(tmp: Path, bad, output_dir: str = "runs/new") -> Path:
    "A grid with one good run and one run named `bad`, written as a researcher would (YAML quoting by PyYAML)."
    _toy(tmp)
    f = tmp / "grid.yaml"
    f.write_text(yaml.safe_dump({"notebook": "toy.ipynb", "output_dir": output_dir,
                                 "runs": [{"name": "fine", "x": 1}, {"name": bad, "x": 2}]}))
    return f


def _message(where, what: str, name, todo: str, example: str) -> str:
    return (f"{where}: {what} {name!r} is not a plain folder name (it names a folder): use {NAME_RULE} "
            f"-> {todo}, e.g. {example!r}")


# kind -> (bad name, the safe example the message offers)
BAD_NAMES = {
    "parent folder": ("..", "run-1"),
    "this folder": (".", "run-1"),
    "hidden": (".cache", "cache"),
    "up and over": ("../trained", "trained"),
    "absolute path": ("/etc/ecgbench-trained", "etc-ecgbench-trained"),
    "slash": ("a/b", "a-b"),
    "backslash": ("a\\b", "a-b"),
    "NUL byte": ("a\0b", "a-b"),
    "empty": ("", "run-1"),
    "skipped by collect": ("__init__", "init__"),
    "leading dash": ("-rf", "rf"),
    "space": ("my run", "my-run"),
    "too long": ("x" * 129, "x" * 128),
    "non-ASCII": ("sëed", "s-ed"),
    "a list": ([1, 2], "1,-2-"),
}


@pytest.mark.parametrize("kind", list(BAD_NAMES))
def test_bad_run_name_fails_in_load_grid(tmp_path, kind):
    name, example = BAD_NAMES[kind]
    f = _grid(tmp_path, name)
    for check in (True, False):                 # names are checked even when the settings are not
        e = test_raises(lambda: load_grid(f, check=check), ConfigError)
        assert str(e) == _message(f, "run name", name, "give that run another `name:` under `runs:`", example), str(e)
    assert not (tmp_path / "runs").exists()


def test_generated_names_are_plain_folder_names(tmp_path):
    "Values with '/', quotes, brackets or braces make names of letters, digits and - _ . = , + only (still distinct)."
    _toy(tmp_path)
    (tmp_path / "grid.yaml").write_text("notebook: toy.ipynb\noutput_dir: out\n"
                                        "grid: {x: [[1, 2], {w: 8}, 0.001], y: [../up, \"it's\", a b]}\n")
    names = [n for n, _ in load_grid(tmp_path / "grid.yaml")["runs"]]
    assert len(set(names)) == 9 and all(check_name(n, "run name", "g", "") == n for n in names), names
    assert any(n.startswith("x=-1,2-_y=..-up_") for n in names), names


@pytest.mark.parametrize("kind", ["..", "../trained", "absolute path"])
def test_cli_run_with_bad_name_changes_nothing_outside_output_dir(tmp_path, kind):
    trained = _trained(tmp_path / "runs" / "trained")
    name = {"..": "..", "../trained": "../trained", "absolute path": str(trained)}[kind]
    example = {"..": "run-1", "../trained": "trained", "absolute path": str(trained).replace("/", "-").lstrip("-")}[kind]
    f = _grid(tmp_path, name)
    before = _snapshot(tmp_path)
    for argv in (["run", str(f)], ["run", str(f), "--check"]):
        r = run_cli(*argv)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (argv, r.returncode, r.stderr[-2000:])
        assert lines[0] == "ecgbench: error: " + _message(f, "run name", name, "give that run another `name:` under `runs:`", example)
        assert _snapshot(tmp_path) == before and not (tmp_path / "runs" / "new").exists()


def test_cli_run_refuses_a_run_folder_linked_outside(tmp_path):
    trained = _trained(tmp_path / "runs" / "trained")
    f = _grid(tmp_path, "linked")
    (tmp_path / "runs" / "new").mkdir()
    (tmp_path / "runs" / "new" / "linked").symlink_to(trained)      # e.g. left by a script
    before = _snapshot(tmp_path, skip=tmp_path / "runs" / "new")
    r = run_cli("run", str(f))
    out = tmp_path / "runs" / "new"
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip() == (f"ecgbench: error: {out}/linked: run 'linked' resolves to {trained.resolve()}, outside the "
                                f"grid's output_dir {out.resolve()} -> remove that link or folder, or rename the run in {f}")
    assert _snapshot(tmp_path, skip=out) == before and sorted(p.name for p in out.iterdir()) == ["linked"]


@pytest.mark.parametrize("kind", list(BAD_NAMES))
def test_bad_record_name_is_refused(tmp_path, kind):
    name, example = BAD_NAMES[kind]
    run = _trained(tmp_path / "run")
    e = test_raises(lambda: keep_record(run, tmp_path / "results", name), ConfigError)
    assert str(e) == _message(run, "record name", name, "pass another --name", example), str(e)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["..", "a/b", "", "__x"])
def test_cli_record_bad_name_exit_2(tmp_path, name):
    run = _trained(tmp_path / "run")
    r = run_cli("record", str(run), "--to", str(tmp_path / "results"), f"--name={name}")
    example = {"..": "run-1", "a/b": "a-b", "": "run-1", "__x": "x"}[name]
    assert r.returncode == 2 and r.stderr.strip() == "ecgbench: error: " + _message(run, "record name", name, "pass another --name", example), r.stderr
    assert not (tmp_path / "results").exists()


def test_record_of_another_run_is_refused_then_replaced_whole(tmp_path):
    a = _trained(tmp_path / "runs" / "a", seed=1, evals=("zero_shot", "linear_probe"))
    b = _trained(tmp_path / "runs" / "b", seed=2, evals=("zero_shot",))
    results = tmp_path / "results"
    assert run_cli("record", str(a), "--to", str(results), "--name", "r").returncode == 0
    before = _snapshot(tmp_path)
    r = run_cli("record", str(b), "--to", str(results), "--name", "r")
    assert r.returncode == 2 and r.stderr.strip() == (
        f"ecgbench: error: {results}/r: holds the record of another run (its config.yaml differs from {b}/config.yaml in: "
        "seed) -> keep this run under another --name, or pass --replace to replace that record as a whole"), r.stderr
    assert _snapshot(tmp_path) == before                                   # nothing written, nothing mixed
    assert run_cli("record", str(b), "--to", str(results), "--name", "r", "--replace").returncode == 0
    kept = _snapshot(results / "r")
    assert sorted(kept) == ["config.yaml", "eval/zero_shot.json", "metrics.json", "status.json"]     # no linear_probe of a
    assert all(kept[k][0] == (b / k).read_bytes() for k in kept)
    assert sorted(p.name for p in results.iterdir()) == ["r"]              # no temporary folder left


def test_same_run_recorded_again_is_replaced_whole(tmp_path):
    run = _trained(tmp_path / "run", evals=("zero_shot", "linear_probe"))
    dest = keep_record(run, tmp_path / "results")
    (run / "eval" / "linear_probe.json").unlink()                       # rerun with other protocols: same config
    (run / "eval" / "retrieval.json").write_text('{"metrics": {"RSUM": 1.0}}')
    (run / "metrics.json").write_text('{"test": {"RSUM": 7.0}}')
    assert keep_record(run, tmp_path / "results") == dest == tmp_path / "results" / "run"
    assert sorted(_snapshot(dest)) == ["config.yaml", "eval/retrieval.json", "eval/zero_shot.json", "metrics.json", "status.json"]
    assert (dest / "metrics.json").read_text() == '{"test": {"RSUM": 7.0}}'


def test_record_of_a_run_without_settings_is_refused(tmp_path):
    run = _trained(tmp_path / "run")
    (run / "config.yaml").unlink()
    test_raises(lambda: keep_record(run, tmp_path / "results"), DataError,
                f"{run}: has no config.yaml or params.yaml: its record could not be told from another run's", reason="missing")
    assert not (tmp_path / "results").exists()
