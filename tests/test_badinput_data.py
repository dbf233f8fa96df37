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


# ---------------------------------------------------------------- control characters in reports

REPORT_CONTROL_CASES = {  # id: (character written into the report, its repr in the warning)
    "nul": ("\x00", r"'\x00'"),
    "escape": ("\x1b", r"'\x1b'"),
    "bell": ("\x07", r"'\x07'"),
    "c1-nel": ("\x85", r"'\x85'"),
}


@pytest.mark.parametrize("case", list(REPORT_CONTROL_CASES), ids=list(REPORT_CONTROL_CASES))
@pytest.mark.parametrize("errors", ["raise", "skip"])
def test_report_control_character_keeps_full_text_and_is_counted(synth_root, synth_copy, case, errors):
    "A NUL used to cut the report at it (pandas' C parser); now the full text, the character a space, the row flagged."
    char, shown = REPORT_CONTROL_CASES[case]
    good = ptbxl.load_database(synth_root)
    eid = _set_cell(synth_copy, 7, "report", f"sinus{char}rhythmus normal")
    with pytest.warns(UserWarning) as w:
        db = ptbxl.load_database(synth_copy, errors=errors)
    assert [str(m.message) for m in w] == [f"{synth_copy / 'ptbxl_database.csv'}: 1 cell(s) in 1 row(s) held control characters "
                                           f"({shown}), each replaced by a space (first: line 9, column report)"]
    assert db.loc[eid, "report"] == "sinus rhythmus normal"
    rep = db.attrs["load_report"]
    assert rep.flagged == {"control_chars": [eid]} and rep.n_skipped == 0
    assert rep.examples["flag:control_chars"] == f"ptbxl_database.csv: ecg_id {eid}: 1 control character(s) in report, each replaced by a space"
    others = good.index != eid                                                  # no good record lost or changed
    assert db.index.tolist() == good.index.tolist() and db["report"][others].equals(good["report"][others])
    assert db["scp_codes"].tolist() == good["scp_codes"].tolist()


def test_mimic_report_control_character_keeps_full_text(tmp_path):
    root = _mimic(tmp_path / "mimic", mm_patch={"report_0": "Sinus\x00rhythm"})
    with pytest.warns(UserWarning, match=r"machine_measurements\.csv: 1 cell\(s\) in 1 row\(s\) held control characters "
                                         r"\('\\x00'\), each replaced by a space \(first: line 3, column report_0\)"):
        df = load_mimic(root)
    assert df.report.tolist() == ["Sinus rhythm; Normal ECG", "Sinus rhythm; Normal ECG", "Sinus rhythm; Normal ECG"]
    rep = df.attrs["load_report"]                                               # counted in the study's load report too
    assert list(rep.flagged) == ["control_chars"] and len(rep.flagged["control_chars"]) == 1 and rep.n_skipped == 0
    assert "machine_measurements.csv: study_id" in rep.examples["flag:control_chars"] and "each replaced by a space" in rep.examples["flag:control_chars"]


# ---------------------------------------------------------------- SCP codes missing from scp_statements.csv

def _set_codes(root: Path, k: int, codes: str) -> int:
    return _set_cell(root, k, "scp_codes", codes)


def test_unknown_scp_code_raises_naming_codes_and_records(synth_copy):
    "It used to zero the record's labels in silence: a record whose only code was unknown became 'no label'."
    only = _set_codes(synth_copy, 7, "{'XYZ': 100.0}")
    part = _set_codes(synth_copy, 8, "{'NORM': 100.0, 'XYZ': 50.0, 'QQ': 0.0}")
    db, st = ptbxl.load_database(synth_copy), ptbxl.load_statements(synth_copy)
    with pytest.raises(DataError) as e:
        ptbxl.labels(db, st, "superdiagnostic")
    assert e.value.reason == "unknown_scp_code"
    assert str(e.value) == (f"2 record(s) carry SCP code(s) that scp_statements.csv does not list: XYZ in 2 record(s), QQ in 1 "
                            f"record(s) (e.g. ecg_id {only}: {{'XYZ': 100.0}}); 1 of them have no listed code at all, and every "
                            "label these codes would give is silently lost -> use the scp_statements.csv of the same PTB-XL release "
                            "as ptbxl_database.csv (or fix the codes), or pass errors='skip' to count them and drop the records left "
                            "without a listed code")
    assert ptbxl.unknown_codes(db, st).to_dict() == {only: ["XYZ"], part: ["XYZ", "QQ"]}


