"""Sharded retrieval evaluation: on 2 CPU ranks (gloo) every rank returns exactly the 1-process metrics (embeddings,
dense, galleries, all three recall kinds, ITM re-ranking, bootstrap), and each rank only re-scores its own queries."""
import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from ecgbench.eval.retrieval import query_stats, retrieval_metrics, tie_stats, expected_hits

WORLD = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _data(n: int = 101):
    g = torch.Generator().manual_seed(0)
    rep = torch.randint(0, 40, (n,), generator=g)                       # many duplicated reports
    text = F.normalize(torch.randn(40, 16, generator=g), dim=1)[rep]
    ecg = F.normalize(text + 0.8 * torch.randn(n, 16, generator=g), dim=1)
    return ecg, text, rep, rep % 7


def _itm(calls=None):
    def f(i, j):
        if calls is not None: calls.append(i.clone())
        return torch.where(i == j, 0.5, 0.0) + 0.01 * ((i * 7 + j * 3) % 5)
    return f


def _cases(calls=None):
    ecg, text, rep, lab = _data()
    kw = dict(groups=rep, label_groups=lab, chunk=16)
    return {
        "emb": retrieval_metrics((ecg, text), **kw, bootstrap=50),
        "dense": retrieval_metrics(ecg @ text.T, **kw),
        "gallery": retrieval_metrics((ecg, text), **kw, gallery_size=30, seed=4),
        "rerank": retrieval_metrics(ecg @ text.T, **kw, rerank_fn=_itm(calls), k_test=5),
    }


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        calls = []
        res = _cases(calls)
        res["rerank_queries"] = torch.cat(calls)
        torch.save(res, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_sharded_equals_single(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    single = _cases()
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    for r in ranks:
        for case in single: assert r[case] == single[case], case
    # re-ranking is sharded: rank 0 re-scores queries 0..49, rank 1 queries 50..100 (k_test = 5 pairs each, both
    # directions); the ECG→report calls come first and their first argument is the query ECG
    e0, e1 = ranks[0]["rerank_queries"], ranks[1]["rerank_queries"]
    assert len(e0) == 50 * 5 * 2 and len(e1) == 51 * 5 * 2
    assert e0[:250].min() == 0 and e0[:250].max() == 49 and e1[:255].min() == 50 and e1[:255].max() == 100


def test_embeddings_match_exact_reference():
    ecg, text, rep, lab = _data(257)
    st = query_stats((ecg, text), rep, label_groups=lab, chunk=10)
    for kind, grp in (("strict", torch.arange(257)), ("dedup", rep), ("label", lab)):
        P = grp[:, None] == grp[None]
        # reference on exactly tied scores: score against the unique report rows, expand back
        u, inv = torch.unique(text, dim=0, return_inverse=True)
        ref = tie_stats((ecg @ u.T)[:, inv], P)
        assert torch.equal(expected_hits(st[kind]["ecg2report"]), expected_hits(ref)), kind
