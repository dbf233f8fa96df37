"""S0 on the CPU (method `s0`, issue 16): the pretrained image encoder loads strictly; a synthetic run of the
cached-feature recipe learns and does not collapse; its feature caches are reused, and rebuilt when damaged."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from ecgbench.cache import verify
from ecgbench.data.synthetic import default_synthetic
from ecgbench.models.cnn import _lite0_network, efficientnet_lite0, lite0_weights_path
from ecgbench.models.features import FeatureStore
from ecgbench.train.loop import train


def test_lite0_weights_load_strictly(tmp_path):
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    _lite0_network().load_state_dict(state, strict=True)                    # raises on any missing or extra key
    enc = efficientnet_lite0(num_channels=3, image_size=64)
    assert torch.equal(enc.head[0].weight, state["_conv_head.weight"])       # ImageNet's, not a random draw
    assert torch.equal(enc.blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"])
    del state["_blocks.15._project_conv.weight"]                              # one tensor short: refused, not half-loaded
    torch.save(state, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict"):
        efficientnet_lite0(weights=tmp_path / "partial.pth")


def _tiny(tmp_path: Path, **kw) -> dict:
    root = default_synthetic(n=200, seed=0, progress=False)
    return {"method": "s0", "source": "synthetic", "data_dir": str(root), "input": "all-grid", "image_size": 64,
            "ecg_kw": {"frozen_blocks": 11}, "text_max_length": 48, "embed_dim": 64, "batch_size": 16, "queue_size": 64,
            "momentum": 0.9, "k_test": 8, "lr": 1e-3, "seed": 0, "progress": False, "threads": 2,
            "cache_dir": str(tmp_path / "cache"), **kw}


def test_synthetic_s0_learns_and_its_feature_caches_rebuild(tmp_path):
    res = train({**_tiny(tmp_path), "epochs": 6, "output_dir": str(tmp_path / "run")})
    te = res["test"]
    assert te["collapsed"] == 0, {k: v for k, v in te.items() if k.startswith("collapse")}
    for d in ("ecg2report", "report2ecg"):                                   # 20 test records: chance R@10 = 50 %
        assert te[f"strict/{d}_R@10"] > 60 and te[f"itm/strict/{d}_R@10"] > 60, te
    assert te["RSUM"] > te["baseline/random/strict/RSUM"] and te["RSUM"] > te["baseline/popularity/strict/RSUM"]
    feats = tmp_path / "cache" / "features"
    lower, text = ([p for p in sorted(feats.glob(f"{k}-*")) if p.is_dir()] for k in ("lower", "text"))
    assert len(lower) == 3 and len(text) == 1, sorted(p.name for p in feats.iterdir())
    train_store = max(lower, key=lambda p: len(FeatureStore.open(p)))         # the training split's store: the largest
    before = np.array(np.load(train_store / "lower.npy"))
    raw = bytearray((train_store / "lower.npy").read_bytes()); raw[-3] ^= 0xFF
    (train_store / "lower.npy").write_bytes(bytes(raw))
    assert verify(train_store) is not None                                    # the damage is seen ...
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        again = train({**_tiny(tmp_path), "epochs": 1, "limit": None, "output_dir": str(tmp_path / "again")})
    assert any("damaged image feature cache" in str(w.message) for w in caught), [str(w.message) for w in caught][:5]
    assert verify(train_store) is None and np.array_equal(np.load(train_store / "lower.npy"), before)   # ... and repaired
    assert again["test"]["collapsed"] == 0