@pytest.mark.parametrize("label_set", ["superdiagnostic", "rhythm", "all"])
def test_unknown_scp_code_skipped_and_counted(synth_root, synth_copy, label_set):
    only = _set_codes(synth_copy, 7, "{'XYZ': 100.0}")
    part = _set_codes(synth_copy, 8, "{'NORM': 100.0, 'XYZ': 50.0}")
    db, st = ptbxl.load_database(synth_copy), ptbxl.load_statements(synth_copy)
    with pytest.warns(UserWarning, match=r"^2 record\(s\) carry SCP code\(s\) that scp_statements\.csv does not list: XYZ in 2"):
        y = ptbxl.labels(db, st, label_set, errors="skip")
    rep = y.attrs["load_report"]
    assert rep.skipped == {"no_known_scp_code": [only]} and rep.flagged == {"unknown_scp_code:XYZ": [part]}
    assert rep.examples["no_known_scp_code"] == (f"ecg_id {only}: none of its SCP codes (XYZ) is in scp_statements.csv; "
                                                 "dropped rather than left with no label")
    assert only not in y.index                                           # not an all-zero "unlabelled" row
    good = ptbxl.labels(ptbxl.load_database(synth_root), st, label_set)
    same = [i for i in good.index if i not in (only, part)]             # no good record lost or changed
    assert y.index.tolist() == [i for i in good.index if i != only] and y.loc[same].equals(good.loc[same])
    if label_set == "superdiagnostic": assert y.loc[part, "NORM"] == 1


def test_unknown_scp_code_stops_the_dataset(synth_copy):
    from ecgbench.dataset import ptbxl_dataset
    _set_codes(synth_copy, 7, "{'XYZ': 100.0}")
    with pytest.raises(DataError) as e:
        ptbxl_dataset(synth_copy, "train", progress=False, cache_dir=synth_copy / "cache")
    assert e.value.reason == "unknown_scp_code" and "XYZ in 1 record(s)" in str(e.value)


# ---------------------------------------------------------------- random bytes in a signal file

def _random_samples(dat: Path, seed: int = 0, lead: int | None = None) -> None:
    "Overwrite the int16 samples of `dat` (12 interleaved leads; `lead` only, if given) with random values (never -32768, NaN)."
    d = np.fromfile(dat, dtype="<i2").reshape(-1, 12)
    noise = np.random.default_rng(seed).integers(-32767, 32768, size=d.shape).astype("<i2")
    if lead is None: d = noise
    else: d[:, lead] = noise[:, lead]
    dat.write_bytes(d.tobytes())


NOISE_CASES = {  # id: (rate, lead overwritten or None for all, leads named in the message)
    "all-leads-100Hz": (100, None, "I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6"),
    "all-leads-500Hz": (500, None, "I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6"),
    "one-lead": (100, 7, "V2"),
}


