"""Bad-input matrix at the data boundary: metadata tables (PTB-XL, SCP statements, MIMIC-IV-ECG), WFDB headers and
CinC `Dx` lines. Every kind ends in a clear `DataError` (file, record and reason named) or a counted skip/flag that
loses no good record."""
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import wfdb

os.environ.setdefault("OMP_NUM_THREADS", "1")

from ecgbench.cache import load_ptbxl
from ecgbench.core import LEADS, DataError
from ecgbench.data import ptbxl
from ecgbench.data.cinc import cinc_labels, load_cinc, read_cinc_header
from ecgbench.data.mimic import load_mimic, mimic_path
from ecgbench.data.records import read_header, read_record

try:
    import torch
    torch.set_num_threads(1)
except ImportError:  # pragma: no cover
    pass


# ---------------------------------------------------------------- PTB-XL database: bad cells (raise and skip)

def _set_cell(root: Path, k: int, column: str, value) -> int:
    "Write `value` into `column` of the k-th row of ptbxl_database.csv (as raw text); returns that row's ecg_id."
    path = root / "ptbxl_database.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.loc[k, column] = value
    df.to_csv(path, index=False)
    return int(df.loc[k, "ecg_id"])


# id: (column, value, reason, expected text in the message)
CELL_CASES = {
    "strat_fold-text": ("strat_fold", "x", "strat_fold", "'x'"),
    "strat_fold-11": ("strat_fold", "11", "strat_fold", "11"),
    "strat_fold-empty": ("strat_fold", "", "strat_fold", "nan"),
    "age-negative": ("age", "-5", "age", "-5"),
    "sex-2": ("sex", "2", "sex", "2"),
    "patient_id-text": ("patient_id", "p17", "patient_id", "'p17'"),
    "scp_codes-unparsable": ("scp_codes", "{'NORM': 100.0", "scp_codes", "{'NORM': 100.0"),
    "scp_codes-likelihood-150": ("scp_codes", "{'NORM': 150.0}", "scp_codes", "150.0"),
    "filename_lr-outside": ("filename_lr", "../elsewhere/00001_lr", "filename_lr", "../elsewhere"),
}


@pytest.mark.parametrize("case", list(CELL_CASES), ids=list(CELL_CASES))
def test_database_bad_cell_raises_naming_row_column_value(synth_copy, case):
    column, value, reason, shown = CELL_CASES[case]
    eid = _set_cell(synth_copy, 7, column, value)
    with pytest.raises(DataError) as e:
        ptbxl.load_database(synth_copy)
    msg = str(e.value)
    assert e.value.reason == reason and "ptbxl_database.csv" in msg
    assert f"ecg_id {eid}: {column}" in msg and shown in msg, msg


@pytest.mark.parametrize("case", list(CELL_CASES), ids=list(CELL_CASES))
def test_database_bad_cell_skipped_and_counted(synth_root, synth_copy, case):
    column, value, reason, _ = CELL_CASES[case]
    good = ptbxl.load_database(synth_root)
    eid = _set_cell(synth_copy, 7, column, value)
    db = ptbxl.load_database(synth_copy, errors="skip")
    rep = db.attrs["load_report"]
    assert rep.skipped == {reason: [eid]} and rep.n_skipped == 1 and column in rep.examples[reason]
    assert db.index.tolist() == [i for i in good.index if i != eid]          # no good record lost
    assert db["strat_fold"].dtype == np.int64
    parts = ptbxl.split(db)
    assert sum(map(len, parts.values())) == len(good) - 1 and all(len(v) for v in parts.values())


def test_database_duplicate_ecg_id(synth_root, synth_copy):
    good = ptbxl.load_database(synth_root)
    _set_cell(synth_copy, 8, "ecg_id", str(good.index[7]))
    with pytest.raises(DataError) as e:
        ptbxl.load_database(synth_copy)
    assert e.value.reason == "duplicate" and f"e.g. {good.index[7]}" in str(e.value)
    db = ptbxl.load_database(synth_copy, errors="skip")
    assert db.attrs["load_report"].skipped == {"duplicate": [good.index[7]] * 2}   # both rows: which is right is unknown
    assert db.index.tolist() == [i for i in good.index if i not in (good.index[7], good.index[8])]


