"""BLIP (S0) on 2 CPU processes (gloo) trains like one process on the global batch: two optimisation steps of
`BlipMethod.compute_losses` (ITC against the gathered momentum batch + queues, ITM with hard negatives drawn from
the gathered batch, MLM) on 2 ranks holding part of a batch of 16 give the same ITC, ITM and MLM losses and the
same updated weights as 1 process holding all 16 — for an even (8 + 8) and an uneven (5 + 11) split.

DDP is emulated by hand (gradients all-reduced and averaged, as DDP does; losses averaged, as `sync_dist` logging
does) so the model can run in eval mode: dropout masks are drawn per rank and would otherwise differ. Each rank's
global RNG is seeded differently, as `on_train_batch_start` does, so the test also shows that the negatives and
masks do not depend on the rank's own RNG (`distributed.shared_generator`)."""
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

WORLD, STEPS, LR = 2, 2, 0.5
SPLITS = {"even": (8, 8), "uneven": (5, 11)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model_and_batch(root: str):
    from ecgbench.methods.blip import BlipMethod
    from ecgbench.train.config import load_config
    from ecgbench.train.data import ECGReportDataModule
    cfg = load_config(dict(method="blip", source="synthetic", data_dir=root, input="all-grid", image_size=32,
                           patch_size=16, ecg_encoder="vit", ecg_kw=dict(hidden=32, layers=1, heads=2, intermediate=64),
                           text_encoder="tiny", text_pooling="mean", image_pooling="mean", embed_dim=16, batch_size=16,
                           queue_size=24, momentum=0.9, seed=0, progress=False))
    dm = ECGReportDataModule.from_config(cfg); dm.setup()
    torch.manual_seed(0)
    model = BlipMethod.from_config(cfg, dm).double().eval()       # float64: the comparison tests the maths, not rounding
    batch = next(iter(dm.train_dataloader()))
    batch["image"] = batch["image"].double()
    return model, batch


def _rows(batch: dict, sl: slice) -> dict:
    return {k: (v[sl] if isinstance(v, (torch.Tensor, list)) else v) for k, v in batch.items()}


def _train(root: str, sl: slice, rank: int, world: int) -> dict:
    "STEPS SGD steps on rows `sl` of the batch; losses and gradients averaged over ranks as DDP does."
    model, batch = _model_and_batch(root)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LR)
    part, losses = _rows(batch, sl), []
    for step in range(STEPS):
        torch.manual_seed(1000 * rank + step)          # per-rank RNG, as on_train_batch_start seeds it
        opt.zero_grad()
        out = model.compute_losses(part)
        out["loss"].backward()
        logged = torch.stack([out[k].detach() for k in ("itc", "itm", "mlm")])
        if world > 1:
            for p in model.parameters():
                if p.grad is not None: dist.all_reduce(p.grad); p.grad /= world
            dist.all_reduce(logged); logged /= world
        losses.append(logged)
        opt.step()
    return {"losses": torch.stack(losses), "weights": torch.cat([p.detach().reshape(-1) for p in model.parameters()]),
            "queue": model.image_queue.group_ids()}


def _worker(rank: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        res = {}
        for name, sizes in SPLITS.items():
            lo = sum(sizes[:rank])
            res[name] = _train(root, slice(lo, lo + sizes[rank]), rank, WORLD)
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(synth_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_blip")
    mp.spawn(_worker, args=(_free_port(), str(synth_root), str(out)), nprocs=WORLD, join=True)
    torch.set_num_threads(1)
    return _train(str(synth_root), slice(0, 16), 0, 1), [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("split", list(SPLITS))
def test_two_ranks_train_blip_like_one(runs, split):
    one, ranks = runs
    for r in range(WORLD):
        got = ranks[r][split]
        # rows: steps; columns: ITC, ITM, MLM
        assert torch.allclose(got["losses"], one["losses"], rtol=1e-9, atol=1e-9), (r, got["losses"], one["losses"])
        assert torch.allclose(got["weights"], one["weights"], rtol=1e-9, atol=1e-9), f"rank {r}: weights differ after {STEPS} steps"
        assert torch.equal(got["queue"], one["queue"])     # the queues hold every rank's items, in global order
    assert (one["losses"][0] != one["losses"][1]).all()      # the second step follows a real update
