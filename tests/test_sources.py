"""Data sources across modules: real PTB-XL, the CinC and MIMIC samples, and one loader for every source."""
import json
import tarfile
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ecgbench.core import DataError, shared_data
from ecgbench.dataset import collate, ptbxl_dataset
from ecgbench.train.sources import SOURCES, load_split, split_report, stable_fold

FOLDS = {"train": list(range(1, 8)), "val": [8], "test": [9]}   # the development copy withholds fold 10


def _sample(name: str):
    "A shared sample archive, or skip saying why."
    tar = shared_data() / "other" / name if shared_data() else None
    if tar is None or not tar.exists():
        pytest.skip(f"needs ../shared/data/other/{name} (the shared data; a fresh machine has none)")
    return tar


@pytest.fixture(scope="module")
def cinc_root(tmp_path_factory):
    "The 141-record CinC 2020-21 sample, unpacked into a temporary folder."
    tmp = tmp_path_factory.mktemp("cinc")
    with tarfile.open(_sample("cinc2020_2021.tar.xz")) as t: t.extractall(tmp, filter="data")
    return tmp / "cinc2020_2021"


def test_registry():
    assert set(SOURCES) == {"ptbxl", "synthetic", "cinc", "mimic"}
    with pytest.raises(ValueError, match="'ptbxl', 'synthetic', 'cinc', 'mimic'"): load_split("ptb", "train")


def test_ptbxl_missing_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("ECGBENCH_PTBXL", str(tmp_path / "absent"))
    with pytest.raises(DataError, match="make realdata") as e: load_split("ptbxl", "train")
    assert e.value.reason == "missing"


def test_synthetic_default(monkeypatch, tmp_path):
    "data_dir=None builds the embedded default (here under a private data home)."
    monkeypatch.setenv("ECGBENCH_DATA", str(tmp_path / "home"))
    ds = load_split("synthetic", "val", cache_dir=tmp_path / "cache", progress=False)
    assert "synthetic" in str(ds.root) and str(tmp_path) in str(ds.root) and len(ds) > 0


def test_real_ptbxl_matches_dataset(real_ptbxl, tmp_path):
    "The source is ptbxl_dataset under another name: same ids, texts, labels; splits patient-disjoint; JSON report."
    ds = load_split("ptbxl", "test", folds=FOLDS, pipeline="s0", drop_unlabelled=True, cache_dir=tmp_path, progress=False)
    ref = ptbxl_dataset(real_ptbxl, "test", folds=FOLDS, drop_unlabelled=True,
                        cache_dir=tmp_path / "raw", progress=False)
    assert np.array_equal(ds.ids, ref.ids) and ds.texts == ref.texts and torch.equal(ds.labels, ref.labels)
    assert ds.signals.meta["pipeline"]["steps"][-1] == ["moving_average", {"n": 3}]
    val = load_split("ptbxl", "val", folds=FOLDS, drop_unlabelled=True, cache_dir=tmp_path, progress=False)
    assert not {m["patient_id"] for m in ds.meta} & {m["patient_id"] for m in val.meta}
    rep = json.loads(json.dumps(split_report(ds)))
    assert rep["records"] == len(ds) == rep["loaded"] - rep["skipped"]["unlabelled"] and rep["records"] > 2000
    b = next(iter(DataLoader(ds, batch_size=16, collate_fn=collate)))
    assert b["signal"].shape == (16, 12, 1000) and torch.isfinite(b["signal"]).all()
    with pytest.raises(DataError, match=r"ptbxl split 'test' \(folds \[10\]\) has no records") as e:
        load_split("ptbxl", "test", cache_dir=tmp_path, progress=False)            # fold 10 is withheld here
    assert e.value.reason == "empty_split" and str(real_ptbxl) in str(e.value)


