"""PyTorch dataset reading samples straight from a valise set (docs/python.md).

    from valise.torch import ValiseDataset
    ds = ValiseDataset(drives, identity="me.key", shuffle=True, seed=0, prefix="train/",
                       batch_size=32, transform=decode)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    for epoch in range(E):
        ds.set_epoch(epoch)
        for batch in loader: ...

With ``batch_size=B`` the dataset yields whole batches (``collate_fn`` of B sample dicts,
torch's ``default_collate`` unless given) and the DataLoader is made with
``batch_size=None``; without it each item is a dict ``{"__key__": key, ext: bytes, ...}``.
The epoch's order is
a block shuffle of (seed, epoch), split into contiguous slices between ranks
(rank and world size from ``torch.distributed`` when it is initialised, else
the RANK / WORLD_SIZE environment, else 0 / 1, read in the main process when
the dataset is made and at every set_epoch: make it after init_process_group
or call set_epoch before iterating), and each rank's slice is dealt
to DataLoader workers in runs of ``batch_size`` (whole batches), so the
DataLoader hands them out exactly in the rank's order. That makes a saved
position exact: ``state_dict(batches=k)`` after the loop took k batches, or
``state_dict(consumed=n)`` with n samples; positions are counted in samples,
so a resume may use another batch size (with ``num_workers=0`` the dataset
counts for itself and both may be left out). The state is the same on every
rank (DDP's ranks take the same number of batches) and resumes at any world
size and worker count: a run at another world size deals the samples no rank
has read yet (elastic resume, docs/loader.md). After
``load_state_dict``, ``set_epoch`` of the loaded epoch keeps the loaded
position. The epoch and position are shared with worker processes, so
``persistent_workers=True`` follows them. Ranks get equal counts by default
(``even="pad"``).

``ValiseMapDataset`` is the map-style twin for evaluation (``ds[i]`` by sample
number, any sampler: ``shuffle=True``, ``DistributedSampler``).
"""
import multiprocessing
import multiprocessing.context
import os
import warnings

import torch
import torch.utils.data

from . import Set, errors
from ._valise import consumed_positions, longest_part

__all__ = ["ValiseDataset", "ValiseMapDataset"]


# Slots of the state a dataset shares with its DataLoader workers; from _DONE on,
# _NDONE ranges [begin, end) of the epoch's order that earlier runs consumed.
_EPOCH, _START, _WORKERS_RAN, _SKIPPED, _STALE, _NDONE, _DONE = 0, 1, 2, 3, 4, 5, 6
_DONE_ROOM = 256  # ranges the shared state holds before it is made again, bigger

# The layout of state_dict(): 2 since elastic resume (a run's position, the same on
# every rank, and what earlier runs consumed); the states of older valise had none.
_STATE_VERSION = 2

# What on_error="skip" skips: a sample whose bytes cannot be read.
_UNREADABLE = (errors.DataLossError, errors.DriveIOError)


def _shared_state(room=None):
    """What the main process decides and every worker must follow: the epoch,
    the position it starts from, how many worker processes iterated, the
    samples skipped as unreadable, and the positions earlier runs of the epoch
    consumed (up to `room` ranges). Shared memory (with a lock: workers add to
    the count), so that persistent_workers=True workers (made once, then
    iterated every epoch) see each set_epoch and load_state_dict."""
    # The spawn context's lock: a fork context's semaphore is unlinked at once and
    # cannot be reopened by a spawned worker (which then crashed on its first use).
    return multiprocessing.get_context("spawn").Array("q", _DONE + 2 * (_DONE_ROOM if room is None else room))


_made = {}  # datasets made in this process, per what they open: the store key's generation


