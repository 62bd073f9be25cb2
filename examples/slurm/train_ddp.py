#!/usr/bin/python3
"""Distributed training straight from a valise set (one process per rank).

Launched by examples/slurm/train.sbatch (srun) or torchrun: reads RANK,
WORLD_SIZE and LOCAL_RANK from the environment (under srun, from SLURM_PROCID,
SLURM_NTASKS and SLURM_LOCALID when those are not set), MASTER_ADDR and
MASTER_PORT too. Each rank uses the GPU of its local rank.
Trains the small CNN of examples/train_tiny.py on samples `*.img` (16x16
bytes) + `*.json` ({"label": c}) with DistributedDataParallel, each rank
reading its slice of every epoch through ValiseDataset; at the end the ranks
check together that the epoch's samples were read exactly once.

With --checkpoint FILE, rank 0 saves the model, the optimiser and the
dataset's position there (atomically) every --checkpoint-every steps and at
the end of every epoch; a run started with an existing FILE resumes from it,
mid-epoch, with no sample repeated or skipped (the dataset pads ranks to
equal counts, so every rank stands at the same position).

  MASTER_ADDR=localhost MASTER_PORT=29533 srun -n 2 \\
      /usr/bin/python3 examples/slurm/train_ddp.py --drives "d*" --identity site.id
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


def _env(name, slurm, default=None):
    """RANK and friends, else Slurm's names for them (srun sets those)."""
    value = os.environ.get(name, os.environ.get(slurm, default))
    if value is None:
        raise SystemExit(f"train_ddp.py: {name} (or {slurm}) is not set: run under srun or torchrun")
    os.environ[name] = value
    return int(value)


def _exit(code):
    """Ends the process without Python's teardown. torch 1.13 (Debian 12) can
    deadlock when the DDP model's process group is destroyed while the GIL is
    held (its gloo thread waits for the GIL to free a tensor; seen once in a few
    runs, under srun): everything is saved and flushed by now."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
    ap.add_argument("--checkpoint", help="save here, and resume from here when it exists")
    ap.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (default 50)")
    ap.add_argument("--stop-after", type=int, default=0, help=argparse.SUPPRESS)  # tests: stop after N steps
    a = ap.parse_args()
    _env("RANK", "SLURM_PROCID")
    _env("WORLD_SIZE", "SLURM_NTASKS")
    local = _env("LOCAL_RANK", "SLURM_LOCALID", "0")
    if a.backend == "nccl":
        torch.cuda.set_device(local)  # before the process group: NCCL binds to the current device
    dist.init_process_group(a.backend, init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{local}" if a.backend == "nccl" else "cpu")
    drives = sorted(glob.glob(a.drives))
    ds = ValiseDataset(drives, identity=a.identity, prefix=a.prefix, batch_size=a.batch, even="pad",
                       transform=lambda s: (*decode(s), s["__key__"]))
    # The dataset makes the batches (workers are dealt whole batches, so a saved position is exact).
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=a.workers)
    model = nn.parallel.DistributedDataParallel(TinyNet().to(device),
                                                device_ids=[local] if device.type == "cuda" else None)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    lossf = nn.CrossEntropyLoss()
    start_epoch, keys = 0, []
    if a.checkpoint and os.path.exists(a.checkpoint):
        ck = torch.load(a.checkpoint, map_location=device)
        model.module.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        ds.load_state_dict(ck["data"])  # refuses a state of another seed or set; any world size resumes
        start_epoch = ck["data"]["epoch"]
        if len(ck["keys"]) == world:
            keys = ck["keys"][rank]
        else:  # elastic resume at another world size: rank 0 carries what was read before
            keys = [k for part in ck["keys"] for k in part] if rank == 0 else []
        if start_epoch >= a.epochs:
            if rank == 0:
                print(f"{a.checkpoint} says all {a.epochs} epochs are done", flush=True)
            dist.destroy_process_group()
            _exit(0)
        if rank == 0:
            print(f"resuming from {a.checkpoint}: epoch {start_epoch}, position {ck['data']['position']}",
                  flush=True)

    def save(epoch_done, consumed):
        """Rank 0 writes the checkpoint (every rank consumed the same count)."""
        gathered = [None] * world
        dist.all_gather_object(gathered, keys)
        if rank == 0:
            data = ds.state_dict(consumed=consumed)
            if epoch_done:  # the next epoch, from its start
                data.update(epoch=data["epoch"] + 1, position=0, done=[], consumed=0)
            tmp = a.checkpoint + ".tmp"
            torch.save({"model": model.module.state_dict(), "optimizer": opt.state_dict(), "data": data,
                        "keys": [[] if epoch_done else g for g in gathered]}, tmp)
            os.replace(tmp, a.checkpoint)
        dist.barrier()

    steps = 0
    for epoch in range(start_epoch, a.epochs):
        ds.set_epoch(epoch)  # keeps a loaded position for the loaded epoch
        if epoch != start_epoch:
            keys = []
        consumed = 0
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
            consumed += len(y)
            steps += 1
            if a.checkpoint and steps % a.checkpoint_every == 0:
                save(False, consumed)
            if a.stop_after and steps == a.stop_after:
                dist.destroy_process_group()
                _exit(0)
        if a.checkpoint:
            save(True, consumed)
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
    _exit(0 if ok else 1)


if __name__ == "__main__":
    sys.exit(main())
