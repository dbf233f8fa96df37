"""Bad inputs to run folders (issue 15, problems 3 and 4): a folder that already holds a run, two runs into one folder at
once, and a finished run folder whose files were deleted, truncated or edited. Each case ends in a clear error naming
the file and what to do, a fallback that says what it did, or a rebuilt derived cache — never a silent wrong model,
and never a changed file of the run that was there first."""
import json
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO, run_cli
from ecgbench.core import DataError
from ecgbench.rundir import RunFolderError, read_manifest
from ecgbench.runs import Run, run_banner
from ecgbench.testing import test_raises
from ecgbench.train.loop import train


def _config(synth_root, out, **kw) -> dict:
    "A CLIP run of a few seconds on the session's synthetic data."
    return {**dict(method="clip", source="synthetic", data_dir=str(synth_root), ecg_encoder="resnet1d18",
                   ecg_kw={"width": 8, "stem_pool": True}, text_encoder="tiny", embed_dim=16, epochs=2, batch_size=16,
                   seed=0, progress=False, threads=1, output_dir=str(out)), **kw}


def _snapshot(folder) -> dict:
    "Every file under `folder` (bar the lock file) with its bytes."
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != ".run.lock"}


@pytest.fixture(scope="module")
def trained(synth_root, tmp_path_factory):
    "One finished run folder and its config file; tests copy it before damaging it."
    base = tmp_path_factory.mktemp("rundir")
    cfg = _config(synth_root, base / "run")
    train(cfg)
    (base / "run.yaml").write_text(yaml.safe_dump(cfg))
    return base / "run", base / "run.yaml", cfg


@pytest.fixture()
def copy(trained, tmp_path):
    "A private copy of the trained run folder (its output_dir rewritten to the copy's place)."
    dest = tmp_path / "run"
    shutil.copytree(trained[0], dest)
    return dest


# ---- problem 3: an output folder has an owner

def test_second_train_into_a_finished_folder_is_refused(trained):
    folder, cfg_file, _ = trained
    before = _snapshot(folder)
    r = run_cli("train", str(cfg_file))
    assert r.returncode == 2, r.stderr
    assert f"ecgbench: error: {folder}: output_dir already holds this run, finished (metrics.json)" in r.stderr
    assert "--overwrite" in r.stderr and "Traceback" not in r.stderr
    assert _snapshot(folder) == before


def test_epochs0_rerun_into_a_used_folder_is_refused(trained):
    folder, cfg_file, _ = trained
    before = _snapshot(folder)
    r = run_cli("train", str(cfg_file), "--set", "epochs=0")
    assert r.returncode == 2 and f"{folder}: output_dir holds a finished run of another config (epochs: 2 -> 0)" in r.stderr, r.stderr
    assert _snapshot(folder) == before
    run = Run(folder)
    assert run.config.epochs == 2 and run.checkpoint.name == "best.ckpt"      # Run shows the run that is there, whole


def test_check_says_the_folder_is_taken_and_overwrite_from_the_cli(trained, copy, tmp_path):
    "`train --check` refuses a used folder before any work; `train --overwrite` (here an epochs-0 run) moves the old one aside."
    cfg = {**trained[2], "output_dir": str(copy)}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    before = _snapshot(copy)
    r = run_cli("train", str(tmp_path / "c.yaml"), "--check", "--set", "epochs=0")
    assert r.returncode == 2 and "holds a finished run of another config (epochs: 2 -> 0)" in r.stderr and _snapshot(copy) == before
    r = run_cli("train", str(tmp_path / "c.yaml"), "--resume", "--overwrite")
    assert r.returncode == 2 and "--resume and --overwrite exclude each other" in r.stderr
    r = run_cli("train", str(tmp_path / "c.yaml"), "--set", "epochs=0", "--overwrite", "--json")
    assert r.returncode == 0, r.stderr
    moved = list((copy / ".replaced").iterdir())
    assert len(moved) == 1 and _snapshot(moved[0]) == before and Run(copy).config.epochs == 0


