"""Training survives SIGKILL: (a) killed in the middle of an epoch, (b) killed in the middle of writing a checkpoint.
Each time the run is resumed with `ckpt_path: last` and must end with exactly the metrics and weights of an
uninterrupted run with the same seed, and no corrupt checkpoint may ever be taken as `last`.

The run to kill is a child process (`python -c CHILD`); it writes a marker file at the moment to kill it and then
waits, so the kill lands at the same point every time: after the second training step of epoch 1, or half-way
through the second write of `last.ckpt` (a `torch.save` that writes half the bytes, then stalls, as a slow disk
would). The test then sends SIGKILL (no clean-up runs in the child)."""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from ecgbench.core import DataError
from ecgbench.train.loop import train

CHILD = r'''
import io, json, sys, time
import lightning as L, torch
from ecgbench.train.loop import train
cfg, mode, marker = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]

def stall():
    open(marker, "w").close()
    time.sleep(600)

class StallInEpoch(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 1: stall()

writes = {"last": 0}
save = torch.save
def slow_save(obj, f, *args, **kwargs):
    name = str(getattr(f, "name", ""))
    if "last.ckpt" in name:
        writes["last"] += 1
        if writes["last"] == 2:                      # the end of epoch 1: half the bytes, then the disk stalls
            buf = io.BytesIO(); save(obj, buf, *args, **kwargs); data = buf.getvalue()
            f.write(data[: len(data) // 2]); f.flush(); stall()
    return save(obj, f, *args, **kwargs)

if mode == "checkpoint": torch.save = slow_save
train(cfg, callbacks=[StallInEpoch()] if mode == "epoch" else [])
'''


def _cfg(root, out, **kw) -> dict:
    return {**dict(method="supervised", source="synthetic", data_dir=str(root), ecg_encoder="resnet1d18",
                   ecg_kw={"width": 8, "stem_pool": True}, embed_dim=16, epochs=3, batch_size=8, train_limit=24,
                   lr=3e-3, warmup_steps=1, seed=7, output_dir=str(out), progress=False, threads=1, accelerator="cpu",
                   augment={"crop": 0.9, "scale": 0.1}), **kw}


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def reference(synth_root, tmp_path_factory):
    "The uninterrupted run: its result and folder."
    out = tmp_path_factory.mktemp("faults") / "full"
    t0 = time.time()
    result = train(_cfg(synth_root, out))
    print(f"uninterrupted run: {time.time() - t0:.1f} s")
    return result, out


def _kill_at_marker(cfg: dict, mode: str, tmp_path: Path, timeout: float = 180) -> float:
    "Start the child, SIGKILL it as soon as it writes the marker; seconds from start to kill."
    marker, log = tmp_path / f"kill-{mode}", tmp_path / f"child-{mode}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.time()
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(cfg), mode, str(marker)], stdout=f, stderr=f, env=env)
    try:
        while not marker.exists():
            assert proc.poll() is None, f"child ended (rc {proc.returncode}) before the kill point:\n{log.read_text()[-3000:]}"
            assert time.time() - t0 < timeout, "child never reached the kill point"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None: proc.kill(); proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return time.time() - t0


def _same_as_reference(resumed: dict, reference) -> None:
    full, full_out = reference
    assert resumed["test"] == full["test"] and resumed["test"]
    assert resumed["val_history"] == full["val_history"] and len(full["val_history"]) == 3
    a, b = _weights(full_out / "checkpoints" / "last.ckpt"), _weights(resumed["last_checkpoint"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_mid_epoch_then_resume(synth_root, tmp_path, reference):
    out = tmp_path / "run"
    waited = _kill_at_marker(_cfg(synth_root, out), "epoch", tmp_path)
    last = out / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["epoch"] == 0      # epoch 0 finished, 1 was cut
    assert not (out / "metrics.json").exists()
    t0 = time.time()
    resumed = train(_cfg(synth_root, out, ckpt_path="last"))
    print(f"killed after {waited:.1f} s; resumed in {time.time() - t0:.1f} s")
    _same_as_reference(resumed, reference)


def test_sigkill_mid_checkpoint_write_then_resume(synth_root, tmp_path, reference):
    out = tmp_path / "run"
    waited = _kill_at_marker(_cfg(synth_root, out), "checkpoint", tmp_path)
    ckdir = out / "checkpoints"
    temps = sorted(p.name for p in ckdir.glob(".*.tmp"))
    assert len(temps) == 1 and temps[0].startswith(".last.ckpt."), temps                  # the half-written new one
    assert not zipfile.is_zipfile(ckdir / temps[0])                                         # ... is indeed incomplete
    assert torch.load(ckdir / "last.ckpt", map_location="cpu", weights_only=False)["epoch"] == 0   # last: the old, whole
    for name in ("best.ckpt", "last.ckpt"): assert zipfile.is_zipfile(ckdir / name), name
    t0 = time.time()
    resumed = train(_cfg(synth_root, out, ckpt_path="last"))
    print(f"killed after {waited:.1f} s; resumed in {time.time() - t0:.1f} s")
    assert list(ckdir.glob(".*.tmp")) == []                                                 # the stale temp file is gone
    _same_as_reference(resumed, reference)


def test_corrupt_or_absent_last_checkpoint(synth_root, tmp_path, reference):
    "A truncated `last.ckpt` (as a non-atomic writer leaves it) is refused by name; no `last.ckpt` yet: from scratch."
    _, full_out = reference
    out = tmp_path / "run"
    (out / "checkpoints").mkdir(parents=True)
    blob = (full_out / "checkpoints" / "last.ckpt").read_bytes()
    (out / "checkpoints" / "last.ckpt").write_bytes(blob[: len(blob) * 2 // 3])
    with pytest.raises(DataError, match=r"last\.ckpt: is truncated or corrupt: not a complete checkpoint -> delete it") as e:
        train(_cfg(synth_root, out, ckpt_path="last"))
    assert e.value.reason == "corrupt"
    with pytest.raises(DataError, match=r"nope\.ckpt: no such checkpoint -> fix `ckpt_path`"):
        train(_cfg(synth_root, out, ckpt_path=str(tmp_path / "nope.ckpt")))
    with pytest.warns(UserWarning, match="no .*last.ckpt yet .*training from scratch"):
        fresh = train(_cfg(synth_root, tmp_path / "fresh", ckpt_path="last", epochs=1))
    assert len(fresh["val_history"]) == 1
