"""Bad inputs to the entry points: the `ecgbench` console script (run as a user would, in a subprocess) and
`ecgbench.runner.collect`. Each bad path or file ends in exactly one stderr line naming it, exit status 2 and no
traceback; a results folder with damaged runs is collected with each damaged run reported by name and counted."""
import json
import shutil

import pandas as pd
import pytest

from conftest import REPO, run_cli
from ecgbench.core import DataError
from ecgbench.runner import collect


def _files(tmp):
    "The bad inputs, written under `tmp`; returns the folder."
    (tmp / "folder.yaml").mkdir()
    (tmp / "folder.yaml" / "inside.yaml").write_text("method: clip\n")
    (tmp / "empty.yaml").write_text("")
    (tmp / "comments.yaml").write_text("# notebook: train_retrieval.ipynb\n")
    (tmp / "syntax.yaml").write_text("method: clip\nsource: synthetic\nepochs: [3\n")
    (tmp / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (tmp / "typo.yaml").write_text("method: clip\nsource: synthetic\nepoch: 3\n")
    (tmp / "notebook.ipynb").write_text("{this is not json")
    (tmp / "badnb.yaml").write_text("notebook: notebook.ipynb\nruns:\n  - {name: a}\n")
    (tmp / "results").mkdir(); (tmp / "results" / "logs").mkdir()
    return tmp


# (id, argv with {tmp}, exact stderr line pattern after "ecgbench: error: ")
CLI_CASES = [
    ("train-missing-file", ["train", "{tmp}/absent.yaml"], r"{tmp}/absent\.yaml: no such run-config file -> check the path"),
    ("train-directory", ["train", "{tmp}/folder.yaml"],
     r"{tmp}/folder\.yaml: is a folder, not a run-config file -> give the run-config file itself, e\.g\. {tmp}/folder\.yaml/inside\.yaml"),
    ("train-empty-file", ["train", "{tmp}/empty.yaml"], r"{tmp}/empty\.yaml: the run-config file is empty -> write its settings into it"),
    ("train-bad-yaml", ["train", "{tmp}/syntax.yaml"],
     r"{tmp}/syntax\.yaml: not valid YAML \(while parsing a flow sequence at line 3, column 9; expected ',' or '\]', "
     r"but got '<stream end>' at line 4, column 1\); fix the syntax at the line shown"),
    ("train-binary-file", ["train", "{tmp}/binary.yaml"], r"{tmp}/binary\.yaml: is not a text file \(byte 0 is not UTF-8\)"),
    ("train-unknown-key", ["train", "{tmp}/typo.yaml"], r"{tmp}/typo\.yaml: unknown setting `epoch`; did you mean `epochs`\?"),
    ("run-missing-grid", ["run", "{tmp}/absent.yaml"], r"{tmp}/absent\.yaml: no such grid file -> check the path"),
    ("run-directory", ["run", "{tmp}/folder.yaml"], r"{tmp}/folder\.yaml: is a folder, not a grid file"),
    ("run-empty-grid", ["run", "{tmp}/empty.yaml"], r"{tmp}/empty\.yaml: the grid file is empty"),
    ("run-comments-only", ["run", "{tmp}/comments.yaml"], r"{tmp}/comments\.yaml: the grid file holds only comments -> write `notebook:`"),
    ("run-bad-yaml", ["run", "{tmp}/syntax.yaml"], r"{tmp}/syntax\.yaml: not valid YAML \(while parsing a flow sequence at line 3, column 9;"),
    ("run-corrupt-notebook", ["run", "{tmp}/badnb.yaml"], r"{tmp}/notebook\.ipynb: not a readable notebook \(.*\) -> fix `notebook:` in {tmp}/badnb\.yaml"),
    ("collect-missing-folder", ["collect", "{tmp}/nowhere"], r"{tmp}/nowhere: no such grid output folder -> check the path"),
    ("collect-file", ["collect", "{tmp}/empty.yaml"], r"{tmp}/empty\.yaml: is a file, not a grid output folder -> give the grid output folder that holds it: {tmp}"),
    ("collect-no-runs", ["collect", "{tmp}/results"],
     r"{tmp}/results: holds no run folders \(a run folder has config\.yaml or params\.yaml\); its sub-folders logs have neither -> give the `output_dir`"),
    ("bench-missing-folder", ["bench", "load", "{tmp}/nowhere"], r"{tmp}/nowhere: no such PTB-XL-layout folder -> check the path"),
    ("summary-file-not-folder", ["data", "summary", "{tmp}/empty.yaml"], r"{tmp}/empty\.yaml: is a file, not a PTB-XL-layout folder"),
    ("synth-into-a-file", ["data", "synth", "{tmp}/empty.yaml", "--quiet"], r"{tmp}/empty\.yaml: is a file, not a folder -> give a new or existing folder"),
]


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("argv, pattern", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_is_one_line_exit_2(bad, argv, pattern):
    import re
    r = run_cli(*[a.format(tmp=bad) for a in argv])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert re.fullmatch("ecgbench: error: " + pattern.format(tmp=re.escape(str(bad))) + r".*", lines[0]), lines[0]


@pytest.mark.parametrize("argv, words", [(["data", "synth", "X", "--n", "0"], "argument --n: must be at least 1, got 0"),
                                         (["bench", "load", "X", "--limit", "ten"], "argument --limit: expected a whole number, got 'ten'")],
                         ids=["count-zero", "count-not-a-number"])
def test_cli_bad_counts_are_refused_by_argparse(argv, words):
    r = run_cli(*argv)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].endswith(words) and "Traceback" not in r.stderr, r.stderr


def test_distinct_kinds():
    assert len({c[0] for c in CLI_CASES}) == len(CLI_CASES) >= 12


def _run_folder(root, name, metrics=None, status=None, config="seed: 1\n"):
    d = root / name; d.mkdir(parents=True)
    if config is not None: (d / "config.yaml").write_text(config)
    if metrics is not None: (d / "metrics.json").write_text(metrics)
    if status is not None: (d / "status.json").write_text(status)
    return d


@pytest.fixture()
def damaged(tmp_path):
    "A results folder: two good runs and one of each kind of damage."
    out = tmp_path / "out"
    good = json.dumps({"test": {"RSUM": 100.0, "collapsed": 0}, "seconds": 1.0})
    _run_folder(out, "good-a", good, '{"status": "ok", "detail": "1 s"}')
    _run_folder(out, "good-b", good)                                           # a single `ecgbench train` run
    _run_folder(out, "truncated-metrics", good[:20], '{"status": "ok", "detail": ""}')
    _run_folder(out, "list-metrics", "[1, 2]", '{"status": "ok", "detail": ""}')
    _run_folder(out, "no-metrics", None, '{"status": "ok", "detail": ""}')
    _run_folder(out, "not-finished", None, None)
    _run_folder(out, "failed", None, '{"status": "failed", "detail": "RuntimeError: boom"}')
    _run_folder(out, "bad-status", good, '{"status": ')
    _run_folder(out, "bad-config", good, None, config="seed: [1\n")
    (out / "stray").mkdir()
    return out


def test_collect_reports_each_damaged_run_by_name(damaged):
    table = collect(damaged).set_index("run")
    rep = table.attrs["report"]
    assert sorted(rep.loaded) == ["good-a", "good-b"]
    assert {k: sorted(v) for k, v in rep.skipped.items()} == {
        "corrupt metrics.json": ["list-metrics", "truncated-metrics"], "corrupt status.json": ["bad-status"],
        "corrupt config": ["bad-config"], "failed": ["failed", "no-metrics"], "no metrics.json": ["not-finished"],
        "not a run folder": ["stray"]}
    assert rep.n_skipped == 8 and len(table) == 9
    assert table.loc["truncated-metrics", "status"] == "corrupt" and "metrics.json: not valid JSON" in table.loc["truncated-metrics", "detail"]
    assert "holds a list, not a JSON object" in table.loc["list-metrics", "detail"]
    assert table.loc["no-metrics", "detail"] == "no metrics.json written"
    assert table.loc["bad-config", "status"] == "corrupt" and "bad-config/config.yaml: unreadable" in table.loc["bad-config", "detail"]
    assert table.loc["good-a", "test.RSUM"] == 100.0
    saved = pd.read_csv(damaged / "results.csv").set_index("run")
    assert saved.loc["truncated-metrics", "status"] == "corrupt"
    md = (damaged / "results.md").read_text()
    assert "Not read as results" in md and "corrupt metrics.json: 2" in md


def test_cli_collect_counts_damaged_runs_on_stderr(damaged):
    r = run_cli("collect", str(damaged), "--json")
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ("ecgbench: collect: 8 of 10 folders not read as results: corrupt config: bad-config; "
                                "corrupt metrics.json: list-metrics, truncated-metrics; corrupt status.json: bad-status; "
                                "failed: failed, no-metrics; no metrics.json: not-finished; not a run folder: stray")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["runs"] == 9 and out["report"]["n_skipped"] == 8 and out["report"]["skipped"]["corrupt metrics.json"] == 2


def test_collect_python_errors(tmp_path):
    with pytest.raises(DataError, match=r"nowhere: no such grid output folder") as e:
        collect(tmp_path / "nowhere")
    assert e.value.reason == "missing"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: holds no run folders \(a run folder has config\.yaml or params\.yaml\) -> ") as e:
        collect(tmp_path / "empty")
    assert e.value.reason == "no_runs"