def test_overwrite_moves_the_old_run_aside(trained, copy):
    before = _snapshot(copy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = train({**trained[2], "epochs": 0, "output_dir": str(copy)}, overwrite=True)
    aside = Path(res["run_folder"]["moved_to"])
    assert res["run_folder"]["action"] == "overwrite" and aside.parent == copy / ".replaced"
    assert any("overwriting a finished run" in str(w.message) for w in caught)
    assert _snapshot(aside) == before                                         # the old run, whole, byte for byte
    assert set(before) >= {"metrics.json", "config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "manifest.json"}
    now = Run(copy)
    assert now.config.epochs == 0 and now.checkpoint is None and not now.trained      # the new run, not a mix of both
    assert "untrained weights" in now.checkpoint_label()


def test_two_concurrent_runs_into_one_folder(synth_root, tmp_path):
    "The first run holds the folder for its whole life; the second fails at once, naming it; the first finishes intact."
    out = tmp_path / "shared"
    cfg = _config(synth_root, out, epochs=12)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    first = subprocess.Popen([str(Path(sys.executable).with_name("ecgbench")), "train", str(tmp_path / "c.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    deadline = time.time() + 120
    while not (out / ".run.owner").exists():
        assert first.poll() is None, first.communicate()
        assert time.time() < deadline, "the first run never took its folder"
        time.sleep(0.05)
    pid = json.loads((out / ".run.owner").read_text())["pid"]
    test_raises(lambda: train({**cfg, "epochs": 1}), RunFolderError,
                contains=[str(out), "another run is writing into this output_dir", f"pid {pid}"])
    test_raises(lambda: train(cfg, overwrite=True), RunFolderError, contains="another run is writing")   # overwrite: no exception
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    run = Run(out)
    assert run.config.epochs == 12 and len(run.metrics["val_history"]) == 12 and not run.damaged
    assert not (out / ".run.owner").exists() and not (out / ".replaced").exists()


# ---- problem 4: Run and the dashboards check the files of a run folder

def _damage_checkpoints(d):
    shutil.rmtree(d / "checkpoints")


def _truncate(path, n=500):
    path.write_bytes(path.read_bytes()[:n])


def test_checkpoints_deleted(copy):
    _damage_checkpoints(copy)
    run = Run(copy)
    assert run.checkpoint is None and run.trained and "NO CHECKPOINT" in repr(run) and "color:#b00020" in run_banner(run)
    test_raises(run.model, DataError, contains=[f"{copy}/checkpoints", "the run trained but has no intact checkpoint",
                                                "best.ckpt: missing", "random ones would pass for them"])
    from ecgbench.dashboards.retrieval import RetrievalBrowser
    test_raises(lambda: RetrievalBrowser(Run(copy)), DataError, contains="no intact checkpoint")   # no dashboard on random weights


def test_truncated_best_falls_back_to_last(copy):
    _truncate(copy / "checkpoints" / "best.ckpt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Run(copy)
    assert run.checkpoint.name == "last.ckpt"
    assert any("best.ckpt: 500 bytes, the run wrote" in str(w.message) and "using last.ckpt instead" in str(w.message) for w in caught)
    run.model()                                                               # the intact last.ckpt, loaded strictly
    assert "checkpoint last.ckpt (instead of best.ckpt" in run_banner(run) and "color:#b00020" in run_banner(run)


def test_both_checkpoints_truncated(copy):
    for name in ("best.ckpt", "last.ckpt"): _truncate(copy / "checkpoints" / name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = Run(copy)
    test_raises(run.model, DataError, contains=["best.ckpt: 500 bytes", "last.ckpt: 500 bytes", "--overwrite"])


def test_truncated_checkpoint_without_manifest(copy):
    "A run from before manifests: a truncated best.ckpt is still caught (not a complete zip), with the path."
    (copy / "manifest.json").unlink()
    _truncate(copy / "checkpoints" / "best.ckpt")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = Run(copy)
    assert run.checkpoint.name == "last.ckpt" and "best.ckpt: truncated or corrupt" in str(caught[0].message)


def test_truncated_metrics_names_the_file(copy):
    _truncate(copy / "metrics.json", 100)
    test_raises(lambda: Run(copy), DataError, contains=[f"{copy}/metrics.json", "is not valid JSON", "100 bytes, the run wrote"])


def test_damaged_manifest_names_the_file(copy):
    _truncate(copy / "manifest.json", 30)
    test_raises(lambda: Run(copy), RunFolderError, contains=[f"{copy}/manifest.json: damaged", "delete manifest.json"])


def test_truncated_embeddings_cache_is_rebuilt(copy):
    run = Run(copy)
    good = run.embeddings("test")
    cache = run._cache_path("test")
    _truncate(cache, 200)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = Run(copy).embeddings("test")
        third = Run(copy).embeddings("test")                                  # rebuilt once, then served
    assert sum("damaged embeddings cache" in str(w.message) for w in caught) == 1
    assert all(np.array_equal(again[k], good[k]) and np.array_equal(third[k], good[k]) for k in good)


def test_config_edited_away_from_its_checkpoint(copy):
    c = yaml.safe_load((copy / "config.yaml").read_text())
    c["embed_dim"] = 32
    (copy / "config.yaml").write_text(yaml.safe_dump(c))
    test_raises(lambda: Run(copy), DataError, contains=[f"{copy}/config.yaml", "differs from the config this run trained with",
                                                        "embed_dim: 16 -> 32", "metrics.json's 'params'"])


def test_moved_data_is_not_a_config_change(copy, synth_root, tmp_path):
    "Where the data or caches lie is not part of a run's identity: a moved dataset opens the same run."
    shutil.copytree(synth_root, tmp_path / "moved")
    c = yaml.safe_load((copy / "config.yaml").read_text())
    c["data_dir"] = str(tmp_path / "moved")
    (copy / "config.yaml").write_text(yaml.safe_dump(c))
    run = Run(copy)
    assert run.config.data_dir == str(tmp_path / "moved") and read_manifest(copy) is not None
    run.model()