def test_database_two_rows_one_record_file(synth_root, synth_copy):
    good = ptbxl.load_database(synth_root)
    _set_cell(synth_copy, 8, "filename_lr", good["filename_lr"].iloc[7])
    with pytest.raises(DataError) as e:
        ptbxl.load_database(synth_copy)
    assert e.value.reason == "duplicate" and "filename_lr" in str(e.value) and f"ecg_id {good.index[7]}" in str(e.value)
    rep = ptbxl.load_database(synth_copy, errors="skip").attrs["load_report"]
    assert rep.skipped == {"duplicate": [good.index[7], good.index[8]]}


def test_bad_fold_is_a_clear_error_for_the_dataset_not_an_empty_split(synth_copy):
    "The known silent failure: one text strat_fold used to empty every split with exit status 0."
    from ecgbench.dataset import ptbxl_dataset
    eid = _set_cell(synth_copy, 3, "strat_fold", "three")
    with pytest.raises(DataError) as e:
        ptbxl_dataset(synth_copy, "train", progress=False, cache_dir=synth_copy / "cache")
    assert e.value.reason == "strat_fold" and f"ecg_id {eid}: strat_fold 'three'" in str(e.value)


def test_split_refuses_text_folds():
    db = pd.DataFrame({"strat_fold": ["1", "9", "x"]}, index=[1, 2, 3])
    with pytest.raises(DataError) as e:
        ptbxl.split(db)
    assert e.value.reason == "strat_fold" and "'x'" in str(e.value)


# ---------------------------------------------------------------- whole-file problems of the metadata tables

def _write(path: Path, data) -> None:
    path.write_bytes(data if isinstance(data, bytes) else data.encode())


FILE_CASES = {  # id: (file, transform of the original text, reason)
    "database-empty-file": ("ptbxl_database.csv", lambda t: "", "empty"),
    "database-header-only": ("ptbxl_database.csv", lambda t: t.split("\n")[0] + "\n", "empty"),
    "database-malformed-csv": ("ptbxl_database.csv", lambda t: t + '1,2,"unclosed\n3,4\n5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31\n', "parse"),
    "database-not-utf8": ("ptbxl_database.csv", lambda t: t.encode().replace(b"records100/", b"records\xff100/", 1), "encoding"),
    "database-missing-column": ("ptbxl_database.csv", lambda t: t.replace(",strat_fold,", ",fold,", 1), "columns"),
    "statements-empty-file": ("scp_statements.csv", lambda t: "", "empty"),
    "statements-bad-flag": ("scp_statements.csv", lambda t: t.replace("sinus rhythm,,,1.0", "sinus rhythm,,,yes", 1), "rhythm"),
    "statements-diagnostic-without-class": ("scp_statements.csv", lambda t: t.replace("normal ECG,1.0,,,NORM,NORM", "normal ECG,1.0,,,,NORM", 1), "diagnostic_class"),
}


@pytest.mark.parametrize("case", list(FILE_CASES), ids=list(FILE_CASES))
def test_bad_table_file_raises_naming_the_file(synth_copy, case):
    name, transform, reason = FILE_CASES[case]
    path = synth_copy / name
    text = path.read_text(encoding="utf-8")
    new = transform(text)
    assert new != text, "the damage did not apply"
    _write(path, new)
    load = ptbxl.load_database if name == "ptbxl_database.csv" else ptbxl.load_statements
    with pytest.raises(DataError) as e:
        load(synth_copy)
    assert e.value.reason == reason and name in str(e.value), str(e.value)


def test_statement_bad_row_skipped_keeps_the_others(synth_root, synth_copy):
    path = synth_copy / "scp_statements.csv"
    path.write_text(path.read_text().replace("sinus rhythm,,,1.0", "sinus rhythm,,,2", 1))
    st = ptbxl.load_statements(synth_copy, errors="skip")
    assert st.attrs["load_report"].skipped == {"rhythm": ["SR"]}
    assert st.index.tolist() == [c for c in ptbxl.load_statements(synth_root).index if c != "SR"]


def test_errors_must_be_raise_or_skip(synth_root):
    with pytest.raises(ValueError, match="raise"):
        ptbxl.load_database(synth_root, errors="ignore")


# ---------------------------------------------------------------- WFDB headers

def _record(root: Path, k: int) -> Path:
    db = ptbxl.load_database(root)
    return ptbxl.record_path(root, db, db.index[k], 100)


