"""Bad inputs to the signal cache, each with its exact outcome: a clear error, a counted skip, a counted flag, or a
rebuild with a warning; and never a good record lost or a wrong array served."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import wfdb

import ecgbench.cache as cache_mod
from ecgbench.cache import load_ptbxl
from ecgbench.core import DataError
from ecgbench.data import ptbxl

N = 60          # records in the synthetic fixture


def _paths(root):
    db = ptbxl.load_database(root)
    return db, [ptbxl.record_path(root, db, i, 100) for i in db.index]


def _digital(path: Path) -> np.ndarray:
    "Digital samples (T, 12) int16 of a synthetic record (format 16, no byte offset)."
    return np.fromfile(path.with_suffix(".dat"), dtype="<i2").reshape(-1, 12)


def _write(path: Path, d: np.ndarray, gain: str | None = None, n_sig: int = 12) -> None:
    "Replace the samples of `path` by `d` (T, n_sig), fixing the header's length (and gain, signal count)."
    d.astype("<i2").tofile(path.with_suffix(".dat"))
    lines = path.with_suffix(".hea").read_text().splitlines()
    head = lines[0].split()
    lines[0] = " ".join([head[0], str(n_sig), head[2], str(len(d))])
    sig = lines[1:1 + n_sig]
    if gain is not None: sig = [l.replace("1000.0(0)/mV", gain) for l in sig]
    path.with_suffix(".hea").write_text("\n".join([lines[0], *sig]) + "\n")


# kind -> (damage(record path), outcome class, reason)
def _nan(p):
    d = _digital(p); d[100:110, 3] = -32768; _write(p, d)
def _huge(p):
    d = _digital(p); d[200, 0], d[300, 11] = 30000, -30000; _write(p, d, gain="0.001(0)/mV")   # +-3e7 mV
def _zero(p): _write(p, np.zeros_like(_digital(p)))
def _flat(p):
    d = _digital(p); d[:, 7] = d[0, 7]; _write(p, d)
def _short(p): _write(p, _digital(p)[:600])
def _slightly_short(p): _write(p, _digital(p)[:995])
def _slightly_long(p): d = _digital(p); _write(p, np.concatenate([d, d[-8:]]))
def _eleven(p): _write(p, _digital(p)[:, :11], n_sig=11)
def _rate(p):
    h = p.with_suffix(".hea"); lines = h.read_text().splitlines(); f = lines[0].split(); f[2] = "500"
    h.write_text("\n".join([" ".join(f), *lines[1:]]) + "\n")

RECORD_KINDS = {
    "nan_samples": (_nan, "skipped", "nonfinite"),
    "amplitude_3e7_mV": (_huge, "skipped", "amplitude"),
    "all_zero_record": (_zero, "flagged", "all_zero"),
    "flat_lead": (_flat, "flagged", "flat_lead"),
    "shorter_record_at_head": (_short, "skipped", "length"),
    "slightly_short_record_at_head": (_slightly_short, "flagged", "length_adjusted"),
    "slightly_long_record_at_head": (_slightly_long, "flagged", "length_adjusted"),
    "eleven_leads": (_eleven, "skipped", "lead_count"),
    "other_sampling_rate": (_rate, "skipped", "rate"),
}


def test_clean_fixture_has_no_skips_or_flags(synth_root, tmp_path):
    c = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    assert len(c) == N and c.report.skipped == {} and c.report.flagged == {} and c.report.missing == []


@pytest.mark.parametrize("kind", list(RECORD_KINDS))
def test_bad_record_at_head_of_split(kind, synth_copy, tmp_path):
    "The damaged record is the first of the split: it is skipped or flagged by reason, and every other record loads unchanged."
    damage, outcome, reason = RECORD_KINDS[kind]
    db, paths = _paths(synth_copy)
    victim = db.index[0]
    damage(paths[0])
    c = load_ptbxl(synth_copy, cache_dir=tmp_path / "cache", progress=False)
    rep = c.report
    assert c.shape == (N - (outcome == "skipped"), 1000, 12), rep
    if outcome == "skipped":
        assert rep.skipped == {reason: [victim]} and rep.flagged == {} and victim not in c.ids
        assert str(paths[0]) in rep.examples[reason]
    else:
        assert rep.flagged == {reason: [victim]} and rep.skipped == {} and victim in c.ids and rep.n_flagged == 1
        assert str(paths[0]) in rep.examples[f"flag:{reason}"]
    good = [i for i in db.index if i != victim]
    assert set(good) <= set(c.ids.tolist())                                     # no good record lost
    for k in (1, 17, 42, N - 1):
        assert np.array_equal(c[c.index_of(db.index[k])], wfdb.rdsamp(str(paths[k]))[0].astype(np.float32))
    if kind == "slightly_short_record_at_head":                               # padded with its last sample
        x = wfdb.rdsamp(str(paths[0]))[0].astype(np.float32)
        assert np.array_equal(c[c.index_of(victim)], np.concatenate([x, np.repeat(x[-1:], 5, axis=0)]))
    # the flag information survives the cache's meta.json: a warm open reports the same
    again = load_ptbxl(synth_copy, cache_dir=tmp_path / "cache", progress=False)
    assert again.report == rep and again.report.to_dict() == rep.to_dict()


@pytest.mark.parametrize("kind", ["all_zero_record", "flat_lead"])
def test_drop_flagged_drops_and_counts(kind, synth_copy, tmp_path):
    damage, _, reason = RECORD_KINDS[kind]
    db, paths = _paths(synth_copy)
    damage(paths[5])
    keep = load_ptbxl(synth_copy, cache_dir=tmp_path, progress=False)
    drop = load_ptbxl(synth_copy, cache_dir=tmp_path, progress=False, drop_flagged=True)
    assert keep.key != drop.key and len(keep) == N and len(drop) == N - 1
    assert drop.report.flagged == {reason: [db.index[5]]} and drop.report.skipped == {"flagged": [db.index[5]]}
    assert np.array_equal(drop.array(), np.delete(np.asarray(keep.array()), 5, axis=0))


# ---------------------------------------------------------------- damaged caches: rebuilt with a warning, never served

def _truncate(f): os.truncate(f / "signals.npy", (f / "signals.npy").stat().st_size // 2)
def _delete(f): (f / "rows.npy").unlink()
def _in_place(f):
    p = f / "signals.npy"; st = p.stat()
    with open(p, "r+b") as fh:
        fh.seek(st.st_size // 2); b = fh.read(4); fh.seek(st.st_size // 2); fh.write(bytes(x ^ 0x55 for x in b))
def _in_place_mtime_kept(f):
    p = f / "signals.npy"; st = p.stat(); _in_place(f); os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
def _manifest(f): (f / "manifest.json").write_text("{not json")
def _meta(f):
    m = f / "meta.json"; m.write_text(m.read_text().replace('"fs"', '"fz"'))

CACHE_KINDS = {"truncated_cache_file": (_truncate, "signals.npy has"), "deleted_cache_file": (_delete, "rows.npy is missing"),
               "same_size_in_place_change": (_in_place, "signals.npy differs"),
               "in_place_change_mtime_kept": (_in_place_mtime_kept, "signals.npy differs"),
               "corrupt_manifest": (_manifest, "manifest.json unreadable"), "edited_meta": (_meta, "meta.json differs")}


@pytest.mark.parametrize("kind", list(CACHE_KINDS))
def test_damaged_cache_is_rebuilt_with_warning(kind, synth_root, tmp_path):
    damage, problem = CACHE_KINDS[kind]
    c = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    ref, folder = np.array(c.array()), c.folder
    del c
    damage(folder)
    assert cache_mod.verify(folder) is not None
    with pytest.warns(RuntimeWarning, match=re.escape(f"{folder}: damaged signal cache (") + ".*" + re.escape(problem)):
        c2 = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    assert c2.folder == folder and np.array_equal(c2.array(), ref) and cache_mod.verify(folder, full=True) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                          # the repaired cache opens silently
        assert np.array_equal(load_ptbxl(synth_root, cache_dir=tmp_path, progress=False).array(), ref)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, f"{folder.name}.lock"])


def test_truncated_cache_in_read_only_folder_is_a_clear_error(synth_root, tmp_path, monkeypatch):
    c = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    folder = c.folder
    del c
    _truncate(folder)
    real = os.access
    monkeypatch.setattr(cache_mod.os, "access", lambda p, m, *a, **k: False if Path(p) == tmp_path else real(p, m, *a, **k))
    with pytest.raises(DataError) as e:
        load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    msg = str(e.value)
    assert msg.startswith(f"{folder}: the signal cache is damaged (signals.npy has") and "cannot be written" in msg
    assert "`cache_dir` in the run config" in msg and "ECGBENCH_DATA" in msg and e.value.reason == "cache_not_writable"


def test_read_only_cache_dir_is_a_clear_error(synth_root, tmp_path, monkeypatch):
    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(cache_mod.os, "access", lambda p, m, *a, **k: False if Path(p) == ro else real(p, m, *a, **k))
    with pytest.raises(DataError) as e:
        load_ptbxl(synth_root, cache_dir=ro, progress=False)
    assert str(e.value) == (f"{ro}: the cache folder cannot be written -> set `cache_dir` in the run config (or pass "
                            "cache_dir=<a writable folder>), or set the ECGBENCH_DATA environment variable to a writable "
                            "folder (caches go to $ECGBENCH_DATA/cache)")
    assert e.value.reason == "cache_not_writable" and list(ro.iterdir()) == []


def test_complete_cache_in_read_only_folder_is_served(synth_root, tmp_path, monkeypatch):
    ref = np.array(load_ptbxl(synth_root, cache_dir=tmp_path, progress=False).array())
    real = os.access
    monkeypatch.setattr(cache_mod.os, "access", lambda p, m, *a, **k: False if Path(p) == tmp_path else real(p, m, *a, **k))
    assert np.array_equal(load_ptbxl(synth_root, cache_dir=tmp_path, progress=False).array(), ref)


def test_source_rewritten_with_mtime_kept_is_read_again(synth_copy, tmp_path):
    db, paths = _paths(synth_copy)
    c = load_ptbxl(synth_copy, cache_dir=tmp_path, progress=False)
    dat = paths[7].with_suffix(".dat")
    st = os.stat(dat)
    d = _digital(paths[7]); d[:, :] = d[::-1]                                   # same size, other content
    d.astype("<i2").tofile(dat)
    os.utime(dat, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(dat).st_mtime_ns == st.st_mtime_ns and os.stat(dat).st_size == st.st_size
    c2 = load_ptbxl(synth_copy, cache_dir=tmp_path, progress=False)
    new = wfdb.rdsamp(str(paths[7]))[0].astype(np.float32)
    assert c2.key != c.key and np.array_equal(c2[c2.index_of(db.index[7])], new)
    assert not np.array_equal(c[c.index_of(db.index[7])], new)


# ---------------------------------------------------------------- a build killed half-way

_CHILD = """
import sys, time
import ecgbench.cache as cm
real, n = cm._one, [0]
def slow(*a, **k):
    n[0] += 1
    if n[0] == 10: open(sys.argv[3], "w").write("midway")
    time.sleep(0.3)
    return real(*a, **k)
