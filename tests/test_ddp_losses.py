"""2-process CPU DDP (gloo) checks of ecgbench.losses: the gathered contrastive losses on 2 ranks with part of the
batch each equal the 1-process losses on the global batch, and so do their gradients (scaled by the world size,
which DDP's gradient averaging divides out again)."""
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from ecgbench.losses import clip_loss
from ecgbench.momentum import MomentumQueue

WORLD = 2
N, D, SCALE = 8, 5, 3.0
SPLITS = {"even": (4, 4), "uneven": (3, 5)}   # items per rank; the uneven case is an epoch's last batch


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(N, D, generator=g, dtype=torch.float64)
    b = torch.randn(N, D, generator=g, dtype=torch.float64)
    groups = torch.tensor([7, 3, 7, 1, 3, 9, 7, 2])   # repeated ids: same-text positives across ranks
    return a, b, groups


def _loss_and_grads(a, b, scale, positives):
    "clip_loss on (a, b) and its gradients w.r.t. a, b and the logit scale."
    a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
    s = torch.tensor(scale, dtype=torch.float64, requires_grad=True)
    loss = clip_loss(a, b, s, positives=positives)
    loss.backward()
    return loss.detach(), a.grad, b.grad, s.grad


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        a, b, groups = _data()
        res = {}
        for split, sizes in SPLITS.items():
            lo = sum(sizes[:rank]); sl = slice(lo, lo + sizes[rank])
            res[split, "plain"] = _loss_and_grads(a[sl], b[sl], SCALE, None)
            res[split, "positives"] = _loss_and_grads(a[sl], b[sl], SCALE, groups[sl])
        q = MomentumQueue(dim=D, size=6)
        q.enqueue(a[rank * 2:rank * 2 + 2], groups[rank * 2:rank * 2 + 2])   # each rank enqueues 2 items
        res["queue"] = (q.features(), q.group_ids())
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt") for r in range(WORLD)]


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("kind", ["plain", "positives"])
def test_gathered_clip_loss_matches_single_process(ranks, split, kind):
    a, b, groups = _data()
    loss, ga, gb, gs = _loss_and_grads(a, b, SCALE, groups if kind == "positives" else None)
    lo = 0
    for r, size in enumerate(SPLITS[split]):
        l_r, ga_r, gb_r, gs_r = ranks[r][split, kind]
        sl = slice(lo, lo + size); lo += size
        assert abs(float(l_r) - float(loss)) < 1e-6, f"rank {r}: loss {float(l_r)} != {float(loss)}"
        # every rank computes the same global loss, so the gradient reaching a rank's features is WORLD x the
        # 1-process gradient of its rows; DDP's averaging over ranks divides that factor out again
        assert torch.allclose(ga_r, WORLD * ga[sl], atol=1e-6, rtol=0)
        assert torch.allclose(gb_r, WORLD * gb[sl], atol=1e-6, rtol=0)
        assert abs(float(gs_r) - float(gs)) < 1e-6      # the (replicated) logit scale needs no rescaling


def test_positives_change_the_loss(ranks):
    assert abs(float(ranks[0]["even", "plain"][0]) - float(ranks[0]["even", "positives"][0])) > 1e-3


def test_queue_enqueue_gathers_all_ranks(ranks):
    a, _, groups = _data()
    expected = torch.nn.functional.normalize(a[:4].float(), dim=-1)
    for r in range(WORLD):
        feats, ids = ranks[r]["queue"]
        assert torch.allclose(feats, expected, atol=1e-6) and torch.equal(ids, groups[:4])
