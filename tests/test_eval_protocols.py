"""`ecgbench eval` runs every protocol on a synthetic run, end to end (CLI → protocol layer → run folder → collect)."""
import json
from pathlib import Path

import pytest

from ecgbench.cli import main
from ecgbench.data.synthetic import default_synthetic
from ecgbench.train.loop import train

BASE = dict(source="synthetic", ecg_encoder="resnet1d18", ecg_kw={"width": 8, "stem_pool": True}, batch_size=32,
            lr=3e-3, seed=0, progress=False, threads=1, bootstrap=20)

@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("protocols")
    data = str(default_synthetic(progress=False))
    common = dict(BASE, data_dir=data, cache_dir=str(tmp / "cache"))
    train(dict(common, method="clip", text_encoder="tiny", embed_dim=64, epochs=3, output_dir=str(tmp / "grid/clip")))
    train(dict(common, method="supervised", epochs=2, output_dir=str(tmp / "grid/supervised")))
    return tmp / "grid"

SETS = ["linear_probe.fractions=[0.25,1.0]", "linear_probe.seeds=[0,1]", "fine_tune.fractions=[0.5,1.0]",
        "fine_tune.epochs=1", "fine_tune.bootstrap=0", "zero_shot.bootstrap=20"]

def _eval(folder, *protocols, sets=SETS):
    args = ["eval", str(folder), "--protocol", *protocols, "--json"]
    for s in sets: args += ["--set", s]
    assert main(args) == 0

def test_every_protocol_on_a_clip_run(runs, capsys):
    clip = runs / "clip"
    _eval(clip, "all")
    out = json.loads(capsys.readouterr().out)
    for name in ("retrieval", "zero_shot", "linear_probe", "fine_tune", "identification"):
        rec = json.loads((clip / "eval" / f"{name}.json").read_text())
        assert rec["protocol"] == name and rec["metrics"] and rec["key"] and name in out
    metrics = json.loads((clip / "metrics.json").read_text())["test"]
    assert json.loads((clip / "eval/retrieval.json").read_text())["metrics"] == metrics      # unchanged by the move
    zs = json.loads((clip / "eval/zero_shot.json").read_text())["metrics"]
    assert 0 <= zs["macro_auroc"] <= 1 and zs["scoring"] == "softmax" and "sigmoid/macro_auroc" in zs
    assert zs["macro_auroc_lo"] <= zs["macro_auroc"] <= zs["macro_auroc_hi"]
    lp = json.loads((clip / "eval/linear_probe.json").read_text())
    assert {r["fraction"] for r in lp["table"]} == {0.25, 1.0} and lp["metrics"]["25%/n_seeds"] == 2
    ft = json.loads((clip / "eval/fine_tune.json").read_text())
    assert {r["kind"] for r in ft["table"]} == {"init", "scratch", "frozen_random"} and len(ft["table"]) == 6
    child = json.loads((clip / "eval/fine_tune/init-50pct-seed0/metrics.json").read_text())
    assert child["init"]["run"] == str(clip) and child["data"]["train"]["train_fraction"] == 0.5
    ident = json.loads((clip / "eval/identification.json").read_text())["metrics"]
    assert 0 <= ident["halves/nearest/accuracy"] <= 1 and ident["halves/nearest/n_patients"] > 1

def test_frozen_random_rows_are_the_linear_probe_of_the_untrained_encoder(runs, capsys):
    """fine_tune's random-init frozen rows are `linear_probe` on one untrained (epochs 0) child per seed, whatever the fraction."""
    clip = runs / "clip"
    _eval(clip, "fine_tune")
    ft = json.loads((clip / "eval/fine_tune.json").read_text())
    assert ft["version"] == 2 and {r["folder"] for r in ft["table"] if r["kind"] == "frozen_random"} == {"frozen_random-seed0"}
    child = clip / "eval/fine_tune/frozen_random-seed0"
    assert json.loads((child / "metrics.json").read_text())["params"]["epochs"] == 0 and not (child / "checkpoints/best.ckpt").exists()
    _eval(child, "linear_probe", sets=["fractions=[0.5,1.0]", "seeds=[0]", "bootstrap=0"])
    lp = json.loads((child / "eval/linear_probe.json").read_text())["metrics"]
    for tag in ("50%", "100%"):
        assert ft["metrics"][f"frozen_random/{tag}/macro_auroc"] == lp[f"{tag}/macro_auroc"]