def _edit_header(rec: Path, old: str, new: str, first_only: bool = True) -> None:
    hea = rec.with_name(rec.name + ".hea")
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, 1 if first_only else -1))


def test_foreign_signal_file_raises_and_is_counted_in_a_batch(synth_copy, tmp_path):
    rec, other = _record(synth_copy, 2), _record(synth_copy, 3)
    _edit_header(rec, f"{rec.name}.dat", f"{other.name}.dat", first_only=False)
    with pytest.raises(DataError) as e:
        read_record(rec)
    assert e.value.reason == "foreign_file" and f"{rec.name}.hea" in str(e.value) and f"{other.name}.dat" in str(e.value)
    cache = load_ptbxl(synth_copy, rate=100, cache_dir=tmp_path / "cache", progress=False)
    db = ptbxl.load_database(synth_copy)
    assert cache.report.skipped == {"foreign_file": [db.index[2]]}
    assert len(cache) == len(db) - 1 and db.index[3] in set(cache.ids)


def test_header_copied_from_another_record(synth_copy):
    rec, other = _record(synth_copy, 2), _record(synth_copy, 3)
    shutil.copy(other.with_name(other.name + ".hea"), rec.with_name(rec.name + ".hea"))
    with pytest.raises(DataError) as e:
        read_header(rec)
    assert e.value.reason == "foreign_file" and f"record {other.name!r}" in str(e.value)


@pytest.mark.parametrize("field", ["abc/mV", "abc(0)/mV", "-1000.0(0)/mV", "1e/mV"], ids=["text", "text-baseline", "negative", "bad-exponent"])
def test_bad_gain_raises(synth_copy, field):
    rec = _record(synth_copy, 4)
    _edit_header(rec, "1000.0(0)/mV", field)
    with pytest.raises(DataError) as e:
        read_record(rec)
    assert e.value.reason == "gain" and f"{rec.name}.hea" in str(e.value) and ("negative" in str(e.value) or field.split("/")[0] in str(e.value))


def test_zero_gain_keeps_wfdb_meaning(synth_copy):
    "wfdb reads an ADC gain of 0 as 200/mV (wfdb/io/_header.py); so do we, bit for bit."
    rec = _record(synth_copy, 5)
    _edit_header(rec, "1000.0(0)/mV", "0(0)/mV")
    assert read_header(rec).gains[0] == 200.0 == wfdb.rdheader(str(rec)).adc_gain[0]
    x, names = wfdb.rdsamp(str(rec))[0], wfdb.rdheader(str(rec)).sig_name
    order = [[n.upper() for n in names].index(l.upper()) for l in LEADS]
    assert np.array_equal(read_record(rec), x[:, order])


# ---------------------------------------------------------------- CinC headers

def _cinc(folder: Path, name: str, dx: str | None = "164889003,59118001", age: str = "56") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    d = np.random.default_rng(len(name)).integers(-500, 500, size=(500, 12)).astype("<i2")
    (folder / f"{name}.mat").write_bytes(bytes(24) + d.tobytes())
    sig = [f"{name}.mat 16+24 1000/mV 16 0 {d[0, i]} 0 0 {l}" for i, l in enumerate(LEADS)]
    notes = [f"# Age: {age}", "# Sex: Female"] + ([f"# Dx: {dx}"] if dx is not None else [])
    (folder / f"{name}.hea").write_text("\n".join([f"{name} 12 500 500", *sig, *notes]) + "\n")
    return folder / name


CINC_CASES = {  # id: (Dx text or None for no Dx line, reason)
    "dx-semicolon": ("164889003;59118001", "dx"),
    "dx-name-not-code": ("AF", "dx"),
    "dx-line-missing": (None, "dx_missing"),
    "dx-line-empty": ("", "dx_missing"),
}


@pytest.mark.parametrize("case", list(CINC_CASES), ids=list(CINC_CASES))
def test_cinc_bad_dx_raises_and_scan_counts_it(tmp_path, case):
    dx, reason = CINC_CASES[case]
    _cinc(tmp_path, "A0001"); _cinc(tmp_path, "A0003", dx="426783006")
    bad = _cinc(tmp_path, "A0002", dx=dx)
    with pytest.raises(DataError) as e:
        read_cinc_header(bad)
    assert e.value.reason == reason and "A0002.hea" in str(e.value) and (dx is None or not dx or dx.split(";")[0] in str(e.value))
    df, rep = load_cinc(tmp_path)
    assert rep.skipped == {reason: ["A0002"]} and rep.loaded == ["A0001", "A0003"] and df.record.tolist() == ["A0001", "A0003"]
    lab = cinc_labels(df)
    assert lab.loc[0, ["AF", "CRBBB"]].tolist() == [1, 1] and lab.loc[1, "NSR"] == 1 and lab.sum(axis=1).min() >= 1
    with pytest.raises(DataError):
        load_cinc(tmp_path, errors="raise")