cm._one = slow
cm.load_ptbxl(sys.argv[1], cache_dir=sys.argv[2], n_jobs=1, progress=False)
"""


def test_build_killed_midway_then_next_build_succeeds(synth_root, tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "midway"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(synth_root), str(cache), str(marker)])
    try:
        t0 = time.time()
        while not marker.exists():
            assert child.poll() is None and time.time() - t0 < 120, "the child build ended before midway"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    left = [p for p in cache.iterdir() if p.name.startswith(".tmp-")]
    assert len(left) == 1 and f"-{child.pid}-" in left[0].name                 # only its temporary folder is left
    assert [p for p in cache.iterdir() if not p.name.startswith(".") and not p.name.endswith(".lock")] == []
    c = load_ptbxl(synth_root, cache_dir=cache, progress=False)                # next build: removes it, serves correct data
    db, paths = _paths(synth_root)
    assert len(c) == N and not left[0].exists()
    for k in (0, 9, 10, 11, N - 1):
        assert np.array_equal(c[c.index_of(db.index[k])], wfdb.rdsamp(str(paths[k]))[0].astype(np.float32))


# ---------------------------------------------------------------- a change the sampled hash cannot see

def test_change_outside_sampled_blocks_with_mtime_kept_is_rebuilt(synth_root, tmp_path, monkeypatch):
    """A large cache changed in place in a block the open does not sample, its mtime put back, is not served.
    (64 KiB blocks make the 2.9 MB signal file 'large': 44 blocks, 16 of them sampled.)"""
    monkeypatch.setattr(cache_mod, "BLOCK", 1 << 16)
    c = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    ref, folder = np.array(c.array()), c.folder
    del c
    p = folder / "signals.npy"
    st = p.stat()
    sampled = cache_mod._blocks(st.st_size)
    k = next(b for b in range(st.st_size // cache_mod.BLOCK) if b not in sampled)
    with open(p, "r+b") as fh:
        fh.seek(k * cache_mod.BLOCK + 1000); b = fh.read(4); fh.seek(k * cache_mod.BLOCK + 1000); fh.write(bytes(x ^ 0x55 for x in b))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    man = json.loads((folder / "manifest.json").read_text())["files"]["signals.npy"]
    assert p.stat().st_mtime_ns == man["mtime_ns"] and cache_mod._hash(p, sampled) == man["sample"]   # invisible to the sample
    with pytest.warns(RuntimeWarning, match=re.escape(f"{folder}: damaged signal cache (signals.npy differs from its checksum)")):
        c2 = load_ptbxl(synth_root, cache_dir=tmp_path, progress=False)
    assert np.array_equal(c2.array(), ref) and cache_mod.verify(folder, full=True) is None
