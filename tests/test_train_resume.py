"""Resuming `ecgbench.train.loop.train` from `last.ckpt` after a crash repeats the uninterrupted run exactly."""
import lightning as L
import pytest
import torch

from ecgbench.train.loop import train


class Crash(L.Callback):
    "Raise after `after` training steps of epoch `epoch` (a simulated kill in the middle of an epoch)."
    def __init__(self, epoch: int, after: int):
        self.epoch, self.after = epoch, after

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx + 1 == self.after:
            raise RuntimeError("simulated crash")


OWN = {"clip": {"uma_weight": 0.5}, "supervised": {"dropout": 0.3}}   # each method's own settings

def _cfg(root, out, method: str = "clip", **kw) -> dict:
    return {**dict(method=method, source="synthetic", data_dir=str(root), ecg_encoder="resnet1d18",
                   ecg_kw={"width": 8, "stem_pool": True}, text_encoder="tiny", embed_dim=32, epochs=3, batch_size=8,
                   lr=3e-3, warmup_steps=2, seed=3, output_dir=str(out), progress=False, threads=1,
                   augment={"crop": 0.9, "scale": 0.1}), **OWN[method], **kw}


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.mark.parametrize("method", ["clip", "supervised"])
def test_resume_matches_uninterrupted(synth_root, tmp_path, method):
    full = train(_cfg(synth_root, tmp_path / "full", method=method))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(_cfg(synth_root, tmp_path / "crashed", method=method), callbacks=[Crash(epoch=1, after=2)])
    last = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0   # only epoch 0 was finished
    resumed = train(_cfg(synth_root, tmp_path / "crashed", method=method, ckpt_path=str(last)))
    assert resumed["test"] == full["test"] and resumed["test"]
    assert resumed["val_history"] == full["val_history"] and len(full["val_history"]) == 3
    a, b = _weights(tmp_path / "full" / "checkpoints" / "last.ckpt"), _weights(last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_metrics_other_seed_differs(synth_root, tmp_path):
    one = train(_cfg(synth_root, tmp_path / "a", epochs=1))
    two = train(_cfg(synth_root, tmp_path / "b", epochs=1))
    other = train(_cfg(synth_root, tmp_path / "c", epochs=1, seed=4))
    assert one["test"] == two["test"]
    a, c = _weights(tmp_path / "a" / "checkpoints" / "last.ckpt"), _weights(tmp_path / "c" / "checkpoints" / "last.ckpt")
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_ddp_evaluates_the_whole_split_once(synth_root, tmp_path):
    """Two CPU ranks (ddp_spawn): metrics equal a single-process evaluation of the same checkpoint. The 5-record
    validation split is padded to 6 by the distributed sampler: the duplicate must not count."""
    from ecgbench.train.config import load_config
    from ecgbench.train.data import ECGReportDataModule
    from ecgbench.train.registry import method_class
    cfg = _cfg(synth_root, tmp_path / "ddp", epochs=2, accelerator="cpu", devices=2, strategy="ddp_spawn")
    ddp = train(cfg)
    assert len(ddp["val_history"]) == 2 and ddp["test"]
    full = load_config({**cfg, "devices": 1, "strategy": "auto"})
    dm = ECGReportDataModule.from_config(full); dm.setup()
    model = method_class("clip").from_config(full, dm)
    assert len(dm.datasets["val"]) % 2 == 1
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    model.load_state_dict(_weights(ddp["last_checkpoint"]))
    trainer.validate(model, datamodule=dm, verbose=False)
    one = {k: v for k, v in model.val_history[-1].items() if k not in ("epoch", "step")}
    two = {k: v for k, v in ddp["val_history"][-1].items() if k not in ("epoch", "step")}
    assert {k: v for k, v in one.items() if "/R@" in k or "RSUM" in k} == {k: v for k, v in two.items() if "/R@" in k or "RSUM" in k}
    assert one == pytest.approx(two, rel=1e-5)       # embedding-spread statistics: float rounding of the gathered sums
    model.load_state_dict(_weights(ddp["best_checkpoint"]))
    trainer.test(model, datamodule=dm, verbose=False)
    assert model.test_metrics == pytest.approx(ddp["test"], abs=1e-3)