@pytest.mark.parametrize("case", list(NOISE_CASES), ids=list(NOISE_CASES))
def test_random_bytes_in_dat_are_skipped_as_noise(synth_root, synth_copy, tmp_path, case):
    "They used to load as ±32 mV noise, below the amplitude limit."
    rate, lead, names = NOISE_CASES[case]
    db = ptbxl.load_database(synth_copy)
    rec = ptbxl.record_path(synth_copy, db, db.index[5], rate)
    _random_samples(rec.with_name(rec.name + ".dat"), lead=lead)
    cache = load_ptbxl(synth_copy, rate=rate, cache_dir=tmp_path / "cache", progress=False)
    assert cache.report.skipped == {"noise": [db.index[5]]}
    assert f"{rec}: lead(s) {names} look like white noise, not an ECG" in cache.report.examples["noise"]
    assert "re-download the record or drop it" in cache.report.examples["noise"]
    good = load_ptbxl(synth_root, rate=rate, cache_dir=tmp_path / "good", progress=False)
    assert list(cache.ids) == [i for i in good.ids if i != db.index[5]]         # no good record lost
    assert np.array_equal(cache[0], good[0])


def test_random_bytes_in_cinc_mat_are_skipped_as_noise(tmp_path):
    _cinc(tmp_path, "A0001"); _cinc(tmp_path, "A0003", dx="426783006")
    bad = _cinc(tmp_path, "A0002")
    mat = bad.with_name("A0002.mat")
    d = np.random.default_rng(0).integers(-32767, 32768, size=(500, 12)).astype("<i2")
    mat.write_bytes(mat.read_bytes()[:24] + d.tobytes())
    df, rep = load_cinc(tmp_path, read_signals=True)
    assert rep.skipped == {"noise": ["A0002"]} and rep.loaded == ["A0001", "A0003"] and df.record.tolist() == ["A0001", "A0003"]
    assert rep.examples["noise"].startswith("A0002: lead(s) I, II, III, aVR, aVL, aVF, V1, V2, V3, V4, V5, V6 look like white noise")


# ---------------------------------------------------------------- units of a header

UNIT_CASES = {  # id: (unit written, header encoding, factor to mV)
    "uV": ("uV", "ascii", 1e-3),
    "micro-sign-utf8": ("µV", "utf-8", 1e-3),
    "micro-sign-latin1": ("µV", "latin-1", 1e-3),
    "greek-mu": ("μV", "utf-8", 1e-3),
    "V": ("V", "ascii", 1e3),
}


def _set_units(rec: Path, unit: str, encoding: str = "ascii") -> None:
    hea = rec.with_name(rec.name + ".hea")
    text = hea.read_text()
    assert "(0)/mV" in text
    hea.write_bytes(text.replace("(0)/mV", f"(0)/{unit}").encode(encoding))


@pytest.mark.parametrize("case", list(UNIT_CASES), ids=list(UNIT_CASES))
def test_header_units_are_honoured(synth_copy, case):
    "The unit used to be ignored: a uV record read 1000 times too large."
    unit, encoding, factor = UNIT_CASES[case]
    rec = _record(synth_copy, 4)
    mv = read_record(rec)
    _set_units(rec, unit, encoding)
    assert read_header(rec).units == (unit,) * 12
    assert np.array_equal(read_record(rec), mv * factor)
    if encoding == "ascii":
        x, names = wfdb.rdsamp(str(rec))[0], wfdb.rdheader(str(rec)).sig_name
        order = [[n.upper() for n in names].index(l.upper()) for l in LEADS]
        assert np.array_equal(read_record(rec), x[:, order] * factor)


@pytest.mark.parametrize("unit", ["mmHg", "uv/s", "nV"])
def test_unknown_unit_refused_naming_record_lead_unit(synth_copy, tmp_path, unit):
    db = ptbxl.load_database(synth_copy)
    rec = ptbxl.record_path(synth_copy, db, db.index[4], 100)
    hea = rec.with_name(rec.name + ".hea")
    lines = hea.read_text().splitlines()
    lines[3] = lines[3].replace("(0)/mV", f"(0)/{unit}")                 # the third signal line only
    hea.write_text("\n".join(lines) + "\n")
    lead = lines[3].split()[-1]
    with pytest.raises(DataError) as e:
        read_record(rec)
    assert e.value.reason == "units"
    assert str(e.value) == (f"{hea}: record {rec.name!r}, lead {lead!r}: unit {unit!r} is not a voltage unit ecgbench reads "
                            "(mV, uV/µV or V) -> fix the units of that signal line (gain(baseline)/units, e.g. 1000.0(0)/mV) or "
                            "drop the record")
    cache = load_ptbxl(synth_copy, rate=100, cache_dir=tmp_path / "cache", progress=False)
    assert cache.report.skipped == {"units": [db.index[4]]} and len(cache) == len(db) - 1


