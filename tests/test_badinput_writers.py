"""Writers never destroy data: `data synth`, `default_synthetic`, the PhysioNet download and `make realdata` write only
into a folder that is new, empty or their own earlier output; anything else is refused, named, and left byte for byte."""
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

import ecgbench.data.synthetic as synth_mod
from ecgbench.cli import main as cli_main
from ecgbench.core import DataError
from ecgbench.data.download import download_physionet, download_ptbxl
from ecgbench.data.synthetic import SYNTH_MARKER, default_synthetic, make_synthetic_ptbxl

REPO = Path(__file__).resolve().parents[1]


def _snapshot(folder: Path) -> dict:
    "Relative path -> bytes of every file under `folder` (hidden ones too)."
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _fake_real_ptbxl(folder: Path) -> Path:
    "A stand-in for a real PTB-XL copy: its metadata table and one record."
    (folder / "records100/00000").mkdir(parents=True)
    (folder / "ptbxl_database.csv").write_text("ecg_id,patient_id,scp_codes\n1,15709.0,\"{'NORM': 100.0, 'SR': 0.0}\"\n")
    (folder / "records100/00000/00001_lr.hea").write_text("00001_lr 12 100 1000\n")
    (folder / "records100/00000/00001_lr.dat").write_bytes(bytes(range(256)) * 10)
    return folder


def _siblings(folder: Path) -> list[str]:
    "Hidden entries beside `folder` (left-over temporary folders would show here)."
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- synthetic data

def test_synth_refuses_a_real_dataset_and_leaves_it_byte_identical(tmp_path):
    real = _fake_real_ptbxl(tmp_path / "ptbxl")
    before = _snapshot(real)
    with pytest.raises(DataError) as e:
        make_synthetic_ptbxl(real, n=5, seed=0, progress=False)
    assert str(e.value) == (f"{real}: is not empty (ptbxl_database.csv, records100/) and is not a synthetic dataset (no "
                            f"{SYNTH_MARKER}): writing there could overwrite a real dataset -> nothing was changed; give a "
                            "new or empty folder (or delete this one first if it is not needed)")
    assert e.value.reason == "not_empty" and _snapshot(real) == before and _siblings(real) == []


