"""The signal cache under concurrency: several spawned processes, one build; stale temporary folders by host."""
import hashlib
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import wfdb

import ecgbench.cache as cache_mod
from ecgbench.core import LEADS, DataError


def _records(folder: Path, n: int = 30) -> tuple[list[str], list[str]]:
    "`n` small 12-lead WFDB records (500 samples at 100 Hz) in `folder`."
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        d = np.random.default_rng(i).integers(-1000, 1000, size=(500, 12))
        wfdb.wrsamp(f"r{i}", fs=100, units=["mV"] * 12, sig_name=list(LEADS), d_signal=d, fmt=["16"] * 12,
                    adc_gain=[200.0] * 12, baseline=[5] * 12, write_dir=str(folder))
        paths.append(str(folder / f"r{i}"))
    return paths, [f"r{i}" for i in range(n)]


def _count_builds(log) -> None:
    "Make this process's cache builds slow (the other processes arrive while one runs) and log each to `log`."
    real = cache_mod._build

    def counted(folder, *a, **k):
        with open(log, "a") as f:
            f.write(f"{cache_mod._host()} {os.getpid()} {folder.name}\n")
        time.sleep(1.5)
        return real(folder, *a, **k)

    cache_mod._build = counted


def _racer(paths, ids, cache_dir, log, barrier, out):
    "One competing (spawned) process: count its builds in `log`, wait for the others, load, report key + array hash."
    _count_builds(log)
    barrier.wait()
    c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, n_jobs=1, progress=False)
    out.put((c.key, hashlib.sha256(c.array().tobytes()).hexdigest(), str(c.array().dtype)))


def test_three_processes_build_once(tmp_path):
    paths, ids = _records(tmp_path / "recs")
    cache_dir, log = tmp_path / "cache", tmp_path / "builds.log"
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_racer, args=(paths, ids, cache_dir, log, barrier, out)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:                                         # results are small: a child exits right after putting its own
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    got = [out.get(timeout=10) for _ in procs]
    builds = log.read_text().splitlines()
    assert len(builds) == 1, builds
    ref = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False)
    assert set(got) == {(ref.key, hashlib.sha256(ref.array().tobytes()).hexdigest(), "float32")}
    names = sorted(p.name for p in cache_dir.iterdir())
    assert names == sorted([ref.key, f"{ref.key}.lock"])    # no temporary folder left behind
    assert ref.meta["built_by"]["pid"] == int(builds[0].split()[1])


def test_stale_cleanup_spares_other_hosts_and_live_builds(tmp_path):
    paths, ids = _records(tmp_path / "recs", n=5)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    key = cache_mod.cache_key(paths, ids, rate=100)
    dead = subprocess.Popen(["true"])
    dead.wait()                                             # a pid of this host that has just ended
    host = cache_mod._host()
    mine_dead = cache_dir / f".tmp-{key}-{host}-{dead.pid}-deadbeef"
    mine_live = cache_dir / f".tmp-{key}-{host}-{os.getpid()}-deadbeef"
    other = cache_dir / f".tmp-{key}-{host}x.other-node-{dead.pid}-deadbeef"   # another node, same pid number
    other_key = cache_dir / f".tmp-{'0' * 16}-{host}-{dead.pid}-deadbeef"    # another key: not this build's business
    for d in (mine_dead, mine_live, other, other_key):
        d.mkdir()
        (d / "signals.npy").write_bytes(b"partial")
    c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False)
    assert c.key == key and len(c) == 5
    assert not mine_dead.exists()
    assert mine_live.exists() and other.exists() and other_key.exists()


def test_code_fingerprint_is_in_the_key(tmp_path, monkeypatch):
    paths, ids = _records(tmp_path / "recs", n=3)
    k = cache_mod.cache_key(paths, ids, rate=100)
    monkeypatch.setattr(cache_mod, "code_fingerprint", lambda: "0123456789abcdef")
    assert cache_mod.cache_key(paths, ids, rate=100) != k
    monkeypatch.setattr(cache_mod, "__version__", "99.0")
    k2 = cache_mod.cache_key(paths, ids, rate=100)
    monkeypatch.setattr(cache_mod, "__version__", "99.1")
    assert cache_mod.cache_key(paths, ids, rate=100) != k2


def test_incomplete_cache_folder_is_rebuilt(tmp_path):
    paths, ids = _records(tmp_path / "recs", n=3)
    cache_dir = tmp_path / "cache"
    final = cache_dir / cache_mod.cache_key(paths, ids, rate=100)
    final.mkdir(parents=True)
    np.save(final / "signals.npy", np.zeros((3, 500, 12), np.float32))   # no meta.json: never served
    c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False)
    ref, _ = wfdb.rdsamp(paths[1])
    assert (final / "meta.json").is_file() and np.array_equal(c[1], ref.astype(np.float32))


