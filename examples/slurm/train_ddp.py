#!/usr/bin/python3
"""Distributed training straight from a valise set (one process per rank).

Launched by examples/slurm/train.sbatch (srun) or torchrun: reads RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT from the environment.
Trains the small CNN of examples/train_tiny.py on samples `*.img` (16x16
bytes) + `*.json` ({"label": c}) with DistributedDataParallel, each rank
reading its slice of every epoch through ValiseDataset; at the end the ranks
check together that the epoch's samples were read exactly once.

  srun -n 2 bash -c 'RANK=$SLURM_PROCID WORLD_SIZE=$SLURM_NTASKS MASTER_ADDR=localhost MASTER_PORT=29533 \\
      /usr/bin/python3 examples/slurm/train_ddp.py --drives "d*" --identity site.id'
"""
import argparse
import glob
import os
import sys

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.utils.data

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from train_tiny import TinyNet, decode  # noqa: E402  (the model and decoding of the tiny example)

from valise.torch import ValiseDataset  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drives", required=True, help="glob of the set's drive directories (quote it)")
    ap.add_argument("--identity", required=True)
    ap.add_argument("--prefix", default="train/")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--backend", default="nccl" if torch.cuda.is_available() else "gloo")
    ap.add_argument("--out", help="rank 0 saves the trained weights here")
    a = ap.parse_args()
    dist.init_process_group(a.backend, init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if a.backend == "nccl" else "cpu")
    drives = sorted(glob.glob(a.drives))
    ds = ValiseDataset(drives, identity=a.identity, prefix=a.prefix, batch_size=a.batch, even="pad",
                       transform=lambda s: (*decode(s), s["__key__"]))
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, num_workers=a.workers)
    model = nn.parallel.DistributedDataParallel(TinyNet().to(device),
                                                device_ids=[local] if device.type == "cuda" else None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    lossf = nn.CrossEntropyLoss()
    keys = []
    for epoch in range(a.epochs):
        ds.set_epoch(epoch)
        keys = []
        total = torch.zeros(2, device=device)
        for x, y, k in loader:
            x, y = x.to(device), y.to(device)
            opt.zero_grad()
            logits = model(x)
            loss = lossf(logits, y)
            loss.backward()
            opt.step()
            total += torch.tensor([(logits.argmax(1) == y).sum().item(), len(y)], device=device)
            keys.extend(k)
        dist.all_reduce(total)
        if rank == 0:
            print(f"epoch {epoch}: {int(total[1])} samples over {world} ranks, accuracy {total[0] / total[1]:.1%}",
                  flush=True)
    gathered = [None] * world
    dist.all_gather_object(gathered, keys)
    ok = True
    if rank == 0:
        every = [k for part in gathered for k in part]
        distinct = set(every)
        ok = len(distinct) == ds.num_samples and len(every) - len(distinct) < world
        print(f"last epoch: {len(every)} samples read, {len(distinct)} distinct of {ds.num_samples} "
              f"({'ok' if ok else 'WRONG'})", flush=True)
        if a.out:
            torch.save(model.module.state_dict(), a.out)
    dist.barrier()
    dist.destroy_process_group()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
