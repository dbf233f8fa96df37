"""Bad-input matrix, configs and grids: every kind of bad run config or grid file fails before any work with a
`ConfigError`/`DataError` whose message names the file, the key and what is expected (or, for the one good
case, is read correctly). Each case writes the file a researcher would write and loads it the way every entry
point does (`load_config` for `ecgbench train`, the papermill notebook and the runner; `load_grid` for
`ecgbench run`)."""
from pathlib import Path

import pytest

from ecgbench.core import DataError
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
