"""valise's Python package and PyTorch dataset on a real set (real files, real
DataLoader worker processes). Run: PYTHONPATH=build/python VALISE_BIN=build/valise
/usr/bin/python3 -m unittest tests/python/test_valise.py"""
import collections
import hashlib
import io
import json
import os
import pickle
import random
import shutil
import subprocess
import tempfile
import threading
import unittest

import torch
import torch.utils.data

import valise
import valise.torch
from valise.torch import ValiseDataset

N = 97        # samples under train/ (prime: no world size divides it)
DRIVES = 6    # 4 data + 2 parity


def keys_of(batch):
    """collate_fn: a batch of sample dicts -> their keys (module level: picklable)."""
    return [s["__key__"] for s in batch]


def keys_and_hashes(batch):
    """collate_fn: samples -> [(key, sha256 of every field)] (module level: picklable under spawn)."""
    return [(s["__key__"], {ext: sha(v) for ext, v in s.items() if ext != "__key__"}) for s in batch]


def sha(data):
    return hashlib.sha256(data).hexdigest()


def first_keys(loader, limit):
    out = []
    for batch in loader:
        out.extend(batch)
        if len(out) >= limit:
            break
    return out


class ValiseSetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="valise-pytest-")
        cls.src = os.path.join(cls.tmp, "src")
        rng = random.Random(11)
        cls.expect = {}
        for i in range(N):
            key = f"train/{i:05d}"
            img = rng.randbytes(rng.randint(100, 90_000))
            label = json.dumps({"label": i % 7}).encode()
            os.makedirs(os.path.join(cls.src, "train"), exist_ok=True)
            for ext, data in (("img", img), ("json", label)):
                with open(os.path.join(cls.src, f"{key}.{ext}"), "wb") as f:
                    f.write(data)
            cls.expect[key] = {"img": img, "json": label}
        os.makedirs(os.path.join(cls.src, "val"))
        with open(os.path.join(cls.src, "val", "x.img"), "wb") as f:
            f.write(b"validation, not train")
        cls.identity = os.path.join(cls.tmp, "me.key")
        cls.recipient = valise.keygen(cls.identity)
        cls.drives = [os.path.join(cls.tmp, f"d{i}") for i in range(1, DRIVES + 1)]
        stats = valise.pack(cls.src, cls.drives, identity=cls.identity, parity=2,
                            work_dir=os.path.join(cls.tmp, "state"))
        assert stats["files"] == 2 * N + 1, stats

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def dataset(self, **kw):
        kw.setdefault("prefix", "train/")
        if kw.get("batch_size"):
            kw.setdefault("collate_fn", keys_of)  # batched mode: the dataset collates
        return ValiseDataset(self.drives, identity=self.identity, **kw)

    def loader(self, ds, workers, batch=None):
        """The documented DataLoader for ``ds``: batch_size=None when the dataset batches."""
        if ds.batch_size:
            return torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
        return torch.utils.data.DataLoader(ds, batch_size=batch or 1, num_workers=workers, collate_fn=keys_of)

    # ---- the Set ------------------------------------------------------------

    def test_set_reads_every_sample_bit_exact(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        self.assertEqual(s.num_samples, N)
        self.assertEqual(len(s), N)
        self.assertEqual(s.key(0), "train/00000")
        self.assertEqual(s.fields(0), ["img", "json"])
        for i in range(N):
            d = s.sample(i)
            key = d.pop("__key__")
            self.assertEqual(d, self.expect[key], key)
        with self.assertRaises(IndexError):
            s.sample(N)
        everything = valise.Set(self.drives, identity=self.identity)
        self.assertEqual(everything.num_samples, N + 1)
        files = valise.Set(self.drives, identity=self.identity, samples="file")
        self.assertEqual(files.num_samples, 2 * N + 1)
        self.assertEqual(files.key(0), "train/00000.img")

    def test_reads_in_threads_release_the_gil(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        errors = []

        def read(part):
            try:
                for i in range(part, N, 4):
                    d = s.sample(i)
                    if d["img"] != self.expect[d["__key__"]]["img"]:
                        errors.append(d["__key__"])
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
        threads = [threading.Thread(target=read, args=(p,)) for p in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])

    # ---- random access, pickling, the map-style dataset ------------------------

    def test_getitem_and_index_give_samples_by_number_and_key(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        for i, key in enumerate(sorted(self.expect)):
            self.assertEqual(s.index(key), i)
            d = s[i]
            self.assertEqual(d.pop("__key__"), key)
            self.assertEqual(d, self.expect[key], key)
        self.assertEqual(s[-1]["__key__"], sorted(self.expect)[-1])
        self.assertEqual(s[-N]["__key__"], sorted(self.expect)[0])
        for bad in (N, -N - 1):
            with self.assertRaises(IndexError):
                s[bad]
        with self.assertRaises(TypeError):
            s["train/00003"]
        for missing in ("train/0000", "train/00003.img", "train/99999", ""):
            with self.assertRaises(valise.errors.NotFoundError) as caught:
                s.index(missing)
            self.assertIn(repr(missing), str(caught.exception))

    def test_a_set_pickles_as_what_reopens_it_and_never_the_key(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/", cache_bytes=1 << 20)
        blob = pickle.dumps(s)
        self.assertIn(self.identity.encode(), blob, "the identity's path is pickled")
        with open(self.identity, "rb") as f:
            secret_lines = [line.strip() for line in f if line.strip() and not line.startswith(b"#")]
        self.assertTrue(secret_lines)
        for line in secret_lines:
            self.assertNotIn(line, blob, "key material in the pickle")
            for part in line.split():
                if len(part) >= 16:
                    self.assertNotIn(part, blob, "key material in the pickle")
        twin = pickle.loads(blob)
        self.assertIsInstance(twin, valise.Set)
        self.assertEqual((twin.set_id, len(twin)), (s.set_id, N))
        self.assertEqual(twin[5], s[5])
        # A DataLoader over the Set itself, workers started by spawn: each
        # worker unpickles the Set and opens it again. Every sample once.
        dl = torch.utils.data.DataLoader(s, batch_size=5, num_workers=2, multiprocessing_context="spawn",
                                         collate_fn=keys_and_hashes)
        got = collections.Counter(key for b in dl for key, _ in b)
        self.assertEqual(got, collections.Counter(list(self.expect)))
        seen = dict(item for b in torch.utils.data.DataLoader(
            s, batch_size=7, num_workers=2, multiprocessing_context="spawn", shuffle=True,
            collate_fn=keys_and_hashes) for item in b)
        self.assertEqual(seen, {k: {e: sha(v) for e, v in f.items()} for k, f in self.expect.items()})

    def test_map_dataset_under_a_shuffling_dataloader_covers_each_index_once(self):
        ds = valise.torch.ValiseMapDataset(self.drives, identity=self.identity, prefix="train/")
        self.assertEqual(len(ds), N)
        self.assertEqual(ds.index(ds.key(7)), 7)
        want = {k: {e: sha(v) for e, v in f.items()} for k, f in self.expect.items()}
        orders = []
        for ctx in ("fork", "spawn"):
            dl = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2,
                                             multiprocessing_context=ctx, collate_fn=keys_and_hashes)
            items = [item for b in dl for item in b]
            self.assertEqual(collections.Counter(k for k, _ in items), collections.Counter(list(self.expect)), ctx)
            self.assertEqual(dict(items), want, ctx)
            orders.append([k for k, _ in items])
        self.assertNotEqual(orders[0], sorted(self.expect), "shuffle=True shuffled")
        # DistributedSampler over 3 ranks: equal counts, together every sample.
        union = collections.Counter()
        for rank in range(3):
            sampler = torch.utils.data.distributed.DistributedSampler(ds, num_replicas=3, rank=rank, seed=4)
            sampler.set_epoch(1)
            dl = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler, num_workers=2,
                                             collate_fn=keys_and_hashes)
            mine = [k for b in dl for k, _ in b]
            self.assertEqual(len(mine), -(-N // 3))
            self.assertEqual(mine, [ds.key(i) for i in sampler])
            union.update(mine)
        self.assertEqual(set(union), set(self.expect))
        self.assertEqual(sum(union.values()), 3 * -(-N // 3))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.torch.ValiseMapDataset(self.drives, identity=self.identity, prefix="trian/")

    # ---- orders, ranks and workers -------------------------------------------

    def test_every_world_size_and_worker_count_covers_the_epoch_once(self):
        for world in (1, 2, 3, 4):
            for workers in (0, 1, 2):
                got = []
                sizes = []
                for rank in range(world):
                    ds = self.dataset(seed=3, rank=rank, world_size=world, batch_size=4, even="exact")
                    mine = [k for b in self.loader(ds, workers, 4) for k in b]
                    # The DataLoader consumes the rank's slice exactly in order.
                    self.assertEqual(mine, [ds._open().key(i) for i in ds.rank_order()],
                                     f"world {world} rank {rank} workers {workers}")
                    self.assertEqual(len(mine), ds.samples_left)
                    sizes.append(len(mine))
                    got.extend(mine)
                self.assertEqual(len(got), N, f"world {world} workers {workers}")
                self.assertEqual(set(got), set(self.expect), f"world {world} workers {workers}")
                self.assertLessEqual(max(sizes) - min(sizes), 1)

    def test_the_order_of_sizes_is_the_sets_own_order(self):
        # bench/shuffle_mix.py measures mixing with epoch_order_of_sizes: the same code as the set's.
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        sizes = [s.sample_bytes(i) for i in range(len(s))]
        for epoch, seed, bb, wb in ((0, 0, 4 << 20, 4), (3, 7, 200_000, 2), (1, 2, 1, 5)):
            self.assertEqual(valise.epoch_order_of_sizes(sizes, epoch=epoch, seed=seed, block_bytes=bb,
                                                         window_blocks=wb),
                             s.epoch_order(epoch, seed=seed, block_bytes=bb, window_blocks=wb))

    def test_pad_and_drop_give_equal_counts(self):
        for even, each in (("pad", -(-N // 3)), ("drop", N // 3)):
            counts = [len(self.dataset(rank=r, world_size=3, even=even)) for r in range(3)]
            self.assertEqual(counts, [each] * 3, even)

    def test_order_changes_with_epoch_and_repeats_for_the_same_seed(self):
        ds = self.dataset(seed=7, block_bytes=200_000, window_blocks=2, batch_size=5)
        e0 = [k for b in self.loader(ds, 2, 5) for k in b]
        again = [k for b in self.loader(ds, 0, 5) for k in b]
        ds.set_epoch(1)
        e1 = [k for b in self.loader(ds, 2, 5) for k in b]
        self.assertEqual(e0, again)
        self.assertNotEqual(e0, e1)
        self.assertEqual(sorted(e0), sorted(e1))
        other_seed = [k for b in self.loader(self.dataset(seed=8, batch_size=5), 0, 5) for k in b]
        self.assertNotEqual(e0, other_seed)
        plain = [k for b in self.loader(self.dataset(shuffle=False, batch_size=5), 2, 5) for k in b]
        self.assertEqual(plain, sorted(self.expect))

    def test_resume_mid_epoch_yields_exactly_the_rest(self):
        for workers in (0, 2):
            ds = self.dataset(seed=1, rank=1, world_size=2, batch_size=4)
            ds.set_epoch(3)
            whole = [k for b in self.loader(ds, workers, 4) for k in b]
            taken = first_keys(self.loader(ds, workers, 4), 20)
            self.assertEqual(taken, whole[:20])
            state = ds.state_dict(consumed=len(taken)) if workers else None
            if not workers:
                # In-process iteration counts for itself (the loop took 20 and
                # the DataLoader may have fetched no further with workers=0).
                state = ds.state_dict()
                self.assertEqual(state["position"], 20)
            self.assertEqual((state["epoch"], state["position"]), (3, 20))
            fresh = self.dataset(seed=1, rank=1, world_size=2, batch_size=4)
            fresh.load_state_dict(state)
            self.assertEqual(fresh.samples_left, len(whole) - 20)
            rest = [k for b in self.loader(fresh, workers, 4) for k in b]
            self.assertEqual(rest, whole[20:], f"workers {workers}")
            fresh.set_epoch(4)
            self.assertEqual(fresh.samples_left, len(whole))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.dataset(seed=2, rank=1, world_size=2).load_state_dict(state)

    def test_default_gives_every_rank_the_same_count(self):
        # DDP-safe by default: 97 samples on 3 ranks with batch 4 would give
        # 33/32/32 samples (9/8/8 batches) exactly; padded, every rank has 33.
        for world in (2, 3, 4):
            counts = []
            got = set()
            for rank in range(world):
                ds = self.dataset(seed=4, rank=rank, world_size=world, batch_size=4)
                mine = [k for b in self.loader(ds, 2, 4) for k in b]
                counts.append(len(mine))
                got.update(mine)
            self.assertEqual(counts, [-(-N // world)] * world, f"world {world}")
            self.assertEqual(got, set(self.expect), f"world {world}: every sample is still read")

    def test_persistent_workers_follow_set_epoch_and_load_state_dict(self):
        ds = self.dataset(seed=6, rank=0, world_size=2, batch_size=4)
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
        key = ds._open().key
        e0 = [k for b in dl for k in b]
        self.assertEqual(e0, [key(i) for i in ds.rank_order(0)])
        ds.set_epoch(1)
        e1 = [k for b in dl for k in b]
        self.assertEqual(e1, [key(i) for i in ds.rank_order(1)])
        self.assertNotEqual(e0, e1)
        ds.load_state_dict({"state_version": 2, "epoch": 2, "position": 12, "seed": 6, "world_size": 2, "done": []})
        rest = [k for b in dl for k in b]
        self.assertEqual(rest, [key(i) for i in ds.rank_order(2)][12:])
        self.assertEqual(len(rest), ds.samples_left)

    def test_the_documented_epoch_loop_resumes_where_the_state_was_taken(self):
        ds = self.dataset(seed=9, batch_size=4)
        ds.set_epoch(3)
        taken = first_keys(self.loader(ds, 2, 4), 24)
        state = ds.state_dict(consumed=len(taken))
        fresh = self.dataset(seed=9, batch_size=4)
        fresh.load_state_dict(state)
        epochs = {}
        for epoch in range(state["epoch"], 5):  # as docs/python.md shows
            fresh.set_epoch(epoch)
            epochs[epoch] = [k for b in self.loader(fresh, 2, 4) for k in b]
        key = fresh._open().key
        self.assertEqual(taken + epochs[3], [key(i) for i in fresh.rank_order(3)])
        self.assertEqual(epochs[4], [key(i) for i in fresh.rank_order(4)])

    # ---- batched mode: the dataset makes the batches ----------------------------

    def test_batched_mode_yields_the_rank_order_in_whole_batches(self):
        for workers in (0, 2):
            for rank, world in ((0, 1), (1, 3)):
                ds = self.dataset(seed=3, rank=rank, world_size=world, batch_size=5)
                order = [ds._open().key(i) for i in ds.rank_order()]
                batches = list(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers))
                want = [order[i:i + 5] for i in range(0, len(order), 5)]
                self.assertEqual(batches, want, f"workers {workers} rank {rank}/{world}")
                self.assertEqual(len(ds), len(want), "len() counts batches")
                self.assertEqual(ds.samples_left, len(order))
        # Without collate_fn the DataLoader's default collation is used: a dict of lists.
        ds = ValiseDataset(self.drives, identity=self.identity, prefix="train/", seed=3, batch_size=4)
        first = next(iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)))
        self.assertEqual(sorted(first), ["__key__", "img", "json"])
        self.assertEqual(len(first["__key__"]), 4)
        self.assertEqual(first["img"][0], self.expect[first["__key__"][0]]["img"])

    def test_batched_resume_counts_samples_and_survives_another_batch_size(self):
        ds = self.dataset(seed=5, batch_size=6)
        ds.set_epoch(2)
        order = [ds._open().key(i) for i in ds.rank_order()]
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
        taken = []
        for k, batch in enumerate(dl, 1):
            taken.extend(batch)
            if k == 4:
                break
        self.assertEqual(taken, order[:24])
        state = ds.state_dict(batches=4)
        self.assertEqual(state["position"], 24, "positions are samples, not batches")
        self.assertEqual(ds.state_dict(consumed=24), state)
        for batch_size, workers in ((6, 2), (8, 2), (7, 0)):
            fresh = self.dataset(seed=5, batch_size=batch_size)
            fresh.load_state_dict(state)
            rest = [k for b in self.loader(fresh, workers) for k in b]
            self.assertEqual(rest, order[24:], f"batch_size {batch_size} workers {workers}")
        # In-process (num_workers=0) the dataset counts for itself, in samples.
        solo = self.dataset(seed=5, batch_size=6)
        solo.set_epoch(2)
        it = iter(self.loader(solo, 0))
        next(it), next(it), next(it)
        self.assertEqual(solo.state_dict()["position"], 18)
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.dataset(seed=5).state_dict(batches=1)  # not batched: say consumed=

    def test_sample_mode_under_several_workers_refuses_a_position(self):
        # DataLoader(batch_size=16) over a dataset that yields samples: its workers
        # cannot know the batch, so a consumed count is no position; refused, not
        # resumed with samples repeated and missing.
        ds = self.dataset(seed=2)
        first_keys(torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2, collate_fn=keys_of), 32)
        with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
            ds.state_dict(consumed=32)
        self.assertIn("batch_size", str(caught.exception))

    def test_a_state_under_workers_needs_the_consumed_count(self):
        ds = self.dataset(seed=2, batch_size=4)
        first_keys(self.loader(ds, 2, 4), 8)
        with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
            ds.state_dict()
        self.assertIn("consumed=", str(caught.exception))
        self.assertEqual(ds.state_dict(consumed=8)["position"], 8)

    def test_every_order_knob_is_checked_on_load(self):
        state = self.dataset(seed=2, batch_size=4).state_dict(consumed=8)
        for knob, other in (("block_bytes", 1 << 20), ("window_blocks", 8),
                            ("seed", 3), ("even", "exact"), ("shuffle", False)):
            with self.assertRaises(valise.errors.InvalidArgumentError, msg=knob) as caught:
                self.dataset(**{"seed": 2, "batch_size": 4, knob: other}).load_state_dict(state)
            self.assertIn(knob, str(caught.exception))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.dataset(seed=2, batch_size=4).load_state_dict(dict(state, position=10_000))
        self.dataset(seed=2, batch_size=4).load_state_dict(state)

    # ---- elastic resume: another world size or worker count ----------------------

    def elastic_run(self, state, world, workers, even, batches=None, seed=12):
        """Every rank of a run at `world` ranks (rank= overrides), each through a DataLoader of
        `workers` worker processes, of epoch 2 from `state` (None: its start): the keys all ranks
        took, rank 0's part (the keys it is dealt), and the state after `batches` batches of 4
        (None: to the end of the epoch), the same on every rank."""
        keys, states, part0 = [], [], None
        for rank in range(world):
            ds = self.dataset(seed=seed, rank=rank, world_size=world, batch_size=4, even=even,
                              block_bytes=200_000, window_blocks=2)
            ds.set_epoch(2)
            if state is not None:
                ds.load_state_dict(state)
            if rank == 0:
                part0 = [ds._open().key(i) for i in ds.rank_order()]
            taken = []
            for k, batch in enumerate(self.loader(ds, workers), 1):
                taken.extend(batch)
                if k == batches:
                    break
            keys.extend(taken)
            states.append(ds.state_dict(batches=batches) if batches else None)
        for s in states[1:]:
            self.assertEqual(s, states[0], "every rank's state is the same")
        return keys, part0, states[0]

    def test_elastic_resume_at_another_world_size_or_worker_count_yields_each_sample_once(self):
        everything = collections.Counter(list(self.expect))
        for even in ("exact", "pad"):
            # 2 ranks x 2 workers take 5 batches of 4 each: 40 samples of 97.
            first, _, state = self.elastic_run(None, 2, 2, even, batches=5)
            self.assertEqual(state["consumed"], 40, "the state counts every rank's samples")
            for world, workers in ((3, 1), (1, 3), (4, 2)):
                msg = f"{even}: 2x2 then {world}x{workers}"
                rest, part0, _ = self.elastic_run(state, world, workers, even)
                got = collections.Counter(first + rest)
                if even == "exact":
                    self.assertEqual(got, everything, msg)  # no repeat, no skip
                else:
                    # pad: every sample, and repeated only the new run's padding: the first
                    # samples of what it deals (rank 0's first), up to ceil(57/world) each.
                    pad = -(-(N - 40) // world) * world - (N - 40)
                    self.assertEqual(got - everything, collections.Counter(part0[:pad]), msg)
                    self.assertEqual(set(got), set(everything), msg)
            # A second elastic resume in the same epoch: 2x2, then 3x1 for 3 batches, then 1x3.
            mid, _, state2 = self.elastic_run(state, 3, 1, even, batches=3)
            self.assertEqual(state2["consumed"], 40 + 36)
            rest, part0, _ = self.elastic_run(state2, 1, 3, even)
            got = collections.Counter(first + mid + rest)
            self.assertEqual(got, everything, f"{even}: 2x2, 3x1, 1x3")
            if even == "exact":  # the resumed run's state at its own world size: each rank goes on
                rest, _, _ = self.elastic_run(state2, 3, 2, even)
                self.assertEqual(collections.Counter(first + mid + rest), everything, "2x2, 3x1, 3x2")

    def test_elastic_resume_follows_persistent_workers_and_set_epoch(self):
        ds = self.dataset(seed=12, rank=1, world_size=3, batch_size=4, even="exact")
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
        key = ds._open().key
        self.assertEqual([k for b in dl for k in b], [key(i) for i in ds.rank_order(0)])
        state = self.dataset(seed=12, rank=0, world_size=2, batch_size=4, even="exact").state_dict(consumed=8)
        ds.load_state_dict(state)  # a world-2 state into these world-3 workers
        rest = [k for b in dl for k in b]
        self.assertEqual(rest, [key(i) for i in ds.rank_order()])
        self.assertEqual(len(rest), ds.samples_left)
        self.assertEqual(len(rest), (N - 2 * 8) // 3, "81 left of 97: rank 1 of 3 gets 27 of them")
        ds.set_epoch(0)  # the loaded epoch: the position is kept
        self.assertEqual([k for b in dl for k in b], rest)
        ds.set_epoch(1)  # another epoch starts whole
        self.assertEqual([k for b in dl for k in b], [key(i) for i in ds.rank_order(1)])
        self.assertEqual(len(ds.rank_order(1)), 32)

    def test_persistent_workers_holding_a_superseded_state_say_so(self):
        # A state with more consumed ranges than the shared state holds makes it again, bigger;
        # persistent workers still holding the old one refuse rather than read the wrong part.
        room = valise.torch._DONE_ROOM
        valise.torch._DONE_ROOM = 1
        try:
            ds = self.dataset(seed=12, rank=0, world_size=3, batch_size=4, even="exact")
            dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, persistent_workers=True)
            self.assertEqual(len([k for b in dl for k in b]), N // 3)
            state = self.dataset(seed=12, rank=0, world_size=2, batch_size=4, even="exact").state_dict(consumed=8)
            ds.load_state_dict(state)  # two ranges: [0, 8) and [48, 56)
            with self.assertRaises(Exception) as caught:
                list(dl)
            self.assertIn("make the DataLoader again", str(caught.exception))
            del dl
            key = ds._open().key
            self.assertEqual([k for b in self.loader(ds, 2) for k in b], [key(i) for i in ds.rank_order()])
            self.assertEqual(len(ds.rank_order()), (N - 16) // 3)
        finally:
            valise.torch._DONE_ROOM = room

    def test_a_state_from_an_older_valise_is_refused_not_misread(self):
        # valise before elastic resume saved one rank's position and no state_version.
        old = {"epoch": 1, "position": 8, "seed": 2, "shuffle": True, "world_size": 1, "rank": 0,
               "even": "pad", "batch_size": 4, "block_bytes": 4 << 20, "window_blocks": 4,
               "prefix": "train/", "samples": "grouped", "num_samples": N}
        for state in (old, dict(old, state_version=99)):
            with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
                self.dataset(seed=2, batch_size=4).load_state_dict(state)
            self.assertIn("state_version", str(caught.exception))
        state = self.dataset(seed=2, batch_size=4).state_dict(consumed=8)
        self.assertEqual(state["state_version"], 2)
        for broken in (dict(state, done=[[5, 3]]), dict(state, done=[[0, 4], [2, 6]]),
                       dict(state, done=[[90, 98]])):
            with self.assertRaises(valise.errors.InvalidArgumentError, msg=broken["done"]) as caught:
                self.dataset(seed=2, batch_size=4).load_state_dict(broken)
            self.assertIn("done", str(caught.exception))

    def test_a_dataset_pickles_and_copies_with_its_position(self):
        import copy
        import pickle
        ds = self.dataset(seed=2, batch_size=4)
        ds.load_state_dict({"state_version": 2, "epoch": 1, "position": 8, "seed": 2, "world_size": 1, "done": []})
        for twin in (copy.deepcopy(ds), pickle.loads(pickle.dumps(ds))):
            self.assertEqual((twin.epoch, twin.samples_left), (1, ds.samples_left))
            twin.set_epoch(5)
            self.assertEqual(ds.epoch, 1, "a copy has its own epoch")
        # A state from another world size: the copy keeps what the earlier run consumed.
        ds.load_state_dict(self.dataset(seed=2, batch_size=4, rank=0, world_size=3).state_dict(consumed=8))
        for twin in (copy.deepcopy(ds), pickle.loads(pickle.dumps(ds))):
            self.assertEqual(twin.rank_order(), ds.rank_order())
            self.assertEqual(len(twin.rank_order()), N - 3 * 8)

    def test_a_prefix_that_matches_nothing_is_an_error(self):
        with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
            self.dataset(prefix="trian/")
        self.assertIn("trian/", str(caught.exception))

    def test_rank_and_world_from_the_environment(self):
        old = dict(os.environ)
        try:
            os.environ.update(RANK="2", WORLD_SIZE="3")
            ds = self.dataset()
            self.assertEqual(ds.rank_world(), (2, 3))
            self.assertEqual(len(ds), N * 3 // 3 - N * 2 // 3)
            os.environ.update(RANK="5")
            with self.assertRaises(valise.errors.InvalidArgumentError):
                len(ds)
        finally:
            os.environ.clear()
            os.environ.update(old)

    # ---- lost drives and errors -------------------------------------------------

    def test_two_drives_lost_every_sample_still_bit_exact(self):
        work = tempfile.mkdtemp(prefix="valise-pydeg-", dir=self.tmp)
        copies = []
        for d in self.drives:
            c = os.path.join(work, os.path.basename(d))
            shutil.copytree(d, c)
            copies.append(c)
        shutil.rmtree(copies[1])
        shutil.rmtree(copies[4])
        with self.assertWarns(UserWarning):
            s = valise.Set(copies, identity=self.identity, prefix="train/")
        ds = ValiseDataset(copies, identity=self.identity, prefix="train/", seed=5)
        seen = 0
        for sample in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2):
            key = sample.pop("__key__")
            self.assertEqual(sample, self.expect[key], key)
            seen += 1
        self.assertEqual(seen, N)
        self.assertEqual(s.num_samples, N)
        shutil.rmtree(copies[2])  # three of six: beyond parity
        with self.assertRaises(valise.errors.DataLossError):
            valise.Set(copies, identity=self.identity)

    def test_errors_carry_the_command_lines_messages(self):
        stranger = os.path.join(self.tmp, "stranger.key")
        if not os.path.exists(stranger):
            valise.keygen(stranger)
        with self.assertRaises(valise.errors.PermissionDeniedError) as caught:
            valise.Set(self.drives, identity=stranger)
        self.assertEqual(caught.exception.exit_code, 4)
        cli = subprocess.run([os.environ["VALISE_BIN"], "ls", *self.drives, "--identity", stranger],
                             capture_output=True, text=True)
        self.assertEqual(cli.returncode, 4)
        self.assertIn(str(caught.exception), cli.stderr)
        with self.assertRaises(valise.errors.PermissionDeniedError):
            valise.Set(self.drives, identity=os.path.join(self.tmp, "no-such.key"))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.Set(self.drives, identity=self.identity, samples="words")
        with self.assertRaises(valise.errors.InvalidArgumentError):
            ValiseDataset(self.drives[0], identity=self.identity)
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.dataset(rank=2, world_size=2)
        with self.assertRaises(valise.errors.Error):
            valise.Set([os.path.join(self.tmp, "src")], identity=self.identity)

    def test_pack_verify_restore_round_trip(self):
        out = os.path.join(self.tmp, "restored")
        report = valise.verify(self.drives)
        self.assertEqual(report["verdict"], "intact")
        keyed = valise.verify(self.drives, identity=self.identity)
        self.assertEqual(keyed["chunks_bad"], 0)
        self.assertGreater(keyed["chunks_checked"], 0)
        r = valise.restore(self.drives, out, identity=self.identity, prefixes=["train"])
        self.assertEqual(r["files"], 2 * N)
        for key, fields in self.expect.items():
            for ext, data in fields.items():
                with open(os.path.join(out, f"{key}.{ext}"), "rb") as f:
                    self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(data).digest())
        self.assertFalse(os.path.exists(os.path.join(out, "val")))

    def test_restore_into_a_tree_needs_overwrite(self):
        out = os.path.join(self.tmp, "existing")
        os.makedirs(out)
        with open(os.path.join(out, "mine.txt"), "w") as f:
            f.write("mine")
        with self.assertRaises(valise.errors.InvalidArgumentError) as cm:
            valise.restore(self.drives, out, identity=self.identity, prefixes=["train"])
        self.assertIn("--overwrite", str(cm.exception))
        self.assertEqual(os.listdir(out), ["mine.txt"])  # nothing written
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.restore(self.drives, out, identity=self.identity, overwrite="sometimes")
        r = valise.restore(self.drives, out, identity=self.identity, prefixes=["train"], overwrite="never")
        self.assertEqual(r["files"], 2 * N)
        r = valise.restore(self.drives, out, identity=self.identity, prefixes=["train"], overwrite="if-changed")
        self.assertEqual((r["files"], r["unchanged"]), (0, 2 * N))
        with open(os.path.join(out, "mine.txt")) as f:
            self.assertEqual(f.read(), "mine")


class SampleHygieneTest(unittest.TestCase):
    """Names as they come: non-UTF-8 bytes, files without an extension, `z` beside `z.`,
    a sibling directory sharing the prefix's spelling, and a sample lost beyond parity."""

    SAMPLES = 40
    ODD = b"train/caf\xe9"  # Latin-1, not UTF-8

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="valise-pyhygiene-")
        src = os.path.join(cls.tmp, "src")
        os.makedirs(os.path.join(src, "train"))
        os.makedirs(os.path.join(src, "train_extra"))
        rng = random.Random(31)
        cls.expect = {}
        for i in range(cls.SAMPLES):
            key = f"train/{i:03d}"
            fields = {"img": rng.randbytes(40_000), "json": json.dumps({"label": i}).encode()}
            for ext, data in fields.items():
                with open(os.path.join(src, f"{key}.{ext}"), "wb") as f:
                    f.write(data)
            cls.expect[key] = fields
        odd = {"img": b"bytes of a non-UTF-8 name", "json": b"{}"}
        for ext, data in odd.items():
            with open(os.path.join(os.fsencode(src), cls.ODD + b"." + ext.encode()), "wb") as f:
                f.write(data)
        cls.odd_key = os.fsdecode(cls.ODD)
        cls.expect[cls.odd_key] = odd
        for name, data in (("train/README", b"read me"), ("train/z", b"z"), ("train/z.", b"z dot"),
                           ("train_extra/000.img", b"not train")):
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        cls.identity = os.path.join(cls.tmp, "me.key")
        valise.keygen(cls.identity)
        cls.drives = [os.path.join(cls.tmp, f"d{i}") for i in range(1, 7)]
        # Small segments (4 x 64 KiB of data a stripe), so one stripe holds a few samples.
        subprocess.run([os.environ["VALISE_BIN"], "pack", src, "--to", *cls.drives, "--parity", "2",
                        "--identity", cls.identity, "--segment-size", "64KiB"], check=True,
                       capture_output=True, env=dict(os.environ, VALISE_STATE_DIR=os.path.join(cls.tmp, "st")))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def quiet_set(self, drives=None, **kw):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return valise.Set(drives or self.drives, identity=self.identity, **kw)

    def test_a_non_utf8_name_is_a_surrogateescaped_key(self):
        s = self.quiet_set(prefix="train/")
        i = s.index(self.odd_key)
        self.assertEqual(s.key(i), self.odd_key)
        self.assertEqual(os.fsencode(s.key(i)), self.ODD)
        got = s[i]
        self.assertEqual(got.pop("__key__"), self.odd_key)
        self.assertEqual(got, self.expect[self.odd_key])
        with s.open(self.odd_key + ".img") as f:
            self.assertEqual(f.read(), self.expect[self.odd_key]["img"])
        # Through the dataset and worker processes: the whole epoch, every sample bit-exact.
        ds = ValiseDataset(self.drives, identity=self.identity, prefix="train/", batch_size=8,
                           collate_fn=keys_and_hashes)
        items = dict(x for b in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2) for x in b)
        self.assertEqual(items, {k: {e: sha(v) for e, v in f.items()} for k, f in self.expect.items()})

    def test_the_prefix_is_a_directory_matched_at_path_boundaries(self):
        train = self.quiet_set(prefix="train")
        keys = [train.key(i) for i in range(len(train))]
        self.assertEqual(sorted(keys), sorted(self.expect), "train_extra/ is not under train")
        self.assertEqual(len(self.quiet_set(prefix="train/")), len(train))
        self.assertEqual(len(self.quiet_set(prefix="train_extra")), 1)
        # A trailing * asks for a plain string prefix.
        some = self.quiet_set(prefix="train/00*")
        self.assertEqual([some.key(i) for i in range(len(some))], [f"train/{i:03d}" for i in range(10)])
        self.assertEqual(len(self.quiet_set(prefix="train*")), len(train) + 1)
        # A file's own path selects it.
        one = self.quiet_set(prefix="train/005.img", samples="file")
        self.assertEqual([one.key(i) for i in range(len(one))], ["train/005.img"])

    def test_files_without_an_extension_are_not_samples_and_are_named_once(self):
        with self.assertWarns(UserWarning) as caught:
            s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        said = [str(w.message) for w in caught.warnings if "extension" in str(w.message)]
        self.assertEqual(len(said), 1, said)
        for name in ("3 files", "train/README", "train/z", "train/z.", 'samples="file"'):
            self.assertIn(name, said[0])
        keys = {s.key(i) for i in range(len(s))}
        self.assertEqual(keys, set(self.expect))
        self.assertTrue(all("" not in s.fields(i) for i in range(len(s))), "no field named ''")
        # `z` and `z.` never collide: grouped they are not samples, in file mode two samples.
        files = self.quiet_set(prefix="train/", samples="file")
        fkeys = {files.key(i): i for i in range(len(files))}
        self.assertEqual(files[fkeys["train/z"]][""], b"z")
        self.assertEqual(files[fkeys["train/z."]][""], b"z dot")
        self.assertEqual(files[fkeys["train/README"]][""], b"read me")
        # The dataset warns in the process that makes it, once.
        with self.assertWarns(UserWarning) as caught:
            ValiseDataset(self.drives, identity=self.identity, prefix="train/")
        self.assertEqual(len([w for w in caught.warnings if "extension" in str(w.message)]), 1)

    def damaged_drives(self):
        work = tempfile.mkdtemp(prefix="damaged-", dir=self.tmp)
        copies = []
        for d in self.drives:
            c = os.path.join(work, os.path.basename(d))
            shutil.copytree(d, c)
            copies.append(c)
        segs = sorted(os.path.relpath(os.path.join(r, n), copies[0])
                      for r, _, ns in os.walk(os.path.join(copies[0], "seg")) for n in ns)
        self.assertGreater(len(segs), 10, segs)
        lost = segs[len(segs) // 2]
        for c in copies[:3]:  # three shards of one stripe: beyond parity 2
            os.remove(os.path.join(c, lost))
        return copies

    def test_an_unreadable_sample_raises_naming_its_file_or_is_skipped_and_counted(self):
        drives = self.damaged_drives()
        s = self.quiet_set(drives, prefix="train/")
        bad = []
        for i in range(len(s)):
            try:
                s[i]
            except valise.errors.DataLossError:
                bad.append(s.key(i))
        self.assertTrue(0 < len(bad) < len(s) // 2, bad)
        good = sorted(set(self.expect) - set(bad))

        def dataset(**kw):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ValiseDataset(drives, identity=self.identity, prefix="train/", shuffle=False, **kw)

        # raise (the default): the error names the file; nothing after it is silently dropped.
        with self.assertRaises(valise.errors.DataLossError) as caught:
            for _ in torch.utils.data.DataLoader(dataset(), batch_size=None, num_workers=0):
                pass
        self.assertIn(bad[0] + ".", str(caught.exception))
        with self.assertRaises(valise.errors.DataLossError) as caught:
            for _ in torch.utils.data.DataLoader(dataset(batch_size=4, collate_fn=keys_of), batch_size=None,
                                                 num_workers=2):
                pass
        self.assertIn(bad[0] + ".", str(caught.exception))
        # skip: every readable sample once, the unreadable ones counted, one warning naming the first.
        ds = dataset(on_error="skip")
        with self.assertWarns(UserWarning) as caught:
            got = [x["__key__"] for x in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=0)]
        self.assertEqual(got, good)
        self.assertEqual(ds.skipped, len(bad))
        said = [str(w.message) for w in caught.warnings if "skip" in str(w.message)]
        self.assertEqual(len(said), 1, said)
        self.assertIn(bad[0] + ".", said[0])
        for workers in (0, 2):
            ds = dataset(on_error="skip", batch_size=4, collate_fn=keys_of)
            got = [k for b in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers) for k in b]
            self.assertEqual(got, good, f"workers {workers}")
            self.assertEqual(ds.skipped, len(bad), f"workers {workers}")
        with self.assertRaises(valise.errors.InvalidArgumentError):
            dataset(on_error="ignore")


class SetOpenTest(unittest.TestCase):
    """Set.open(path): one file of the set as a seekable binary file, read by ranges."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="valise-pyopen-")
        src = os.path.join(cls.tmp, "src")
        os.makedirs(os.path.join(src, "data"))
        rng = random.Random(23)
        # Several content-defined chunks (1 MiB on average), so ranges cross chunk boundaries.
        cls.big = rng.randbytes(5_500_000)
        cls.small = b"a small file, bundled with others\n" * 20
        cls.files = {"data/big.bin": cls.big, "data/small.txt": cls.small, "empty": b""}
        cls.state = {"w": torch.arange(1000, dtype=torch.float32).view(10, 100), "b": torch.tensor([1, 2, 3])}
        buf = io.BytesIO()
        torch.save(cls.state, buf)
        cls.files["model.pt"] = buf.getvalue()
        from PIL import Image
        cls.pixels = bytes(rng.randrange(256) for _ in range(40 * 30 * 3))
        png = io.BytesIO()
        Image.frombytes("RGB", (40, 30), cls.pixels).save(png, format="PNG")
        cls.files["data/picture.png"] = png.getvalue()
        for path, data in cls.files.items():
            with open(os.path.join(src, path), "wb") as f:
                f.write(data)
        os.symlink("big.bin", os.path.join(src, "data", "link"))
        cls.identity = os.path.join(cls.tmp, "me.key")
        valise.keygen(cls.identity)
        cls.drives = [os.path.join(cls.tmp, f"d{i}") for i in range(1, 6)]
        valise.pack(src, cls.drives, identity=cls.identity, parity=2, work_dir=os.path.join(cls.tmp, "state"))
        cls.set = valise.Set(cls.drives, identity=cls.identity)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def test_reads_at_random_offsets_are_bit_exact(self):
        rng = random.Random(5)
        size = len(self.big)
        for buffering in (0, -1, 4096):
            with self.set.open("data/big.bin", buffering=buffering) as f:
                self.assertEqual(sha(f.read()), sha(self.big), buffering)
                for _ in range(150):
                    off = rng.randrange(size + 100)
                    n = rng.choice((1, 7, 4096, rng.randrange(1, 3_000_000)))
                    self.assertEqual(f.seek(off), off)
                    got = f.read(n)
                    self.assertEqual(sha(got), sha(self.big[off:off + n]), (buffering, off, n))
                    self.assertEqual(f.tell(), min(off + n, size) if off < size else off)
        raw = self.set.open("data/big.bin", buffering=0)
        self.assertIsInstance(raw, io.RawIOBase)
        for _ in range(50):
            off, n = rng.randrange(size), rng.randrange(1, 2_000_000)
            raw.seek(off)
            b = bytearray(n)
            got = raw.readinto(b)
            self.assertEqual(got, min(n, size - off))
            self.assertEqual(sha(bytes(b[:got])), sha(self.big[off:off + got]), (off, n))
        whole = bytearray(size)
        raw.seek(0)
        self.assertEqual(raw.readinto(memoryview(whole)), size)
        self.assertEqual(sha(bytes(whole)), sha(self.big))
        for path, data in self.files.items():
            with self.set.open(path) as f:
                self.assertEqual(sha(f.read()), sha(data), path)

    def test_seek_and_tell_follow_the_file_protocol(self):
        f = self.set.open("data/small.txt", buffering=0)
        size = len(self.small)
        self.assertEqual((f.readable(), f.seekable(), f.writable()), (True, True, False))
        self.assertEqual((f.name, f.size, f.tell()), ("data/small.txt", size, 0))
        self.assertEqual(f.read(5), self.small[:5])
        self.assertEqual(f.seek(3, io.SEEK_CUR), 8)
        self.assertEqual(f.read(4), self.small[8:12])
        self.assertEqual(f.seek(-4, io.SEEK_END), size - 4)
        self.assertEqual(f.read(), self.small[-4:])
        self.assertEqual(f.read(), b"")
        self.assertEqual(f.seek(size + 50), size + 50)
        self.assertEqual((f.read(10), f.tell()), (b"", size + 50))
        with self.assertRaises(ValueError):
            f.seek(-1)
        with self.assertRaises(ValueError):
            f.seek(-size - 1, io.SEEK_END)
        with self.assertRaises(ValueError):
            f.seek(0, 3)
        f.seek(0)
        self.assertEqual(f.readline(), self.small.splitlines(keepends=True)[0])
        f.close()
        self.assertTrue(f.closed)
        with self.assertRaises(ValueError):
            f.read(1)
        with self.assertRaises(ValueError):
            f.seek(0)
        buffered = io.BufferedReader(self.set.open("data/small.txt", buffering=0), 16)
        self.assertEqual(list(buffered), self.small.splitlines(keepends=True))
        self.assertEqual(self.set.open("empty").read(), b"")

    def test_torch_load_and_pil_read_through_open(self):
        loaded = torch.load(self.set.open("model.pt"))
        self.assertEqual(loaded.keys(), self.state.keys())
        for k in self.state:
            self.assertTrue(torch.equal(loaded[k], self.state[k]), k)
        loaded = torch.load(self.set.open("model.pt", buffering=0))
        self.assertTrue(torch.equal(loaded["w"], self.state["w"]))
        from PIL import Image
        with Image.open(self.set.open("data/picture.png")) as im:
            self.assertEqual((im.size, im.mode), ((40, 30), "RGB"))
            self.assertEqual(sha(im.tobytes()), sha(self.pixels))

    def test_open_errors_name_the_path(self):
        with self.assertRaises(valise.errors.NotFoundError) as caught:
            self.set.open("data/nope.bin")
        self.assertIn("data/nope.bin", str(caught.exception))
        for path in ("data", "data/link"):
            with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
                self.set.open(path)
            self.assertIn(f"'{path}'", str(caught.exception))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.set.open("data/big.bin", "wb")


class RangedReadAroundDamageTest(unittest.TestCase):
    """Set.open reads only the chunks holding the bytes asked for: with one stripe in the middle
    of a big file lost beyond parity, every range outside it still reads bit-exact, and a range
    inside it is DataLossError naming the file."""

    def test_ranges_outside_a_lost_stripe_read_bit_exact(self):
        tmp = tempfile.mkdtemp(prefix="valise-pydamage-")
        try:
            src = os.path.join(tmp, "src")
            os.makedirs(src)
            big = random.Random(41).randbytes(4_000_000)
            with open(os.path.join(src, "big.bin"), "wb") as f:
                f.write(big)
            identity = os.path.join(tmp, "me.key")
            valise.keygen(identity)
            drives = [os.path.join(tmp, f"d{i}") for i in range(1, 6)]
            # Small segments (3 x 64 KiB of data a stripe) so the file spans ~20 stripes.
            subprocess.run([os.environ["VALISE_BIN"], "pack", src, "--to", *drives, "--parity", "2",
                            "--identity", identity, "--segment-size", "64KiB"], check=True,
                           capture_output=True, env=dict(os.environ, VALISE_STATE_DIR=os.path.join(tmp, "st")))
            segs = sorted(os.path.relpath(os.path.join(r, n), drives[0])
                          for r, _, ns in os.walk(os.path.join(drives[0], "seg")) for n in ns)
            self.assertGreater(len(segs), 15, segs)
            lost = segs[len(segs) // 2 - 2]  # inside big.bin's part of the data log
            for d in drives[:3]:             # three shards of a stripe: beyond parity 2
                os.remove(os.path.join(d, lost))
            s = valise.Set(drives, identity=identity)
            size = len(big)
            ok, bad = [], []
            step = 32_768
            with s.open("big.bin", buffering=0) as f:
                for off in range(0, size, step):
                    f.seek(off)
                    try:
                        got = f.read(step)
                    except valise.errors.DataLossError as e:
                        self.assertIn("'big.bin'", str(e))
                        bad.append(off)
                        continue
                    self.assertEqual(sha(got), sha(big[off:off + step]), off)
                    ok.append(off)
                with self.assertRaises(valise.errors.DataLossError):
                    f.seek(0)
                    f.read()
            self.assertTrue(bad, "the lost stripe is inside the file")
            # Good bytes before and after the damage: each read decoded only its own chunks.
            self.assertTrue(any(o < min(bad) for o in ok) and any(o > max(bad) for o in ok), (ok, bad))
            # The damage costs a few chunks (1 MiB on average), not the file.
            self.assertLess(len(bad) * step, size // 2, bad)
        finally:
            shutil.rmtree(tmp)


class WeightsHomeTest(unittest.TestCase):
    """valise.save / valise.load: a site sends weights home to the sender in one call each."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="valise-pyhome-")
        cls.old_config = os.environ.get("VALISE_CONFIG_DIR")
        os.environ["VALISE_CONFIG_DIR"] = os.path.join(cls.tmp, "config")  # an empty trust store
        cls.site, cls.sender, cls.stranger = (os.path.join(cls.tmp, n + ".key")
                                              for n in ("site", "sender", "stranger"))
        cls.site_r, cls.sender_r, cls.stranger_r = (valise.keygen(k) for k in (cls.site, cls.sender, cls.stranger))
        torch.manual_seed(3)
        model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(),
                                    torch.nn.Linear(4 * 6 * 6, 3))
        cls.state = dict(model.state_dict())
        cls.state["extra.half"] = torch.randn(5, 7).half()
        cls.state["extra.int"] = torch.randint(-1000, 1000, (33,), dtype=torch.int64)
        cls.notes = os.path.join(cls.tmp, "notes.txt")
        with open(cls.notes, "w") as f:
            f.write("trained 3 epochs\n")
        cls.home = [os.path.join(cls.tmp, "home", f"h{i}") for i in range(1, 4)]
        cls.stats = valise.save([cls.state, cls.notes], cls.home, identity=cls.site, recipients=[cls.sender_r],
                                work_dir=os.path.join(cls.tmp, "state"))
        cls.forged = [os.path.join(cls.tmp, "forged", f"h{i}") for i in range(1, 4)]
        valise.save({"w": torch.zeros(3)}, cls.forged, identity=cls.stranger, recipients=[cls.sender_r],
                    work_dir=os.path.join(cls.tmp, "state"))

    @classmethod
    def tearDownClass(cls):
        if cls.old_config is None:
            os.environ.pop("VALISE_CONFIG_DIR", None)
        else:
            os.environ["VALISE_CONFIG_DIR"] = cls.old_config
        shutil.rmtree(cls.tmp)

    def assert_same_state(self, got):
        self.assertEqual(list(got.keys()), list(self.state.keys()))
        for k in self.state:
            self.assertEqual(got[k].dtype, self.state[k].dtype, k)
            self.assertTrue(torch.equal(got[k], self.state[k]), k)

    def test_save_then_load_with_the_site_pinned_gives_every_tensor(self):
        self.assertEqual(self.stats["paths"], ["notes.txt", "weights.pt"])
        self.assertEqual(self.stats["signer"], self.site_r)
        staged = [n for n in os.listdir(os.path.join(self.tmp, "state")) if n.startswith("valise-save-")]
        self.assertEqual(staged, [], "the staging directory is removed")
        self.assert_same_state(valise.load(self.home, identity=self.sender, signer=self.site_r))
        self.assert_same_state(valise.load(self.home, identity=self.sender, signer=[self.stranger_r, self.site_r],
                                           path="weights.pt"))
        s = valise.Set(self.home, identity=self.sender, signer=self.site_r, samples="file")
        self.assertEqual((s.signer, s.trust), (self.site_r, "--signer"))
        self.assertEqual(s.open("notes.txt").read(), b"trained 3 epochs\n")
        self.assertEqual(valise.Set(self.home, identity=self.site).trust, "your identity")
        with self.assertRaises(valise.errors.NotFoundError):
            valise.load(self.home, identity=self.sender, signer=self.site_r, path="other.pt")
        # restore(signer=) pins the same way.
        out = os.path.join(self.tmp, "restored")
        with self.assertRaises(valise.errors.PermissionDeniedError):
            valise.restore(self.home, out, identity=self.sender)
        valise.restore(self.home, out, identity=self.sender, signer=self.site_r)
        self.assert_same_state(torch.load(os.path.join(out, "weights.pt")))

    def test_load_with_one_drive_lost(self):
        work = os.path.join(self.tmp, "lost")
        copies = [os.path.join(work, f"h{i}") for i in range(1, 4)]
        for d, c in zip(self.home, copies):
            shutil.copytree(d, c)
        shutil.rmtree(copies[1])
        with self.assertWarns(UserWarning):
            got = valise.load(copies, identity=self.sender, signer=self.site_r)
        self.assert_same_state(got)

    def test_load_refuses_an_untrusted_signer_naming_it(self):
        with self.assertRaises(valise.errors.PermissionDeniedError) as caught:
            valise.load(self.home, identity=self.sender)
        self.assertEqual(caught.exception.exit_code, 4)
        self.assertIn(valise.fingerprint(self.site_r), str(caught.exception))
        self.assertIn("not trusted", str(caught.exception))

    def test_load_refuses_a_set_not_signed_by_the_pinned_signer(self):
        # A stranger packed "weights" for the sender: pinning the site refuses them.
        with self.assertRaises(valise.errors.PermissionDeniedError) as caught:
            valise.load(self.forged, identity=self.sender, signer=self.site_r)
        self.assertIn(valise.fingerprint(self.stranger_r), str(caught.exception))
        # A pin is strict: the site's own identity would trust its own set, but
        # a pin on someone else refuses it, naming both.
        with self.assertRaises(valise.errors.PermissionDeniedError) as caught:
            valise.load(self.home, identity=self.site, signer=self.stranger_r)
        self.assertIn(valise.fingerprint(self.site_r), str(caught.exception))
        self.assertIn(valise.fingerprint(self.stranger_r), str(caught.exception))
        self.assertEqual(caught.exception.exit_code, 4)
        # The right pin does not make a stranger a recipient.
        with self.assertRaises(valise.errors.PermissionDeniedError):
            valise.load(self.home, identity=self.stranger, signer=self.site_r)

    def test_save_refuses_what_it_cannot_pack(self):
        drives = [os.path.join(self.tmp, "bad", f"b{i}") for i in range(1, 4)]
        with self.assertRaises(valise.errors.NotFoundError) as caught:
            valise.save([os.path.join(self.tmp, "missing.pt")], drives, identity=self.site)
        self.assertIn("missing.pt", str(caught.exception))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.save([self.notes, self.notes], drives, identity=self.site)
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.save(42, drives, identity=self.site)
        with self.assertRaises(valise.errors.InvalidArgumentError):
            valise.save(self.state, drives, identity=self.site, name="../x.pt")
        staging = os.path.join(self.tmp, "staging")
        os.makedirs(staging)
        with self.assertRaises(valise.errors.Error):
            valise.save(self.state, self.home, identity=self.site, work_dir=staging)  # drives not empty
        self.assertEqual([n for n in os.listdir(staging) if n.startswith("valise-save-")], [],
                         "the staging directory is removed when the pack fails")


if __name__ == "__main__":
    unittest.main()