def test_cli_data_synth_over_a_real_dataset_exits_nonzero(tmp_path, capsys):
    real = _fake_real_ptbxl(tmp_path / "ptbxl")
    before = _snapshot(real)
    assert cli_main(["data", "synth", str(real), "--n", "5", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ecgbench: error: {real}: is not empty (ptbxl_database.csv, records100/)") and "nothing was changed" in err
    assert _snapshot(real) == before


def test_synth_into_its_own_folder_reuses_or_replaces_it_whole(tmp_path):
    root = make_synthetic_ptbxl(tmp_path / "syn", n=6, seed=1, progress=False)
    first, ino = _snapshot(root), (root / "ptbxl_database.csv").stat().st_ino
    assert SYNTH_MARKER in first
    assert make_synthetic_ptbxl(root, n=6, seed=1, progress=False) == root          # same parameters: verified, reused
    assert (root / "ptbxl_database.csv").stat().st_ino == ino and _snapshot(root) == first
    make_synthetic_ptbxl(root, n=9, seed=2, rates=(100,), progress=False)           # other parameters: replaced whole
    assert len(pd.read_csv(root / "ptbxl_database.csv")) == 9 and not (root / "records500").exists()
    good = _snapshot(make_synthetic_ptbxl(tmp_path / "ref", n=9, seed=2, rates=(100,), progress=False))
    assert _snapshot(root) == good
    (root / "records100/00000/00002_lr.dat").write_bytes(b"damaged")                    # damaged: regenerated whole
    (root / "records100/00000/00004_lr.hea").unlink()
    make_synthetic_ptbxl(root, n=9, seed=2, rates=(100,), progress=False)
    assert _snapshot(root) == good and _siblings(root) == []


def test_synth_refuses_its_own_output_with_a_file_added(tmp_path):
    root = make_synthetic_ptbxl(tmp_path / "syn", n=6, seed=1, progress=False)
    (root / "notes.txt").write_text("mine")
    before = _snapshot(root)
    with pytest.raises(DataError) as e:
        make_synthetic_ptbxl(root, n=8, seed=1, progress=False)
    assert str(e.value) == (f"{root}: is a synthetic dataset but also holds 1 file(s) it did not write (notes.txt) -> "
                            "nothing was changed; move those files away, or give another folder")
    assert _snapshot(root) == before


def test_synth_crash_while_regenerating_keeps_the_old_output_whole(tmp_path, monkeypatch):
    root = make_synthetic_ptbxl(tmp_path / "syn", n=6, seed=1, progress=False)
    before = _snapshot(root)
    real = synth_mod._write_dataset

    def crash(folder, *a, **k):
        real(folder, *a, **k)
        (folder / "ptbxl_database.csv").write_text("half")
        raise KeyboardInterrupt("killed while writing")
    monkeypatch.setattr(synth_mod, "_write_dataset", crash)
    with pytest.raises(KeyboardInterrupt):
        make_synthetic_ptbxl(root, n=8, seed=2, progress=False)
    assert _snapshot(root) == before and _siblings(root) == []


def test_default_synthetic_refuses_a_foreign_folder_at_its_place(tmp_path, monkeypatch):
    monkeypatch.setenv("ECGBENCH_DATA", str(tmp_path))
    place = tmp_path / "synthetic" / f"ptbxl_v{synth_mod.GENERATOR_VERSION}_n7_s3"
    place.mkdir(parents=True)
    (place / "notes.txt").write_text("mine")
    with pytest.raises(DataError) as e:
        default_synthetic(n=7, seed=3, progress=False)
    assert str(e.value).startswith(f"{place}: is not empty (notes.txt) and is not a synthetic dataset") and e.value.reason == "not_empty"
    assert _snapshot(place) == {"notes.txt": b"mine"}
    (place / "notes.txt").unlink()                                                    # empty: built there, atomically
    assert default_synthetic(n=7, seed=3, progress=False) == place and len(pd.read_csv(place / "ptbxl_database.csv")) == 7
    assert _siblings(place) == []


# ---------------------------------------------------------------- PhysioNet download (offline: a file:// mirror)

@pytest.fixture()
def mirror(tmp_path) -> tuple[str, dict]:
    "A tiny PTB-XL-like release under a file:// URL, with its SHA256SUMS.txt; returns (base_url, content)."
    content = {"LICENSE.txt": b"CC BY 4.0\n", "ptbxl_database.csv": b"ecg_id,report\n1,sinus rhythm\n",
               "records100/00000/00001_lr.hea": b"00001_lr 12 100 1000\n", "records100/00000/00001_lr.dat": os.urandom(5000)}
    src = tmp_path / "mirror"
    for k, v in content.items():
        (src / k).parent.mkdir(parents=True, exist_ok=True); (src / k).write_bytes(v)
    (src / "SHA256SUMS.txt").write_text("".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in content.items()))
    return src.as_uri() + "/", content


def test_download_refuses_a_foreign_folder_and_leaves_it_byte_identical(mirror, tmp_path):
    base, _ = mirror
    real = _fake_real_ptbxl(tmp_path / "ptbxl")
    before = _snapshot(real)
    with pytest.raises(DataError) as e:
        download_ptbxl(real, base, progress=False)
    assert str(e.value) == (f"{real}: is not empty (ptbxl_database.csv, records100/) and is not a download of {base} (no "
                            ".ecgbench_download.json): downloading there could overwrite other data -> nothing was changed; "
                            "download into a new or empty folder, or pass adopt=True to complete it (files that verify are "
                            "kept, no existing file is overwritten)")
    assert e.value.reason == "not_empty" and _snapshot(real) == before


def test_download_adopting_a_folder_never_overwrites_its_files(mirror, tmp_path):
    base, content = mirror
    real = _fake_real_ptbxl(tmp_path / "ptbxl")
    before = _snapshot(real)
    with pytest.raises(DataError) as e:
        download_ptbxl(real, base, progress=False, adopt=True)
    rep = e.value.report
    assert sorted(rep.failed) == ["ptbxl_database.csv", "records100/00000/00001_lr.dat"]
    assert rep.skipped == ["records100/00000/00001_lr.hea"]                             # the same bytes: verified, kept
    assert rep.failed["ptbxl_database.csv"] == ("exists and differs from the checksum list, and this download did not write "
                                                "it: left as it is (move it away and re-run to fetch it)")
    assert "first move away ptbxl_database.csv" in str(e.value)
    assert rep.downloaded == ["LICENSE.txt"] and (real / "LICENSE.txt").read_bytes() == content["LICENSE.txt"]
    assert all((real / k).read_bytes() == v for k, v in before.items())                # every file it found, unchanged
    with pytest.raises(DataError):                                                    # now its folder: still never overwritten
        download_ptbxl(real, base, progress=False)
    assert all((real / k).read_bytes() == v for k, v in before.items())


def test_download_resumes_its_own_folder(mirror, tmp_path):
    base, content = mirror
    dest = tmp_path / "got"
    assert sorted(download_ptbxl(dest, base, progress=False).downloaded) == sorted(content)
    assert json.loads((dest / ".ecgbench_download.json").read_text()) == {
        "base_url": base, "checksums": "SHA256SUMS.txt", "files": sorted([*content, "SHA256SUMS.txt"])}
    (dest / "records100/00000/00001_lr.dat").write_bytes(b"damaged")                   # its own file, damaged: fetched again
    (dest / "LICENSE.txt").unlink()
    (dest / "notes.txt").write_text("mine")                                           # not listed: never touched
    rep = download_ptbxl(dest, base, progress=False)
    assert rep.downloaded == ["LICENSE.txt", "records100/00000/00001_lr.dat"] and rep.failed == {}
    assert all((dest / k).read_bytes() == v for k, v in content.items()) and (dest / "notes.txt").read_text() == "mine"


def test_download_refuses_a_download_of_another_source(mirror, tmp_path):
    base, _ = mirror
    dest = tmp_path / "got"
    download_physionet(dest, base, progress=False)
    before = _snapshot(dest)
    other = base.replace("/mirror/", "/other/")
    with pytest.raises(DataError) as e:
        download_physionet(dest, other, progress=False)
    assert str(e.value) == (f"{dest}: is a download of {base} (SHA256SUMS.txt), not of {other} (SHA256SUMS.txt) -> nothing "
                            f"was changed; pass base_url={base!r} to resume that download, or download into a new or empty folder")
    assert _snapshot(dest) == before


# ---------------------------------------------------------------- make realdata

_UNPACK = "import pathlib, sys\np = pathlib.Path(sys.argv[1]); p.mkdir(parents=True, exist_ok=True)\n" \
          "(p / 'ptbxl_database.csv').write_text('real')\n"


@pytest.fixture()
def make_here(tmp_path):
    "Run the repository's `make realdata` in `tmp_path` against a fake shared folder (an unpacker and a CinC tarball)."
    shared = tmp_path / "shared"
    (shared / "ptbxl").mkdir(parents=True); (shared / "ptbxl/unpack.py").write_text(_UNPACK)
    (shared / "other").mkdir(); (tmp_path / "cinc_src").mkdir(); (tmp_path / "cinc_src/A0001.hea").write_text("A0001 12 500 5000\n")
    subprocess.run(["tar", "cJf", str(shared / "other/cinc2020_2021.tar.xz"), "-C", str(tmp_path / "cinc_src"), "A0001.hea"], check=True)
    work = tmp_path / "work"; work.mkdir()
    for f in ("settings.ini", "setup.py", "stamp"): (work / f).touch()                # the venv prerequisite, up to date
    def run():
        return subprocess.run(["make", "-s", "-f", str(REPO / "Makefile"), "realdata", f"SHARED={shared}", "STAMP=stamp",
                               f"BIN={REPO / '.venv/bin'}"], cwd=work, capture_output=True, text=True, timeout=120)
    return work, run


@pytest.mark.parametrize("folder", ["ptbxl", "cinc"])
def test_make_realdata_refuses_a_folder_without_its_marker(make_here, folder):
    work, run = make_here
    if shutil.which("make") is None: pytest.skip("no `make` on this machine")
    victim = _fake_real_ptbxl(work / "data" / folder)                                # e.g. a synthetic copy put there
    before = _snapshot(victim)
    r = run()
    assert r.returncode != 0, r.stdout + r.stderr
    assert (f"make realdata: data/{folder} holds other data (ptbxl_database.csv records100 ...) and no .unpacked marker: "
            "nothing was written there -> move it away or delete it") in r.stderr
    assert _snapshot(victim) == before
    # the normal path: moved away, both are unpacked (an empty folder is fine), then `make realdata` is a no-op
    victim.rename(work / "moved"); victim.mkdir()
    r = run()
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    assert _snapshot(work / "data/ptbxl") == {".unpacked": b"", "ptbxl_database.csv": b"real"}
    assert _snapshot(work / "data/cinc") == {".unpacked": b"", "A0001.hea": b"A0001 12 500 5000\n"}
    (work / "data/ptbxl/ptbxl_database.csv").write_text("kept")
    r = run()
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "" and (work / "data/ptbxl/ptbxl_database.csv").read_text() == "kept"