def test_read_only_cache_dir_says_what_to_do(tmp_path):
    paths, ids = _records(tmp_path / "recs", n=3)
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: chmod does not make a folder read-only for this user")
        with pytest.raises(DataError) as e:
            cache_mod.load_signals(paths, ids, rate=100, cache_dir=ro / "cache", progress=False)
        msg = str(e.value)
        assert str(ro / "cache") in msg and "cache_dir=" in msg and "ECGBENCH_DATA" in msg
    finally:
        os.chmod(ro, 0o755)


def test_read_only_cache_dir_message_even_as_root(tmp_path, monkeypatch):
    "Where chmod cannot stop root, simulate the read-only folder through os.access."
    paths, ids = _records(tmp_path / "recs", n=3)
    real_access = os.access
    target = tmp_path / "ro"
    target.mkdir()
    monkeypatch.setattr(cache_mod.os, "access", lambda p, m, *a, **k: False if Path(p) == target else real_access(p, m, *a, **k))
    with pytest.raises(DataError) as e:
        cache_mod.load_signals(paths, ids, rate=100, cache_dir=target, progress=False)
    assert e.value.reason == "cache_not_writable" and str(target) in str(e.value) and "ECGBENCH_DATA" in str(e.value)


def test_waiting_too_long_for_another_builder_says_so(tmp_path):
    paths, ids = _records(tmp_path / "recs", n=3)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    lock = cache_dir / f"{cache_mod.cache_key(paths, ids, rate=100)}.lock"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time, filelock; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
                               "print('held', flush=True); time.sleep(60)", str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"          # another process is "building" this cache
        with pytest.raises(TimeoutError, match="lock"):
            cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False, lock_timeout=0.5)
    finally:
        holder.kill()
        holder.wait()
    c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False, lock_timeout=5)   # released on death
    assert len(c) == 3


def _damaged_racer(paths, ids, cache_dir, log, barrier, out):
    "A competing process on a damaged cache: count rebuilds, record the warnings it saw."
    import warnings
    _count_builds(log)
    barrier.wait()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, n_jobs=1, progress=False)
    out.put((c.key, hashlib.sha256(c.array().tobytes()).hexdigest(), sum("damaged signal cache" in str(x.message) for x in w)))


def test_three_processes_repair_a_damaged_cache_once(tmp_path):
    paths, ids = _records(tmp_path / "recs")
    cache_dir, log = tmp_path / "cache", tmp_path / "builds.log"
    ref = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False)
    want = (ref.key, hashlib.sha256(ref.array().tobytes()).hexdigest())
    sig = ref.folder / "signals.npy"
    del ref
    os.truncate(sig, sig.stat().st_size - 100)                 # damaged: every process sees it, one rebuilds
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_damaged_racer, args=(paths, ids, cache_dir, log, barrier, out)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    got = [out.get(timeout=10) for _ in procs]
    assert len(log.read_text().splitlines()) == 1
    assert {g[:2] for g in got} == {want} and all(g[2] <= 1 for g in got) and sum(g[2] for g in got) >= 1
    assert sorted(p.name for p in cache_dir.iterdir()) == sorted([want[0], f"{want[0]}.lock"])
    assert cache_mod.verify(cache_dir / want[0], full=True) is None


def test_other_hosts_temp_folders_judged_by_heartbeat(tmp_path):
    "Another node's build that beats is never removed, whatever its folder's age; one silent for STALE_AFTER s is."
    paths, ids = _records(tmp_path / "recs", n=3)
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    key = cache_mod.cache_key(paths, ids, rate=100)
    old = time.time() - cache_mod.STALE_AFTER - 100
    beating = cache_dir / f".tmp-{key}-node7.cluster-4242-0000aaaa"
    silent = cache_dir / f".tmp-{key}-node7.cluster-4343-0000bbbb"
    live_here = cache_dir / f".tmp-{key}-{cache_mod._host()}-{os.getpid()}-0000cccc"
    for d in (beating, silent, live_here):
        d.mkdir()
        (d / "heartbeat").touch()
    for d in (silent, live_here):
        os.utime(d / "heartbeat", (old, old))
    for d in (beating, silent, live_here):
        os.utime(d, (old, old))
    c = cache_mod.load_signals(paths, ids, rate=100, cache_dir=cache_dir, progress=False)
    assert len(c) == 3 and beating.exists() and live_here.exists() and not silent.exists()
    assert not list(cache_dir.glob(".clock-*"))                # the clock probe is removed


def test_a_running_build_keeps_its_heartbeat_fresh(tmp_path, monkeypatch):
    paths, ids = _records(tmp_path / "recs", n=5)
    monkeypatch.setattr(cache_mod, "HEARTBEAT_S", 0.0)
    seen = []
    real = cache_mod._one

    def watch(*a, **k):
        tmp = next((tmp_path / "cache").glob(".tmp-*"))
        seen.append((tmp / "heartbeat").stat().st_mtime_ns)
        time.sleep(0.01)
        return real(*a, **k)

    monkeypatch.setattr(cache_mod, "_one", watch)
    cache_mod.load_signals(paths, ids, rate=100, cache_dir=tmp_path / "cache", n_jobs=1, progress=False)
    assert len(seen) == 5 and seen == sorted(seen) and seen[-1] > seen[0]
