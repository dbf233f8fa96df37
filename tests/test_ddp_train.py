"""Two CPU processes (gloo DDP) train like one: the first two training losses of `clip` and `supervised` on 2 ranks
with batch B each equal those of 1 process with batch 2B (same records: the distributed sampler splits each global
batch of the epoch permutation between the ranks; CLIP gathers features with gradient; the encoder is a small ViT1d with layer
norm, because batch norm sees different statistics per rank and SyncBatchNorm needs GPUs — `sync_batchnorm: true` there).
BLIP is checked in test_ddp_blip.py, by hand-emulated DDP in eval mode: its text encoder's dropout masks are
drawn per rank, so a training run through Lightning matches one process only in distribution."""
import pandas as pd
import pytest

from ecgbench.train.loop import train

OWN = {"clip": {"text_pooling": "mean", "freeze_text": True}, "supervised": {}}   # frozen text: no dropout masks


def _losses(out) -> list:
    log = pd.read_csv(next(out.glob("logs/version_*/metrics.csv")))
    return log.dropna(subset=["train/loss"]).sort_values("step")["train/loss"].tolist()


@pytest.mark.parametrize("method", ["clip", "supervised"])
def test_two_ranks_train_like_one(synth_root, tmp_path, method):
    base = dict(method=method, source="synthetic", data_dir=str(synth_root), ecg_encoder="vit1d_tiny",
                ecg_kw={"dim": 32, "depth": 2, "heads": 2}, text_encoder="tiny", embed_dim=16, epochs=1, max_steps=2,
                lr=1e-2, seed=5, limit=32, log_every_n_steps=1, progress=False, threads=1, accelerator="cpu", **OWN[method])
    one = train({**base, "batch_size": 16, "devices": 1, "output_dir": str(tmp_path / "one")})
    two = train({**base, "batch_size": 8, "devices": 2, "strategy": "ddp_spawn", "output_dir": str(tmp_path / "two")})
    l1, l2 = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert len(l1) == 2 and len(l2) == 2, (l1, l2)
    assert l2 == pytest.approx(l1, rel=1e-4), (l1, l2)
    assert l1[0] != l1[1]                                 # the second loss comes after a real update