def test_cinc_unknown_unit_counted_in_scan(tmp_path):
    _cinc(tmp_path, "A0001"); bad = _cinc(tmp_path, "A0002")
    hea = bad.with_name("A0002.hea"); hea.write_text(hea.read_text().replace("1000/mV", "1000/mmHg"))
    df, rep = load_cinc(tmp_path)
    assert rep.skipped == {"units": ["A0002"]} and df.record.tolist() == ["A0001"]
    assert rep.examples["units"].startswith(f"{hea}: record 'A0002', lead 'I': unit 'mmHg' is not a voltage unit")


# ---------------------------------------------------------------- `ecgbench data summary` and broken records

def _sampled(root: Path, verify: int = 5, seed: int = 0) -> list:
    "The ecg_ids `summarize(root, verify=verify, seed=seed)` reads."
    db = ptbxl.load_database(root)
    return list(np.random.default_rng(seed).choice(db.index, size=verify, replace=False))


def test_summary_says_how_many_it_read_and_counts_broken(synth_copy):
    "It used to print 'records identical to wfdb.rdsamp: 5/5' with a broken record among the 55 it never read."
    from ecgbench.summary import format_summary, summarize
    db = ptbxl.load_database(synth_copy)
    picks = _sampled(synth_copy)
    bad = next(i for i in db.index if i not in picks)
    rec = ptbxl.record_path(synth_copy, db, bad, 100)
    _random_samples(rec.with_name(rec.name + ".dat"))
    s = summarize(synth_copy, verify=5)
    assert s["signals"]["n_broken"] == 0 and s["signals"]["n_read"] == 5 and s["signals"]["n_not_read"] == 55
    assert ("signals: read 5 of 60 records (random, seed 0): 0 broken, 5 of the other 5 identical to wfdb.rdsamp; "
            "55 not read (not checked)") in format_summary(s).splitlines()
    full = summarize(synth_copy, verify=None)
    assert full["signals"]["broken"] == {"noise": [bad]} and full["verified_identical_to_rdsamp"] == "59/60"
    assert ("signals: read 60 of 60 records (all): 1 broken (noise 1), 59 of the other 59 identical to wfdb.rdsamp; "
            "0 not read (not checked)") in format_summary(full).splitlines()


def test_summary_counts_a_broken_sampled_record_instead_of_stopping(synth_copy):
    from ecgbench.summary import format_summary, summarize
    db = ptbxl.load_database(synth_copy)
    bad = _sampled(synth_copy)[2]
    dat = ptbxl.record_path(synth_copy, db, bad, 100).with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:-100])
    s = summarize(synth_copy, verify=5)
    assert s["signals"]["broken"] == {"truncated": [bad]} and s["verified_identical_to_rdsamp"] == "4/5"
    text = format_summary(s)
    assert "read 5 of 60 records (random, seed 0): 1 broken (truncated 1), 4 of the other 4 identical to wfdb.rdsamp" in text
    assert f"  broken truncated: e.g. {dat}: signal file has" in text


def test_summary_counts_unknown_scp_codes(synth_copy):
    from ecgbench.summary import format_summary, summarize
    _set_codes(synth_copy, 7, "{'XYZ': 100.0}")
    s = summarize(synth_copy, verify=1)
    assert s["unknown_scp_codes"] == {"XYZ": 1} and s["n_without_known_code"] == 1
    assert ("SCP codes not in scp_statements.csv (records): XYZ 1; 1 record(s) have no listed code and are left out of the "
            "label counts") in format_summary(s)
