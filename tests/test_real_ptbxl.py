"""Checks on the real PTB-XL development copy (skipped, saying why, where it is absent)."""
import numpy as np
import wfdb

from ecgbench.cache import load_ptbxl
from ecgbench.core import LEADS
from ecgbench.data import ptbxl
from ecgbench.summary import summarize


def test_summary_of_shared_copy(real_ptbxl):
    s = summarize(real_ptbxl, rate=100, verify=25, seed=1)
    assert s["n_rows"] == 21837
    assert s["n_records"] + s["n_missing"] == 21837
    assert s["n_classes"] == {"superdiagnostic": 5, "subdiagnostic": 23, "form": 19, "rhythm": 12, "all": 71}
    assert s["verified_identical_to_rdsamp"] == "25/25" and s["signal_shape"] == [1000, 12]
    assert set(s["patient_overlap"].values()) == {0}
    if s["n_missing"]:   # the shared copy withholds fold 10's signals
        assert s["missing_by_fold"].get("10", 0) > 0


def test_splits_are_patient_disjoint_for_any_folds(real_ptbxl):
    db = ptbxl.load_database(real_ptbxl)
    for folds in ({}, dict(train=tuple(range(1, 8)), val=(8,), test=(9,))):
        sp = ptbxl.split(db, **folds)
        pats = {k: set(db.loc[v, "patient_id"]) for k, v in sp.items()}
        assert not pats["train"] & pats["val"] and not pats["train"] & pats["test"] and not pats["val"] & pats["test"]


def test_cached_signals_identical_to_rdsamp(real_ptbxl, tmp_path):
    db = ptbxl.load_database(real_ptbxl)
    ids = db.index[db.strat_fold == 9][:300]
    cache = load_ptbxl(real_ptbxl, rate=100, ecg_ids=ids, cache_dir=tmp_path, progress=False)
    rng = np.random.default_rng(0)
    for eid in rng.choice(cache.ids, 20, replace=False):
        ref, f = wfdb.rdsamp(str(ptbxl.record_path(real_ptbxl, db, eid, 100)))
        order = [[n.upper() for n in f["sig_name"]].index(l.upper()) for l in LEADS]
        got, ref = cache[cache.index_of(eid)], ref[:, order]
        assert got.dtype == np.float32 and np.array_equal(got, ref.astype(np.float32))   # rdsamp rounded to float32
        assert np.max(np.abs(got - ref) / np.maximum(np.abs(ref), 1e-12)) <= 1e-6