def test_cinc_unreadable_age_is_flagged_and_kept(tmp_path):
    _cinc(tmp_path, "A0001"); _cinc(tmp_path, "A0002", age="abc"); _cinc(tmp_path, "A0003", age="NaN")
    df, rep = load_cinc(tmp_path)
    assert df.record.tolist() == ["A0001", "A0002", "A0003"] and rep.n_skipped == 0
    assert rep.flagged == {"age": ["A0002"]} and "'abc'" in rep.examples["flag:age"]
    assert df.age.iloc[0] == 56 and np.isnan(df.age.iloc[1]) and np.isnan(df.age.iloc[2])


# ---------------------------------------------------------------- MIMIC-IV-ECG metadata

def _mimic(folder: Path, rl_patch: dict | None = None, mm_patch: dict | None = None) -> Path:
    "Three good studies; the patch dicts change the second study's row."
    folder.mkdir(parents=True, exist_ok=True)
    rl = pd.DataFrame({"subject_id": [10000032, 10000033, 10000034], "study_id": [40000001, 40000002, 40000003],
                       "ecg_time": ["2180-07-23 08:44:00"] * 3})
    rl["file_name"] = rl.study_id
    rl["path"] = [mimic_path(a, b) for a, b in zip(rl.subject_id, rl.study_id)]
    mm = rl[["subject_id", "study_id"]].assign(report_0="Sinus rhythm", report_1="Normal ECG", rr_interval=[700, 800, 900])
    rl, mm = rl.astype(object), mm.astype(object)
    for df, patch in ((rl, rl_patch), (mm, mm_patch)):
        for k, v in (patch or {}).items(): df.loc[1, k] = v
    rl.to_csv(folder / "record_list.csv", index=False)
    mm.to_csv(folder / "machine_measurements.csv", index=False)
    return folder


MIMIC_CASES = {  # id: (record_list patch, measurements patch, reason, text in message)
    "study_id-text": ({"study_id": "s2"}, None, "study_id", "line 3: study_id 's2'"),
    "subject_id-negative": ({"subject_id": -4}, None, "subject_id", "study_id 40000002: subject_id -4"),
    "ecg_time-unparsable": ({"ecg_time": "yesterday"}, None, "ecg_time", "study_id 40000002: ecg_time 'yesterday'"),
    "path-of-another-study": ({"path": mimic_path(10000032, 40000001)}, None, "path", "study_id 40000002: path"),
    "measurement-text": (None, {"rr_interval": "800ms"}, "rr_interval", "study_id 40000002: rr_interval '800ms'"),
    "measurement-subject-mismatch": (None, {"subject_id": 99}, "subject_id", "study_id 40000002: subject_id 99"),
}


@pytest.mark.parametrize("case", list(MIMIC_CASES), ids=list(MIMIC_CASES))
def test_mimic_bad_row(tmp_path, case):
    rl_patch, mm_patch, reason, shown = MIMIC_CASES[case]
    root = _mimic(tmp_path / "mimic", rl_patch, mm_patch)
    with pytest.raises(DataError) as e:
        load_mimic(root)
    assert e.value.reason == reason and shown in str(e.value), str(e.value)
    assert ("record_list.csv" if rl_patch else "machine_measurements.csv") in str(e.value)
    df = load_mimic(root, errors="skip")
    rep = df.attrs["load_report"]
    assert rep.n_skipped == 1 and list(rep.skipped) == [reason]
    assert df.study_id.tolist() == [40000001, 40000003] and df.report.tolist() == ["Sinus rhythm; Normal ECG"] * 2


def test_mimic_empty_table(tmp_path):
    root = _mimic(tmp_path / "mimic")
    (root / "machine_measurements.csv").write_text("")
    with pytest.raises(DataError) as e:
        load_mimic(root)
    assert e.value.reason == "empty" and "machine_measurements.csv" in str(e.value)