def test_cinc_sample(cinc_root, tmp_path):
    "All 141 records accounted for; bad headers counted, not fatal; one shape at any rate."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = {s: load_split("cinc", s, data_dir=cinc_root, rate=250, cache_dir=tmp_path, progress=False)
                  for s in ("train", "val", "test")}
    reps = {s: split_report(d) for s, d in splits.items()}
    assert sum(r["loaded"] + r["missing"] + sum(r["skipped"].values()) for r in reps.values()) == 141
    assert sum(r["skipped"].get("header", 0) for r in reps.values()) == 3
    assert sum(r["skipped"].get("gain", 0) for r in reps.values()) == 2
    for s, d in splits.items():
        assert {m["strat_fold"] for m in d.meta} <= set({"train": range(1, 9), "val": [9], "test": [10]}[s])
        assert d.signals.shape[1:] == (2500, 12) and len(d.classes) == 26
    assert not set(splits["train"].ids) & set(splits["test"].ids)
    with pytest.raises(ValueError, match="cinc label sets"):
        load_split("cinc", "val", data_dir=cinc_root, label_set="diagnostic", cache_dir=tmp_path, progress=False)
    dl = load_split("cinc", "val", data_dir=cinc_root, label_set="scored", drop_unlabelled=True, cache_dir=tmp_path, progress=False)
    assert dl.labels.sum(1).min() >= 1


def test_same_items_from_every_source(cinc_root, tmp_path, synth_root):
    "A method sees the same item layout whatever the source."
    syn = load_split("synthetic", "train", data_dir=synth_root, pipeline="default", cache_dir=tmp_path, progress=False)
    cin = load_split("cinc", "train", data_dir=cinc_root, label_set="scored", pipeline="default", cache_dir=tmp_path, progress=False)
    a, b = (next(iter(DataLoader(d, batch_size=4, collate_fn=collate))) for d in (syn, cin))
    assert a.keys() == b.keys() and a["signal"].shape == b["signal"].shape == (4, 12, 1000)
    assert a["signal"].dtype == b["signal"].dtype == torch.float32 and a["label"].dtype == b["label"].dtype
    assert set(a["meta"][0]) <= set(b["meta"][0]) and all(isinstance(r, str) and r for r in a["report"] + b["report"])


def test_mimic_metadata_only_sample(tmp_path):
    "The shared sample has no waveforms: its split is the empty-split error, saying so."
    with tarfile.open(_sample("mimic_iv_ecg_metadata_sample.tar.xz")) as t: t.extractall(tmp_path, filter="data")
    root = tmp_path / "mimic_iv_ecg_metadata_only"
    split = {**{f: "train" for f in range(1, 9)}, 9: "val", 10: "test"}[stable_fold(10000032)]
    with pytest.raises(DataError) as e: load_split("mimic", split, data_dir=root, cache_dir=tmp_path / "c", progress=False)
    msg = str(e.value)
    assert e.value.reason == "empty_split" and f"mimic split {split!r}" in msg and "1 missing" in msg
    assert "none of its 1 studies has its waveform files" in msg and "make realdata" in msg and str(root) in msg
    other = next(s for s in ("train", "val", "test") if s != split)
    with pytest.raises(DataError, match="0 loaded, 0 missing"): load_split("mimic", other, data_dir=root, progress=False)


def test_flagged_records_kept_and_counted_or_dropped(synth_copy, tmp_path):
    "An all-zero record in the training folds is loaded and counted as flagged, or left out with drop_flagged."
    from ecgbench.data.ptbxl import load_database
    db = load_database(synth_copy)
    rid = int(db.index[db.strat_fold <= 8][0])
    dat = (synth_copy / db.loc[rid, "filename_lr"]).with_suffix(".dat")
    dat.write_bytes(bytes(dat.stat().st_size))                       # every sample 0: implausible, not impossible
    folds = {"train": list(range(1, 9)), "val": [9], "test": [10]}
    kw = dict(data_dir=synth_copy, folds=folds, cache_dir=tmp_path / "cache", progress=False)
    kept = load_split("synthetic", "train", **kw)
    dropped = load_split("synthetic", "train", drop_flagged=True, **kw)
    assert rid in kept.ids and rid not in dropped.ids and len(dropped) == len(kept) - 1
    for ds in (kept, dropped):
        assert split_report(ds)["flagged"] == {"all_zero": 1} and ds.report.flagged["all_zero"] == [rid]
