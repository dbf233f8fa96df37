"""Bad-input matrix, configs and grids: every kind of bad run config or grid file fails before any work with a
`ConfigError`/`DataError` whose message names the file, the key and what is expected (or, for the one good
case, is read correctly). Each case writes the file a researcher would write and loads it the way every entry
point does (`load_config` for `ecgbench train`, the papermill notebook and the runner; `load_grid` for
`ecgbench run`)."""
from pathlib import Path

import pytest

import pandas as pd

from ecgbench.cli import main
from ecgbench.core import DataError
from ecgbench.data.synthetic import make_synthetic_ptbxl
from ecgbench.runner import load_grid
from ecgbench.train.config import ConfigError, load_config, parse_set

REPO = Path(__file__).resolve().parents[1]
OK = "method: clip\nsource: synthetic\nepochs: 1\n"

# kind -> (YAML text, words every one of which the error message must hold); {file} is the config's path
CONFIGS = {
    "unknown key": (OK + "epoch: 5\n", ["{file}", "unknown setting `epoch`", "did you mean `epochs`"]),
    "misspelt method key": (OK + "freez_text: true\n", ["unknown setting `freez_text`", "did you mean `freeze_text`"]),
    "string for an int": (OK + "batch_size: \"32\"\n", ["`batch_size` = '32'", "expected int"]),
    "quoted number for a float": (OK + "lr: '1e-4'\n", ["`lr` = '1e-4'", "expected float"]),
    "float for an int": ("method: clip\nsource: synthetic\nepochs: 1.5\n", ["`epochs` = 1.5", "valid integer"]),
    "word for a bool": (OK + "freeze_text: yes please\n", ["`freeze_text`", "expected bool"]),
    "out-of-range value": ("method: clip\nsource: synthetic\nepochs: -1\n", ["`epochs` = -1", "greater than or equal to 0"]),
    "zero learning rate": (OK + "lr: 0\n", ["`lr` = 0", "greater than 0"]),
    "duplicate key": (OK + "lr: 1e-3\nlr: 1e-4\n", ["{file}", "duplicate key 'lr'", "line 4"]),
    "YAML syntax error": (OK + "folds: {train: [1, 2}\n", ["{file}", "not valid YAML", "line 4"]),
    "empty file": ("", ["{file}", "config file is empty"]),
    "list instead of mapping": ("- method: clip\n", ["{file}", "a config is a mapping of settings, got list"]),
    "unknown method": ("method: clpi\nsource: synthetic\n", ["unknown method 'clpi'", "did you mean 'clip'"]),
    "unknown source": ("method: clip\nsource: ptb\n", ["unknown source 'ptb'", "did you mean 'ptbxl'"]),
    "unknown pipeline": (OK + "pipeline: s1\n", ["unknown pipeline 's1'", "one of: none, default, s0"]),
    "unknown image layout": (OK + "input: gafx\n", ["unknown input 'gafx'", "did you mean 'gaf'"]),
    "fold in two splits": (OK + "folds: {train: [1, 2], val: [2], test: [3]}\n", ["fold 2 is in both train and val"]),
    "misspelt split": (OK + "folds: {train: [1], valid: [2], test: [3]}\n", ["folds.valid", "folds.val", "Field required"]),
    "PTB-XL fold 11": ("method: clip\nsource: ptbxl\nfolds: {train: [1], val: [2], test: [11]}\n", ["strat_folds 1-10", "[11]"]),
    "zero-fold": (OK + "folds: {train: [0, 1], val: [2], test: [3]}\n", ["fold 0 in train", "numbered from 1"]),
    # values that used to pass the check and then fail (or mislead) once the run met them
    "limit of one": (OK + "limit: 1\n", ["the val split would have 1 record (`limit` = 1)",
                                         "method 'clip' needs at least 2 val records", "raise `limit` or remove it"]),
    "limit of one, evaluate only": ("method: supervised\nsource: synthetic\nepochs: 0\nlimit: 1\n",
                                    ["the test split would have 1 record (`limit` = 1)", "needs at least 2 test records"]),
    "gallery beyond the limit": (OK + "limit: 10\ngallery_size: 20\n", ["`gallery_size` = 20, but the test split would have 10 records"]),
    "rate the source lacks": ("method: clip\nsource: ptbxl\nrate: 250\n", ["{file}", "rate: source 'ptbxl' has records at 100 and 500 Hz, not 250"]),
    "rate the copy lacks": (OK + "rate: 250\n", ["source 'synthetic' has records at 100 and 500 Hz, not 250"]),
    "negative seed": (OK + "seed: -1\n", ["`seed` = -1", "greater than or equal to 0"]),
    "infinite lr": (OK + "lr: .inf\n", ["`lr` = inf", "finite number"]),
    "nan lr": (OK + "lr: .nan\n", ["`lr` = nan", "finite number"]),
    "infinite weight decay": (OK + "weight_decay: .inf\n", ["`weight_decay` = inf", "finite number"]),
    "misspelt ecg_kw key": (OK + "ecg_kw: {widht: 32}\n", ["ecg_kw: `widht` is not a keyword argument of ECG encoder `resnet1d18`",
                                                           "did you mean `width`?"]),
    "ecg_kw of another encoder": (OK + "ecg_encoder: convnext1d_tiny\necg_kw: {width: 32}\n",
                                  ["`width` is not a keyword argument of ECG encoder `convnext1d_tiny`", "valid: depths"]),
    "ecg_kw value of a wrong type": (OK + "ecg_kw: {width: wide}\n", ["ecg_kw.width = 'wide' (str)", "takes int"]),
    "ecg_kw the encoder cannot build": (OK + "ecg_encoder: convnext1d_tiny\necg_kw: {depths: [1, 1], dims: [8, 16, 32]}\n",
                                        ["cannot be built", "must have the same length"]),
    "misspelt ViT key": (OK + "input: gaf\necg_encoder: vit\necg_kw: {hiden: 64}\n",
                         ["`hiden` is not a keyword argument of image encoder `vit`", "did you mean `hidden`?"]),
    "unknown ECG encoder": (OK + "ecg_encoder: resnet18\n", ["unknown ECG encoder 'resnet18'", "did you mean 'resnet1d18'?"]),
    "image input on a CNN": (OK + "input: gaf\n", ["image input 'gaf' needs a ViT", "got 'resnet1d18'"]),
    "image not whole patches": (OK + "input: gaf\necg_encoder: vit_tiny\nimage_size: 100\n",
                                ["image_size 100 is not a multiple of patch_size 16"]),
    "text the source lacks": ("method: clip\nsource: cinc\ntext: clean\n", ["source 'cinc' has report texts english, scp, original, not 'clean'"]),
    "unknown label set": (OK + "label_set: superdiag\n", ["unknown label set 'superdiag'", "did you mean 'superdiagnostic'?"]),
    "drop_unlabelled without labels": ("method: clip\nsource: mimic\ndrop_unlabelled: true\n",
                                       ["source 'mimic' has no diagnostic labels", "set it to false"]),
    "empty split folds": (OK + "folds: {train: [1], val: [], test: [3]}\n", ["folds.val", "at least 1 item"]),
    "fold 11 on the synthetic copy": (OK + "folds: {train: [1], val: [2], test: [11]}\n", ["synthetic assigns folds 1-10, got fold(s) [11]"]),
    "misspelt augmentation": (OK + "augment: {crp: 0.8}\n", ["unknown augmentation `crp`", "did you mean `crop`?"]),
    "augmentation out of range": (OK + "augment: {crop: 1.5}\n", ["augment.crop = 1.5", "a number in (0, 1]"]),
    "random pipeline": (OK + "pipeline: {steps: [[crop_or_pad, {length: 500, mode: random}]]}\n", ["is random", "belong in `augment`"]),
    "unknown pipeline step": (OK + "pipeline: {steps: [[notch50, {}]]}\n", ["`pipeline`", "the pipeline does not build", "notch50"]),
    "unknown text encoder": (OK + "text_encoder: minlm\n", ["`text_encoder` = 'minlm'", "did you mean 'minilm'?"]),
    "unknown precision": (OK + "precision: '8'\n", ["unknown precision '8'", "bf16-mixed"]),
    "misspelt accelerator": (OK + "accelerator: cpuu\n", ["unknown accelerator 'cpuu'", "did you mean 'cpu'?"]),
    "misspelt strategy": (OK + "strategy: dpp\n", ["unknown strategy 'dpp'", "did you mean 'ddp'?"]),
    "zero devices": (OK + "devices: 0\n", ["`devices` = 0", "a count ≥ 1"]),
}


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_bad_config_fails_naming_the_key(tmp_path, kind):
    text, words = CONFIGS[kind]
    f = tmp_path / "run.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f)
    msg = str(e.value)
    assert all(w.format(file=f) in msg for w in words), (kind, msg)


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_train_check_refuses_before_any_work(tmp_path, monkeypatch, capsys, kind):
    "`ecgbench train CFG --check` exits 2 with the same message, and nothing is written (no training starts)."
    text, words = CONFIGS[kind]
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "run.yaml"
    f.write_text(text)
    assert main(["train", str(f), "--check"]) == 2, kind
    err = capsys.readouterr().err
    assert err.startswith("ecgbench: error: ") and all(w.format(file=f) in err for w in words), (kind, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


@pytest.fixture()
def one_test_record(tmp_path) -> Path:
    "A 60-record synthetic dataset whose fold 10 (the default test split) holds a single record."
    root = make_synthetic_ptbxl(tmp_path / "syn", n=60, seed=0, progress=False)
    db = pd.read_csv(root / "ptbxl_database.csv")
    db.loc[db.index[db["strat_fold"] == 10][1:], "strat_fold"] = 9
    db.to_csv(root / "ptbxl_database.csv", index=False)
    return root


def test_split_too_small_in_the_data_fails_the_check(one_test_record, tmp_path, monkeypatch, capsys):
    "A test split the data make too small is found from the metadata by --check, naming split, size, minimum and fix."
    f = tmp_path / "run.yaml"
    f.write_text(f"method: clip\nsource: synthetic\ndata_dir: {one_test_record}\nepochs: 1\noutput_dir: {tmp_path / 'out'}\n")
    want = (f"{f}: the test split would have 1 record (folds [10] of synthetic at {one_test_record} hold 1), but method 'clip' "
            "needs at least 2 test records for its test metrics (retrieval ranks and classification scores need two); "
            "give `folds.test` more folds or use a bigger dataset")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    assert str(e.value) == want
    assert main(["train", str(f), "--check"]) == 2
    assert capsys.readouterr().err.strip() == f"ecgbench: error: {want}"
    assert not (tmp_path / "out").exists()
    assert main(["train", str(f), "--check", "--set", "folds={train: [1, 2, 3, 4, 5, 6, 7], val: [8], test: [9, 10]}"]) == 0


def test_dotted_override_into_a_value_fails_naming_the_key(tmp_path, monkeypatch, capsys):
    base = {"method": "clip", "source": "synthetic", "ecg_kw": {"width": 32}}
    with pytest.raises(ConfigError) as e:
        load_config(base, parse_set(["ecg_kw.width.x=1"]))
    assert str(e.value) == ("--set ecg_kw.width.x: `ecg_kw.width` is 32 (int), not a mapping, so a dotted key cannot "
                            "reach into it; replace it whole with --set ecg_kw.width=VALUE")
    with pytest.raises(ConfigError, match=r"ecg_kw.width = \{'x': 1\} \(dict\): ECG encoder `resnet1d18` \(ResNet1d18\) takes int"):
        load_config({"method": "clip", "source": "synthetic"}, parse_set(["ecg_kw.width.x=1"]))   # no base value: the type check
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "run.yaml"
    f.write_text(OK + "ecg_kw: {width: 32}\n")
    for item, words in [("ecg_kw.width.x=1", ["--set ecg_kw.width.x", "`ecg_kw.width` is 32 (int), not a mapping"]),
                        ("limit=1", ["the val split would have 1 record (`limit` = 1)"]),
                        ("ecg_kw.widht=16", ["`widht` is not a keyword argument", "did you mean `width`?"])]:
        assert main(["train", str(f), "--check", "--set", item]) == 2, item
        err = capsys.readouterr().err
        assert all(w in err for w in words), (item, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


@pytest.mark.parametrize("path", sorted(REPO.glob("results/ptbxl/*/config.yaml")) + sorted(
    p for p in REPO.glob("nbs/experiments/*.yaml") if "notebook:" not in p.read_text()), ids=lambda p: str(p.relative_to(REPO)))
def test_kept_configs_still_load(path):
    "The configs of kept results and the experiment configs pass every check, the data ones included (where the data are here)."
    cfg = load_config(path)
    from ecgbench.train.registry import config_class
    assert type(cfg) is config_class(cfg.method)                 # checked by its own method's typed config


def test_scientific_notation_is_a_float(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text(OK + "lr: 1e-4\nweight_decay: 5E-2\n")
    cfg = load_config(f)
    assert isinstance(cfg.lr, float) and cfg.lr == 1e-4 and cfg.weight_decay == 0.05


def test_missing_config_file_names_it(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("item, words", [("epochs", ["--set 'epochs'", "key=value"]),
                                         ("epoch=3", ["unknown setting `epoch`", "did you mean `epochs`"]),
                                         ("batch_size=big", ["`batch_size` = 'big'", "expected int"])])
def test_bad_override_fails(item, words):
    with pytest.raises(ConfigError) as e:
        load_config({"method": "clip", "source": "synthetic"}, parse_set([item]))
    assert all(w in str(e.value) for w in words), str(e.value)


NB = "notebook: train_retrieval.ipynb\noutput_dir: out\n"
GRIDS = {
    "misspelt grid key": (NB + "grdi: {seed: [0, 1]}\n", ConfigError, ["unknown grid key `grdi`", "did you mean `grid`"]),
    "grid value not a list": (NB + "grid: {seed: 3}\n", ConfigError, ["grid setting `seed` must be a list"]),
    "bad key in base": (NB + "base: {epoch: 1}\ngrid: {seed: [0, 1]}\n", ConfigError, ["unknown setting `epoch`"]),
    "bad run among good ones": (NB + "runs:\n  - {name: a, seed: 0}\n  - {name: b, lr: fast}\n", ConfigError,
                                ["run 'b'", "`lr` = 'fast'"]),
    "two runs one name": (NB + "runs:\n  - {name: a, seed: 0}\n  - {name: a, seed: 1}\n", DataError, ["two runs share a name"]),
    "no notebook key": ("output_dir: out\ngrid: {seed: [0]}\n", DataError, ["needs a `notebook:` key"]),
    "notebook missing": ("notebook: nope.ipynb\ngrid: {seed: [0]}\n", DataError, ["nope.ipynb", "notebook not found"]),
    "duplicate grid key": (NB + "grid: {seed: [0]}\ngrid: {seed: [1]}\n", ConfigError, ["duplicate key 'grid'"]),
}


@pytest.mark.parametrize("kind", list(GRIDS))
def test_bad_grid_fails_before_any_run(tmp_path, kind):
    text, err, words = GRIDS[kind]
    (tmp_path / "train_retrieval.ipynb").write_bytes((REPO / "nbs/experiments/train_retrieval.ipynb").read_bytes())
    f = tmp_path / "grid.yaml"
    f.write_text(text)
    with pytest.raises(err) as e:
        load_grid(f)
    assert all(w in str(e.value) for w in words), (kind, str(e.value))
    assert not (tmp_path / "out").exists()
