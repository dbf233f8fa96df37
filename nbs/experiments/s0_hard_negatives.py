"""How often S0's ITM hard negatives are label-equivalent to the positive, on the validation split of trained S0 runs,
and the run's ITM training loss in its first and last epoch (from its CSV log; 1/3 of the ITM pairs are matched, so
a head that ignores its input scores the prior's cross-entropy, 0.637).
    python nbs/experiments/s0_hard_negatives.py RUN_FOLDER [RUN_FOLDER ...] > results/ptbxl_s0/hard_negatives.json
(`methods.s0.hard_negative_overlap`; one JSON object, one entry per run, read by results page nbs/85)."""
import json, math, sys
from pathlib import Path

import pandas as pd
import torch

from ecgbench.methods.s0 import hard_negative_overlap
from ecgbench.runs import Run

out = {}
for folder in sys.argv[1:]:
    run = Run(folder)
    e, dm = run.embeddings("val"), run.datamodule()
    keys = dm.label_keys("val").reindex(e["ids"]).fillna("").tolist()
    tau = float(run.model().temperature.temperature)
    r = hard_negative_overlap(torch.from_numpy(e["ecg"]), torch.from_numpy(e["text"]), list(e["reports"]), keys, tau,
                              batch=run.config.batch_size, draws=200, seed=0)
    log = pd.concat([pd.read_csv(p) for p in sorted(Path(folder).glob("logs/*/metrics.csv"))]).dropna(subset=["train/itm"])
    first, last = log[log.epoch == log.epoch.min()]["train/itm"].mean(), log[log.epoch == log.epoch.max()]["train/itm"].mean()
    prior = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    out[run.config.input + f"-seed{run.config.seed}"] = {"run": str(folder), "split": "val", "temperature": tau, **r,
                                                        "itm_loss_first_epoch": first, "itm_loss_last_epoch": last, "itm_prior_loss": prior}
print(json.dumps(out, indent=1))
