"""A batch load over damaged records: every bad record is skipped and counted by reason, never silent."""
import numpy as np
import wfdb

from ecgbench.cache import load_ptbxl
from ecgbench.data import ptbxl


def _paths(root):
    db = ptbxl.load_database(root)
    return db, [ptbxl.record_path(root, db, i, 100) for i in db.index]


def test_damaged_records_are_counted_by_reason(synth_copy, tmp_path):
    db, paths = _paths(synth_copy)
    dat = lambda k: paths[k].with_suffix(".dat")
    hea = lambda k: paths[k].with_suffix(".hea")
    dat(0).unlink()                                                # missing file
    dat(1).write_bytes(dat(1).read_bytes()[:5000])                 # truncated .dat
    dat(2).write_bytes(dat(2).read_bytes() + b"\0" * 240)          # longer than the header says
    hea(3).write_text(hea(3).read_text().replace(" V6\n", " XX\n"))  # unknown lead name
    sig = wfdb.rdrecord(str(paths[4]))                             # NaN samples
    d = sig.adc(); d[100:110, 3] = -32768
    raw = d.astype("<i2").tobytes(); dat(4).write_bytes(raw)
    cache = load_ptbxl(synth_copy, rate=100, cache_dir=tmp_path / "cache", progress=False)
    rep = cache.report
    assert db.index[0] in rep.missing
    expected = {1: "truncated", 2: "length_mismatch", 3: "unknown_lead", 4: "nonfinite"}
    for k, reason in expected.items():
        assert db.index[k] in rep.skipped.get(reason, []), (reason, rep.to_dict())
    assert len(cache) == len(db) - 5 and not set(cache.ids) & {db.index[k] for k in range(5)}
    good = cache.ids[0]
    assert np.array_equal(cache[cache.index_of(good)], wfdb.rdsamp(str(ptbxl.record_path(synth_copy, db, good, 100)))[0].astype(np.float32))