def test_a_tagged_record_sits_beside_the_first(runs, capsys):
    """`--tag T` writes eval/NAME-T.json: a second record of one protocol with other settings, shown by collect as its own columns."""
    from ecgbench.runner import collect
    clip = runs / "clip"
    _eval(clip, "linear_probe")
    first = (clip / "eval/linear_probe.json").read_bytes()
    assert main(["eval", str(clip), "--protocol", "linear_probe", "--set", "fractions=[1.0]", "--tag", "full", "--json"]) == 0
    capsys.readouterr()
    assert (clip / "eval/linear_probe.json").read_bytes() == first
    tagged = json.loads((clip / "eval/linear_probe-full.json").read_text())
    assert tagged["settings"]["fractions"] == [1.0] and "eval.linear_probe-full/100%/macro_auroc" in collect(runs)
    assert main(["eval", str(clip), "--protocol", "linear_probe", "--tag", "../x"]) == 2
    assert "record tag" in capsys.readouterr().err

def test_a_second_call_reuses_the_records(runs, capsys):
    clip = runs / "clip"
    _eval(clip, "retrieval")
    before = {p.name: p.stat().st_mtime_ns for p in (clip / "eval").glob("*.json")}
    _eval(clip, "retrieval", "linear_probe")
    assert {p.name: p.stat().st_mtime_ns for p in (clip / "eval").glob("*.json")} == before

def test_classifier_protocols_and_refusals(runs, capsys):
    sup = runs / "supervised"
    _eval(sup, "linear_probe", "identification")
    assert (sup / "eval/linear_probe.json").is_file()
    assert main(["eval", str(sup), "--protocol", "zero_shot"]) == 2
    assert "joint text side" in capsys.readouterr().err
    assert main(["eval", str(sup), "--protocol", "linear_probe", "--set", "fractons=[1.0]"]) == 2
    assert "did you mean `fractions`" in capsys.readouterr().err

def test_collect_shows_protocol_columns(runs):
    from ecgbench.runner import collect, summary_table
    table = collect(runs)
    assert "eval.linear_probe/100%/macro_auroc" in table and "eval.zero_shot/macro_auroc" in table
    s = summary_table(table)
    assert "probe 100 %" in s and "zero-shot AUROC" in s

def test_distribution_shift_probes_a_unimodal_run(runs, tmp_path, capsys):
    """S4 Table 2's unimodal row: a probe trained on the source's labels scores the target records, whose categories
    are merged into the source classes (records with no mapped category removed, counted in n_records)."""
    from ecgbench.testing import write_cinc
    for name, dx in [("A0001", "426783006"), ("A0002", "59118001"), ("A0003", "164889003"), ("A0004", "164931005"),
                     ("JS00001", "426783006"), ("JS00002", "89792004"), ("JS00003", "426177001")]:
        write_cinc(tmp_path / "cinc", name, dx=dx, n=5000, seed=int(name[-1]))
    sup = runs / "supervised"
    _eval(sup, "distribution_shift", sets=[f"data_dir={tmp_path / 'cinc'}", "bootstrap=0"])
    rec = json.loads((sup / "eval/distribution_shift.json").read_text())
    m = rec["metrics"]
    assert m["scorers"] == "probe" and m["n_target_records"] == 7
    assert m["cpsc2018/probe/n_records"] == 3 and m["csn/probe/n_records"] == 2        # AF and SB alone: removed
    assert {r["target"] for r in rec["table"]} == {"cpsc2018", "csn"}
    assert main(["eval", str(sup), "--protocol", "distribution_shift", "--set", f"data_dir={tmp_path / 'cinc'}",
                 "--set", "scorers=[zero_shot]"]) == 2
    assert "joint text side" in capsys.readouterr().err
