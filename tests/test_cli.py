"""End-to-end tests of the `ecgbench` console script (run as a subprocess, as a user would)."""
import functools
import hashlib
import http.server
import json
import threading

import pytest

from conftest import run_cli


@pytest.mark.parametrize("args, words", [
    ([], "data"), (["data"], "summary"), (["data", "synth"], "synthetic"), (["data", "summary"], "--json"),
    (["data", "download"], "SHA256"), (["bench", "load"], "warm"), (["demo"], "quick start")])
def test_help_explains_each_command(args, words):
    r = run_cli(*args, "--help")
    assert r.returncode == 0 and words in r.stdout, r.stdout + r.stderr


def test_synth_then_summary_json(tmp_path):
    root = tmp_path / "syn"
    assert run_cli("data", "synth", str(root), "--n", "40", "--seed", "5", "--quiet").returncode == 0
    r = run_cli("data", "summary", str(root), "--rate", "500", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["n_records"] == 40 and s["n_missing"] == 0 and s["signal_shape"] == [5000, 12]
    assert set(s["labels"]) == {"superdiagnostic", "subdiagnostic", "form", "rhythm", "all"}
    assert sum(s["folds"].values()) == 40 and s["verified_identical_to_rdsamp"] == "5/5"


def test_summary_counts_missing_records(synth_copy):
    (next(synth_copy.glob("records100/*/*_lr.dat"))).unlink()
    s = json.loads(run_cli("data", "summary", str(synth_copy), "--json").stdout)
    assert s["n_missing"] == 1 and s["n_records"] == s["n_rows"] - 1 and sum(s["missing_by_fold"].values()) == 1


def test_bench_load_json(synth_root):
    r = run_cli("bench", "load", str(synth_root), "--limit", "30", "--json")
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout.strip().splitlines()[-1])
    assert b["n_records"] == 30 and min(b["plain_s"], b["cold_s"], b["warm_s"]) > 0
    assert {"cold_speedup", "warm_speedup", "goals"} <= set(b)


def test_bad_dir_is_one_clear_error(tmp_path):
    r = run_cli("data", "summary", str(tmp_path / "absent"))
    assert r.returncode == 2 and "absent" in r.stderr and "Traceback" not in r.stderr


def _serve(folder):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a, **k: None
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_download_from_local_mirror(synth_root, tmp_path):
    files = sorted(p for p in synth_root.rglob("*") if p.is_file() and "records500" not in p.parts)[:12]
    sums = "".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()} {p.relative_to(synth_root).as_posix()}\n" for p in files)
    (tmp_path / "mirror").mkdir()
    for p in files:
        dest = tmp_path / "mirror" / p.relative_to(synth_root); dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(p.read_bytes())
    (tmp_path / "mirror" / "SHA256SUMS.txt").write_text(sums)
    srv = _serve(tmp_path / "mirror")
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}/"
        r = run_cli("data", "download", "ptbxl", str(tmp_path / "got"), "--url", url, "--quiet")
        assert r.returncode == 0, r.stderr
        for p in files:
            assert (tmp_path / "got" / p.relative_to(synth_root)).read_bytes() == p.read_bytes()
        victim = tmp_path / "mirror" / files[0].relative_to(synth_root)
        victim.write_bytes(b"corrupted" + victim.read_bytes()[9:])
        (tmp_path / "got" / files[0].relative_to(synth_root)).unlink()
        r = run_cli("data", "download", "ptbxl", str(tmp_path / "got"), "--url", url, "--quiet")
        assert r.returncode == 2 and files[0].name in r.stderr, r.stderr
    finally:
        srv.shutdown()