def _host_key():
    """This host as the ranks on it see it: its name and boot id (a /proc of the same kernel)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{os.uname().nodename}-{boot}"


def _open_on_rank(what, open_set):
    """One catalog per host across ranks: under torch.distributed, the first rank of this host to
    make this dataset (the n-th made in each process with these drives and options) opens the set
    and publishes ``Set.share()`` in the default store; the other ranks of the host wait for it and
    open the set with it (a share refused, or a first rank that failed, is decoded here). Without
    torch.distributed, just ``open_set(())``."""
    dist = torch.distributed
    store = None
    if dist.is_available() and dist.is_initialized():
        try:
            store = dist.distributed_c10d._get_default_store()
        except Exception:  # a torch without it: every rank decodes its own
            store = None
    if store is None:
        return open_set(())
    import hashlib
    import json
    _made[what] = _made.get(what, 0) + 1
    key = "valise-share/" + hashlib.sha256(f"{_host_key()}|{what}|{_made[what]}".encode()).hexdigest()[:32]
    if store.add(key + "/arrived", 1) == 1:  # the first rank of this host
        shares = []
        try:
            s = open_set(())
            shares = s.share()
            return s
        finally:
            store.set(key + "/share", json.dumps(shares))
    try:
        shares = json.loads(store.get(key + "/share"))  # waits for the first rank (the store's timeout)
    except Exception as e:  # never fail the open over sharing: decode here
        warnings.warn(f"valise: rank process {os.getpid()}: no catalog from this host's first rank ({e}); "
                      "decoding it here", stacklevel=4)
        shares = []
    s = open_set(shares)
    s.warn_if_share_refused(stacklevel=4)
    return s


def _rank_world():
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class ValiseDataset(torch.utils.data.IterableDataset):
    """Samples of a valise set as an ``IterableDataset`` of ``{"__key__": key, ext: bytes}`` dicts.

    Args:
      drives: the set's drive directories (missing ones are read around from parity).
      identity: path of an identity file that is a recipient of the set.
      shuffle, seed: block-shuffled order per (seed, epoch); ``shuffle=False`` keeps key order.
      prefix: only samples under this directory, matched at path boundaries ("train" takes
        train/..., not train_extra/...); a trailing "*" makes it a plain string prefix.
      samples: "grouped" (files sharing a key form a sample) or "file" (each file its own).
      even: "pad" (default: repeat samples from the start of the order so every rank gets the
        same number, as DistributedSampler, so DDP's collectives never wait on a rank with one
        batch fewer), "exact" (every sample once, ranks differ by at most one) or "drop" (drop
        the remainder, as DistributedSampler's drop_last).
      batch_size: None (default) yields one sample dict at a time; B yields whole batches of B
        samples (the last one of a rank's epoch may be shorter), each made by ``collate_fn``
        (default ``torch.utils.data.default_collate``) from B sample dicts: use it with
        ``DataLoader(ds, batch_size=None)``. Worker processes are dealt whole batches in turn,
        so batches arrive in the rank's order and a saved position is exact under any number
        of workers. With batch_size=None and several workers a position cannot be saved (the
        dataset cannot see the DataLoader's batches): ``state_dict`` refuses it.
      collate_fn: makes a batch from a list of sample dicts (batched mode only).
      rank, world_size: override what torch.distributed / the environment say.
      block_bytes, window_blocks: the shuffle's run length and mixing window (docs/loader.md).
      threads, prefetch: reader threads and samples read ahead in each process. threads=None
        (default) gives each reading process the cores the DataLoader's processes leave over:
        cores // max(1, num_workers) - 1, at most 4 (0 reads in the worker's own thread).
      cache_bytes: decoded chunks kept per process (default 64 MiB).
      transform: a function applied to each sample dict before it is yielded.
      on_error: what a sample that cannot be read (``DataLossError``: lost beyond parity,
        damaged; ``DriveIOError``) does: "raise" (default) ends the epoch with that error, which
        names the file; "skip" leaves the sample out and goes on, warning once per process
        (naming the file) and counting every one in ``ds.skipped``.
    """

    def __init__(self, drives, identity, shuffle=True, seed=0, prefix=None, samples="grouped", even="pad",
                 batch_size=None, rank=None, world_size=None, block_bytes=4 << 20, window_blocks=4, threads=None,
                 prefetch=32, signer=(), work_dir="", transform=None, cache_bytes=0, set_id="",
                 allow_untrusted=False, collate_fn=None, on_error="raise"):
        super().__init__()
        if isinstance(drives, (str, bytes, os.PathLike)):
            raise errors.InvalidArgumentError("drives must be a list of drive directories, not one path")
        if batch_size is not None and int(batch_size) < 1:
            raise errors.InvalidArgumentError(
                f"batch_size must be None (yield samples) or at least 1, not {batch_size}")
        if collate_fn is not None and batch_size is None:
            raise errors.InvalidArgumentError("collate_fn makes batches: give batch_size= too "
                                              "(and batch_size=None to the DataLoader)")
        self.drives = [os.fspath(d) for d in drives]
        self.identity = os.fspath(identity)
        self.shuffle, self.seed, self.prefix, self.samples, self.even = shuffle, int(seed), prefix, samples, even
        self.batch_size = None if batch_size is None else int(batch_size)
        self.collate_fn = collate_fn
        self._rank, self._world = rank, world_size
        self.block_bytes, self.window_blocks = int(block_bytes), int(window_blocks)
        if threads is not None and not 0 <= int(threads) <= 256:
            raise errors.InvalidArgumentError(f"threads must be 0..256, not {threads}")
        self.threads, self.prefetch = threads, int(prefetch)
        self.signer, self.work_dir, self.transform = signer, work_dir, transform
        self.set_id, self.allow_untrusted = set_id, allow_untrusted
        self.cache_bytes = int(cache_bytes)
        if on_error not in ("raise", "skip"):
            raise errors.InvalidArgumentError(f"on_error must be 'raise' or 'skip', not {on_error!r}")
        self.on_error = on_error
        if even not in ("pad", "exact", "drop"):
            raise errors.InvalidArgumentError(f"even must be 'pad', 'exact' or 'drop', not {even!r}")
        self._shared = _shared_state()
        self._loaded_epoch = None  # the epoch of a loaded state, until set_epoch moves on
        self._consumed = 0    # samples yielded in this process this epoch (num_workers=0)
        self._set = None
        self._set_pid = None
        self._shares = []     # what workers open instead of decoding (Set.share of the main process)
        self._rank_world = None
        self.rank_world()
        self._open()          # fail early, in the caller's process, with the real message
        if self.prefix and self._set.num_samples == 0:
            raise errors.InvalidArgumentError(
                f"no sample of the set has a path starting with prefix {self.prefix!r} "
                "(valise ls lists the set's paths)")

    # The epoch and start position live in memory shared with the workers.
    @property
    def epoch(self):
        return int(self._shared[_EPOCH])

    @epoch.setter
    def epoch(self, value):
        self._shared[_EPOCH] = int(value)

    @property
    def _start(self):
        return int(self._shared[_START])

    @_start.setter
    def _start(self, value):
        self._shared[_START] = int(value)

    @property
    def _done(self):
        """Positions of the current epoch's order that earlier runs consumed: [(begin, end)]."""
        flat = self._shared[_DONE:_DONE + 2 * int(self._shared[_NDONE])]
        return list(zip(flat[0::2], flat[1::2]))

    @_done.setter
    def _done(self, ranges):
        flat = [int(x) for r in ranges for x in r]
        if _DONE + len(flat) > len(self._shared):
            # More ranges than the shared state holds: a bigger one. Worker processes that
            # hold the old one (persistent_workers=True) find it marked stale and say so.
            bigger = _shared_state(max(len(flat), 2 * (len(self._shared) - _DONE)) // 2 + 1)
            bigger[:_DONE] = self._shared[:_DONE]
            self._shared[_STALE] = 1
            self._shared = bigger
        self._shared[_NDONE] = len(flat) // 2
        self._shared[_DONE:_DONE + len(flat)] = flat

    # A Set is opened once per process (DataLoader workers are forked or
    # spawned, and do not use the parent's SQLite connection), but the catalog
    # is decrypted and the sample index built once per process tree: the
    # process that made the dataset shares both (Set.share: nameless files,
    # opened read-only through /proc and checked by their tag), and workers
    # open the set with them. A share that fails is decoded again, with a warning.
    def _open(self):
        if self._set is None or self._set_pid != os.getpid():
            in_worker = torch.utils.data.get_worker_info() is not None
            def open_set(shared):
                return Set(self.drives, identity=self.identity, signer=self.signer, set_id=self.set_id,
                           allow_untrusted=self.allow_untrusted, prefix=self.prefix,
                           samples=self.samples, work_dir=self.work_dir, cache_bytes=self.cache_bytes,
                           shared=shared)
            with warnings.catch_warnings():
                if in_worker:
                    warnings.simplefilter("ignore")  # the main process said them when it opened the set
                    self._set = open_set(self._shares)
            if not in_worker:  # ranks of one host share too
                what = repr((self.drives, self.identity, self.prefix, self.samples, self.set_id))
                self._set = _open_on_rank(what, open_set)
            if in_worker:
                self._set.warn_if_share_refused(stacklevel=4)
            else:
                self._shares = self._set.share()
            self._set_pid = os.getpid()
        return self._set

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_set"] = None  # reopened in the worker
        state["_set_pid"] = None
        if multiprocessing.context.get_spawning_popen() is None:
            # An ordinary pickle or deepcopy (not a worker being started):
            # shared memory cannot travel, so the copy gets its own.
            state["_shared"] = list(self._shared)
        return state

    def __setstate__(self, state):
        shared = state["_shared"]
        if isinstance(shared, list):
            state["_shared"] = _shared_state((len(shared) - _DONE) // 2)
            state["_shared"][:] = shared
        self.__dict__.update(state)

    def rank_world(self):
        """(rank, world_size) this dataset splits by.

        DataLoader worker processes do not see torch.distributed's state, so
        the main process's answer is kept (it is read again by every call made
        in the main process: the constructor, set_epoch, len, state_dict)."""
        if torch.utils.data.get_worker_info() is not None and self._rank_world is not None:
            return self._rank_world
        r, w = _rank_world()
        rank = r if self._rank is None else self._rank
        world = w if self._world is None else self._world
        if world < 1 or not 0 <= rank < world:
            raise errors.InvalidArgumentError(f"rank {rank} is not in 0..{world - 1}")
        self._rank_world = (rank, world)
        return self._rank_world

    @property
    def num_samples(self):
        """Samples in the whole set (all ranks)."""
        return self._open().num_samples

    def rank_order(self, epoch=None):
        """This rank's sample indices for the epoch, in the order they are consumed (for the
        current epoch, of what earlier runs at other world sizes left: elastic resume)."""
        rank, world = self.rank_world()
        epoch = self.epoch if epoch is None else int(epoch)
        return self._open().epoch_order(epoch, seed=self.seed, shuffle=self.shuffle, block_bytes=self.block_bytes,
                                        window_blocks=self.window_blocks, rank=rank, world_size=world,
                                        even=self.even, done=self._done if epoch == self.epoch else [])

    @property
    def samples_left(self):
        """Samples this rank yields for the rest of the current epoch."""
        return max(0, len(self.rank_order()) - self._start)

    def __len__(self):
        """Items this rank yields for the rest of the current epoch: samples, or batches
        (``ceil(samples_left / batch_size)``) in batched mode."""
        left = self.samples_left
        return left if self.batch_size is None else -(-left // self.batch_size)

    def __iter__(self):
        s = self._open()
        rank, world = self.rank_world()
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        if self._shared[_STALE]:
            raise errors.InvalidArgumentError(
                "this DataLoader's persistent worker processes hold the dataset's state from before "
                "load_state_dict gave it more consumed ranges than that state holds: make the "
                "DataLoader again after load_state_dict")
        loader = s.loader(epoch=self.epoch, position=self._start, done=self._done, seed=self.seed, shuffle=self.shuffle,
                          block_bytes=self.block_bytes, window_blocks=self.window_blocks, rank=rank,
                          world_size=world, even=self.even, worker=worker, num_workers=workers,
                          worker_batch=self.batch_size or 1, threads=self._threads(workers, info is not None),
                          prefetch=self.prefetch, skip_errors=self.on_error == "skip")
        if info is None:
            self._consumed = 0  # each iteration starts again from the saved position
        else:
            self._shared[_WORKERS_RAN] = workers
        if self.batch_size is None:
            for sample in self._positions(loader):
                if info is None:
                    self._consumed += 1
                if sample is not None:
                    yield sample
            return
        # A batch is a run of batch_size positions dealt to this worker (a skipped
        # sample leaves it shorter), so batches stay aligned with the rank's order.
        collate = self.collate_fn or torch.utils.data.default_collate
        batch, taken = [], 0
        for sample in self._positions(loader):
            taken += 1
            if sample is not None:
                batch.append(sample)
            if taken == self.batch_size:
                if info is None:
                    self._consumed += taken
                yield collate(batch) if batch else []
                batch, taken = [], 0
        if taken:
            if info is None:
                self._consumed += taken
            yield collate(batch) if batch else []

    def _positions(self, loader):
        """One item per position of this process's part: the (transformed) sample, or None
        for an unreadable one skipped under on_error="skip"."""
        warned = False
        it = iter(loader)
        while True:
            try:
                sample = next(it)
            except StopIteration:
                return
            except _UNREADABLE as e:
                if self.on_error != "skip":
                    raise
                with self._shared.get_lock():
                    self._shared[_SKIPPED] += 1
                if not warned:
                    warnings.warn(f"valise: skipping a sample that cannot be read (on_error='skip'; "
                                  f"ds.skipped counts them): {e}", stacklevel=3)
                    warned = True
                yield None
                continue
            yield self.transform(sample) if self.transform else sample

    @property
    def skipped(self):
        """Samples left out as unreadable under on_error="skip", by every process of this
        dataset (its DataLoader workers too), since it was made."""
        return int(self._shared[_SKIPPED])

    def _threads(self, workers, in_worker):
        """Reader threads for this process (see the class docstring)."""
        if self.threads is not None:
            return int(self.threads)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(0, min(4, cores // (workers if in_worker else 1) - 1))

    def set_epoch(self, epoch):
        """Starts epoch ``epoch`` from its beginning (call before iterating, on every rank).

        After ``load_state_dict``, ``set_epoch`` of the loaded epoch keeps the loaded position,
        so the usual ``for epoch in range(state["epoch"], E): ds.set_epoch(epoch)`` loop resumes
        where the state was taken; any other epoch starts from its beginning."""
        epoch = int(epoch)
        if epoch != self._loaded_epoch:
            self._start = 0
            self._done = []
        self._loaded_epoch = None
        self.epoch = epoch
        self._consumed = 0
        self.rank_world()

    def state_dict(self, consumed=None, batches=None):
        """Where the job stands in its epoch: pass ``batches``, the batches the loop took from
        the DataLoader this epoch (batched mode), or ``consumed``, the samples (with
        num_workers=0 both may be left out: the dataset counts for itself).

        The state says every rank took as many (DDP's ranks step together), so it is the same
        on every rank: save any rank's. It resumes at any world size and worker count
        (``load_state_dict``); ``state["consumed"]`` counts the epoch's samples read by all
        ranks together."""
        if batches is not None:
            if self.batch_size is None:
                raise errors.InvalidArgumentError(
                    "state_dict(batches=) needs a batched dataset (ValiseDataset(batch_size=B)); "
                    "give consumed=, the samples taken")
            if consumed is not None:
                raise errors.InvalidArgumentError("give consumed= or batches=, not both")
            if int(batches) < 0:
                raise errors.InvalidArgumentError(f"batches must be >= 0, not {batches}")
        workers_ran = int(self._shared[_WORKERS_RAN])
        if workers_ran > 1 and self.batch_size is None:
            raise errors.InvalidArgumentError(
                f"{workers_ran} DataLoader worker processes read this dataset one sample at a time, "
                "so the samples the loop took are not a prefix of the rank's order and no position "
                "can be saved: make the dataset batch (ValiseDataset(..., batch_size=B)) and give the "
                "DataLoader batch_size=None")
        if consumed is None and batches is None and workers_ran:
            raise errors.InvalidArgumentError(
                "DataLoader worker processes read this dataset, so it cannot count what the loop "
                "consumed: call state_dict(batches=k) with k the batches taken from the "
                "DataLoader this epoch (or consumed=n, the samples)")
        rank, world = self.rank_world()
        done, n = self._done, self.num_samples
        if batches is not None:
            # Every rank took k batches, each whole but the last of a part: a rank whose part
            # is shorter took all of it, so the position is capped by the longest part only.
            position = min(self._start + int(batches) * self.batch_size,
                           max(self._start, longest_part(n, world_size=world, done=done, even=self.even)))
        else:
            taken = self._consumed if consumed is None else int(consumed)
            if taken < 0:
                raise errors.InvalidArgumentError(f"consumed must be >= 0, not {taken}")
            position = self._start + taken
        read = consumed_positions(n, world_size=world, position=position, done=done, even=self.even)
        return {"state_version": _STATE_VERSION, "epoch": self.epoch,
                "consumed": sum(e - b for b, e in read),  # by all ranks together
                "world_size": world, "position": position, "done": [[b, e] for b, e in done],
                "seed": self.seed, "shuffle": self.shuffle, "even": self.even,
                "batch_size": self.batch_size, "block_bytes": self.block_bytes,
                "window_blocks": self.window_blocks, "prefix": self.prefix, "samples": self.samples,
                "num_samples": n}

    def load_state_dict(self, state):
        """Resumes mid-epoch: the next iteration yields exactly the rest of the saved epoch.

        At the world size the state was saved at, each rank goes on with the rest of its part.
        At another world size (elastic resume), what no rank has read yet is dealt again to
        this run's ranks: across the runs every sample of the epoch is read once (under
        ``even="pad"`` the only repeats are each run's padding; docs/loader.md)."""
        version = state.get("state_version")
        if version != _STATE_VERSION:
            if version is None:
                raise errors.InvalidArgumentError(
                    "the saved state has no state_version: an older valise saved it, whose position "
                    "counted one rank's samples, and this valise (state_version "
                    f"{_STATE_VERSION}) cannot tell what the other ranks read; resume it with the "
                    f"valise that saved it, or start epoch {state.get('epoch', '?')} again")
            raise errors.InvalidArgumentError(
                f"the saved state has state_version {version!r} but this valise reads state_version "
                f"{_STATE_VERSION}: resume it with the valise that saved it")
        for k in ("epoch", "position", "world_size", "done"):
            if k not in state:
                raise errors.InvalidArgumentError(f"the saved state has no {k!r}: it cannot be resumed")
        for k, mine in (("seed", self.seed), ("shuffle", self.shuffle), ("even", self.even),
                        ("block_bytes", self.block_bytes), ("window_blocks", self.window_blocks),
                        ("prefix", self.prefix), ("samples", self.samples),
                        ("num_samples", self.num_samples)):
            if k in state and state[k] != mine:
                raise errors.InvalidArgumentError(
                    f"the saved state has {k}={state[k]!r} but this dataset has {k}={mine!r}: "
                    "the rest of that epoch cannot be reproduced")
        rank, world = self.rank_world()
        saved_world, position = int(state["world_size"]), int(state["position"])
        try:
            done = [(int(b), int(e)) for b, e in state["done"]]
        except (TypeError, ValueError):
            raise errors.InvalidArgumentError(
                f"the saved state's done must be [begin, end] ranges, not {state['done']!r}") from None
        if saved_world < 1 or position < 0:
            raise errors.InvalidArgumentError(
                f"the saved state has world_size {saved_world} and position {position}: it cannot be resumed")
        try:  # checks done and position against the epoch
            read = consumed_positions(self.num_samples, world_size=saved_world, position=position, done=done,
                                      even=self.even)
        except errors.InvalidArgumentError as e:
            raise errors.InvalidArgumentError(f"the saved state cannot be resumed: {e}") from None
        if "consumed" in state and int(state["consumed"]) != sum(e - b for b, e in read):
            raise errors.InvalidArgumentError(
                f"the saved state says consumed={state['consumed']} but its position and done ranges "
                f"make {sum(e - b for b, e in read)}: it cannot be resumed")
        self.epoch = int(state["epoch"])
        if saved_world == world:  # each rank goes on with its part
            self._done, self._start = done, position
        else:  # elastic: this run deals what no rank has read yet
            self._done, self._start = read, 0
        self._loaded_epoch = self.epoch
        self._shared[_WORKERS_RAN] = 0
        self._consumed = 0


class ValiseMapDataset(torch.utils.data.Dataset):
    """Samples of a valise set as a map-style ``Dataset``: ``ds[i]`` is sample ``i`` in key order.

    For evaluation and anything that wants its own sampler: ``DataLoader(ds, shuffle=True)``,
    ``DistributedSampler(ds)``. Random reads cost a chunk each where ``ValiseDataset``'s block
    order reads runs, so training on big sets should prefer ``ValiseDataset``.

    Args are ``Set``'s (drives, identity, prefix, samples, signer, set_id, allow_untrusted,
    work_dir, cache_bytes) and ``transform`` (applied to each sample dict). Each process
    (the main one, every DataLoader worker, forked or spawned) opens the set for itself on first
    use; pickling sends what opens it (as ``Set`` pickles), never key material.
    ``len(ds)``, ``ds.key(i)``, ``ds.index(key)``.
    """

    def __init__(self, drives, identity, prefix=None, samples="grouped", signer=(), set_id="",
                 allow_untrusted=False, work_dir="", cache_bytes=0, transform=None):
        super().__init__()
        if isinstance(drives, (str, bytes, os.PathLike)):
            raise errors.InvalidArgumentError("drives must be a list of drive directories, not one path")
        self._kw = dict(drives=[os.fspath(d) for d in drives], identity=os.fspath(identity), prefix=prefix,
                        samples=samples, signer=signer, set_id=set_id, allow_untrusted=allow_untrusted,
                        work_dir=work_dir, cache_bytes=int(cache_bytes))
        self.transform = transform
        self._set = None
        self._set_pid = None
        self._shares = []
        s = self._open()  # fail early, in the caller's process, with the real message
        if prefix and len(s) == 0:
            raise errors.InvalidArgumentError(
                f"no sample of the set has a path starting with prefix {prefix!r} "
                "(valise ls lists the set's paths)")
        self._len = len(s)

    def _open(self):
        if self._set is None or self._set_pid != os.getpid():
            in_worker = torch.utils.data.get_worker_info() is not None
            if in_worker:
                self._set = Set(**self._kw, shared=self._shares)
            else:  # ranks of one host share (as ValiseDataset), and workers open these instead of decoding
                self._set = _open_on_rank(repr(sorted(self._kw.items())), lambda shared: Set(**self._kw, shared=shared))
                self._shares = self._set.share()
            self._set_pid = os.getpid()
        return self._set

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_set"] = None  # reopened in the worker
        state["_set_pid"] = None
        return state

    def __len__(self):
        return self._len

    def __getitem__(self, i):
        sample = self._open()[i]
        return self.transform(sample) if self.transform else sample

    def key(self, i):
        return self._open().key(i)

    def index(self, key):
        return self._open().index(key)
