"""valise's Python package and PyTorch dataset on a real set (real files, real
DataLoader worker processes). Run: PYTHONPATH=build/python VALISE_BIN=build/valise
/usr/bin/python3 -m unittest tests/python/test_valise.py"""
import hashlib
import json
import os
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
        return ValiseDataset(self.drives, identity=self.identity, **kw)

    def loader(self, ds, workers, batch):
        return torch.utils.data.DataLoader(ds, batch_size=batch, num_workers=workers, collate_fn=keys_of)

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
                    self.assertEqual(len(mine), len(ds))
                    sizes.append(len(mine))
                    got.extend(mine)
                self.assertEqual(len(got), N, f"world {world} workers {workers}")
                self.assertEqual(set(got), set(self.expect), f"world {world} workers {workers}")
                self.assertLessEqual(max(sizes) - min(sizes), 1)

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
            self.assertEqual(len(fresh), len(whole) - 20)
            rest = [k for b in self.loader(fresh, workers, 4) for k in b]
            self.assertEqual(rest, whole[20:], f"workers {workers}")
            fresh.set_epoch(4)
            self.assertEqual(len(fresh), len(whole))
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
        dl = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True,
                                         collate_fn=keys_of)
        key = ds._open().key
        e0 = [k for b in dl for k in b]
        self.assertEqual(e0, [key(i) for i in ds.rank_order(0)])
        ds.set_epoch(1)
        e1 = [k for b in dl for k in b]
        self.assertEqual(e1, [key(i) for i in ds.rank_order(1)])
        self.assertNotEqual(e0, e1)
        ds.load_state_dict({"epoch": 2, "position": 12, "seed": 6, "world_size": 2})
        rest = [k for b in dl for k in b]
        self.assertEqual(rest, [key(i) for i in ds.rank_order(2)][12:])
        self.assertEqual(len(rest), len(ds))

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

    def test_a_state_under_workers_needs_the_consumed_count(self):
        ds = self.dataset(seed=2, batch_size=4)
        first_keys(self.loader(ds, 2, 4), 8)
        with self.assertRaises(valise.errors.InvalidArgumentError) as caught:
            ds.state_dict()
        self.assertIn("consumed=", str(caught.exception))
        self.assertEqual(ds.state_dict(consumed=8)["position"], 8)

    def test_every_order_knob_is_checked_on_load(self):
        state = self.dataset(seed=2, batch_size=4).state_dict(consumed=8)
        for knob, other in (("batch_size", 16), ("block_bytes", 1 << 20), ("window_blocks", 8),
                            ("seed", 3), ("even", "exact"), ("shuffle", False)):
            with self.assertRaises(valise.errors.InvalidArgumentError, msg=knob) as caught:
                self.dataset(**{"seed": 2, "batch_size": 4, knob: other}).load_state_dict(state)
            self.assertIn(knob, str(caught.exception))
        with self.assertRaises(valise.errors.InvalidArgumentError):
            self.dataset(seed=2, batch_size=4).load_state_dict(dict(state, position=10_000))
        self.dataset(seed=2, batch_size=4).load_state_dict(state)

    def test_a_dataset_pickles_and_copies_with_its_position(self):
        import copy
        import pickle
        ds = self.dataset(seed=2, batch_size=4)
        ds.load_state_dict({"epoch": 1, "position": 8, "seed": 2})
        for twin in (copy.deepcopy(ds), pickle.loads(pickle.dumps(ds))):
            self.assertEqual((twin.epoch, len(twin)), (1, len(ds)))
            twin.set_epoch(5)
            self.assertEqual(ds.epoch, 1, "a copy has its own epoch")

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


if __name__ == "__main__":
    unittest.main()
