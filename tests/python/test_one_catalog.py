"""One catalog per host (issue 13): the catalog is decrypted and the sample index
built once per process tree, and every DataLoader worker (fork or spawn,
persistent or not, epoch after epoch) opens the main process's instead of
decoding its own; a share of another set, a forged tag or a wrong descriptor is
refused and decoded again with a warning. Real sets, real DataLoader workers.
Run: PYTHONPATH=build/python /usr/bin/python3 tests/python/test_one_catalog.py -v"""
import collections
import hashlib
import os
import random
import shutil
import tempfile
import unittest
import warnings

import torch
import torch.utils.data

import valise
import valise.torch

N = 61  # samples under train/


def sha(data):
    return hashlib.sha256(data).hexdigest()


def digest(sample):
    """The sample's fields and their hashes as one string (survives the DataLoader's conversions)."""
    return ";".join(f"{e}={sha(v)}" for e, v in sorted(sample.items()) if e != "__key__")


def report(sample):
    """transform, run in the worker (module level: picklable under spawn): the sample's key and
    content hashes, and what this process decrypted and built so far."""
    return (sample["__key__"], digest(sample),
            os.getpid(), valise._debug_catalog_decodes(), valise._debug_index_builds())


def report_batch(batch):
    return [report(s) for s in batch]


def make_set(root, name, identity, n, seed):
    src = os.path.join(root, name + "-src")
    rng = random.Random(seed)
    expect = {}
    os.makedirs(os.path.join(src, "train"))
    for i in range(n):
        key = f"train/{name}{i:04d}"
        fields = {"bin": rng.randbytes(rng.randint(10, 3000)), "txt": f"{name} {i}".encode()}
        for ext, data in fields.items():
            with open(os.path.join(src, f"{key}.{ext}"), "wb") as f:
                f.write(data)
        expect[key] = digest(fields)
    drives = [os.path.join(root, f"{name}-d{i}") for i in range(3)]
    valise.pack(src, drives, identity=identity, parity=1, work_dir=os.path.join(root, "state"))
    return drives, expect


class OneCatalogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="valise-onecat-")
        cls.identity = os.path.join(cls.tmp, "me.key")
        valise.keygen(cls.identity)
        cls.drives, cls.expect = make_set(cls.tmp, "a", cls.identity, N, 1)
        cls.other_drives, cls.other_expect = make_set(cls.tmp, "b", cls.identity, 23, 2)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp)

    def check_epochs(self, ds, ctx, persistent, epochs=3):
        """Iterates `epochs` epochs through a real DataLoader with 2 workers; returns what the
        workers reported, after checking each epoch's samples are exactly the set's."""
        dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context=ctx,
                                         persistent_workers=persistent)
        seen = []
        for epoch in range(epochs):
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(epoch)
            items = list(dl)
            self.assertEqual(collections.Counter((k, h) for k, h, *_ in items),
                             collections.Counter(self.expect.items()), f"{ctx} epoch {epoch}")
            seen.extend(items)
        return seen

    def test_the_catalog_is_decoded_once_per_process_tree(self):
        for ctx in ("fork", "spawn"):
            for persistent in (False, True):
                with self.subTest(ctx=ctx, persistent=persistent):
                    before = (valise._debug_catalog_decodes(), valise._debug_index_builds())
                    ds = valise.torch.ValiseDataset(self.drives, identity=self.identity, prefix="train/",
                                                    transform=report, even="exact", threads=1)
                    self.assertEqual(valise._debug_catalog_decodes() - before[0], 1, "the main process decodes once")
                    self.assertEqual(valise._debug_index_builds() - before[1], 1, "and builds the index once")
                    with warnings.catch_warnings():
                        warnings.simplefilter("error")  # no share refused
                        seen = self.check_epochs(ds, ctx, persistent)
                    pids = {pid for _, _, pid, _, _ in seen}
                    self.assertNotIn(os.getpid(), pids, "read in worker processes")
                    self.assertEqual(len(pids), 2 if persistent else 6, "workers per epoch as asked")
                    for key, _, pid, decodes, builds in seen:
                        self.assertEqual((decodes, builds), (0, 0), f"worker {pid} decoded its own ({ctx})")
                    self.assertEqual(valise._debug_catalog_decodes() - before[0], 1, "no decode in the main again")
                    self.assertEqual(valise._debug_index_builds() - before[1], 1)

    def test_map_dataset_workers_use_the_main_process_catalog(self):
        for ctx in ("fork", "spawn"):
            with self.subTest(ctx=ctx):
                before = valise._debug_catalog_decodes()
                ds = valise.torch.ValiseMapDataset(self.drives, identity=self.identity, prefix="train/")
                dl = torch.utils.data.DataLoader(ds, batch_size=5, shuffle=True, num_workers=2,
                                                 multiprocessing_context=ctx, collate_fn=report_batch)
                for _ in range(2):
                    items = [x for b in dl for x in b]
                    self.assertEqual(collections.Counter((k, h) for k, h, *_ in items),
                                     collections.Counter(self.expect.items()))
                    self.assertTrue(all(d == 0 and b == 0 for *_, d, b in items), ctx)
                self.assertEqual(valise._debug_catalog_decodes() - before, 1)

    def test_a_share_is_plain_values_and_opens_the_same_set(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        shares = s.share()
        self.assertEqual(sorted(x["kind"] for x in shares), ["catalog", "index"])
        with open(self.identity, "rb") as f:
            secret = f.read()
        for x in shares:
            self.assertEqual(x["pid"], os.getpid())
            self.assertEqual(x["set_id"], s.set_id)
            for v in x.values():
                self.assertFalse(isinstance(v, str) and len(v) >= 16 and v.encode() in secret)
        before = (valise._debug_catalog_decodes(), valise._debug_index_builds())
        twin = valise.Set(self.drives, identity=self.identity, prefix="train/", shared=shares)
        self.assertEqual((valise._debug_catalog_decodes(), valise._debug_index_builds()), before)
        self.assertEqual(twin.catalog_source, f"shared by process {os.getpid()}")
        self.assertEqual(twin.index_source, f"shared by process {os.getpid()}")
        self.assertEqual([twin.key(i) for i in range(len(twin))], [s.key(i) for i in range(len(s))])
        self.assertEqual(twin[7], s[7])
        # The index of another prefix is not this one's: built again (the catalog is still shared).
        other = valise.Set(self.drives, identity=self.identity, prefix="train/a000*", shared=shares)
        self.assertEqual(len(other), 10)
        self.assertIn("refused", other.index_source)
        self.assertEqual(other.catalog_source, f"shared by process {os.getpid()}")

    def test_the_shared_catalog_is_read_only_and_an_unsealed_index_is_refused(self):
        s = valise.Set(self.drives, identity=self.identity, prefix="train/")
        shares = {x["kind"]: x for x in s.share()}
        cat, idx = shares["catalog"], shares["index"]
        # The decrypted catalog is mode 0400: others open it again read-only only.
        self.assertEqual(os.fstat(cat["fd"]).st_mode & 0o777, 0o400)
        # The same index bytes (so the same tag) in a memfd that is not sealed: refused,
        # since what was checked could change after the check.
        with open(f"/proc/self/fd/{idx['fd']}", "rb") as f:
            data = f.read()
        self.assertEqual(len(data), idx["size"])
        fd = os.memfd_create("not-sealed")
        try:
            os.write(fd, data)
            st = os.fstat(fd)
            unsealed = dict(idx, fd=fd, dev=st.st_dev, ino=st.st_ino)
            before = valise._debug_index_builds()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                twin = valise.Set(self.drives, identity=self.identity, prefix="train/", shared=[cat, unsealed])
            self.assertIn("refused", twin.index_source)
            self.assertIn("not sealed", twin.index_source)
            self.assertEqual(valise._debug_index_builds() - before, 1, "built its own")
            self.assertTrue(any("not sealed" in str(w.message) for w in caught))
            self.assertEqual(twin.catalog_source, f"shared by process {os.getpid()}")
        finally:
            os.close(fd)

    def assert_refused(self, shares, why):
        """Set B opened with `shares`: each refused with a warning saying `why`, B decoded, read right."""
        before = valise._debug_catalog_decodes()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            b = valise.Set(self.other_drives, identity=self.identity, prefix="train/", shared=shares)
        self.assertEqual(valise._debug_catalog_decodes() - before, 1, "decoded its own instead")
        self.assertIn("refused", b.catalog_source)
        self.assertIn(why, b.catalog_source)
        self.assertIn("refused", b.index_source)
        self.assertTrue(any("refused" in str(w.message) for w in caught), [str(w.message) for w in caught])
        got = {b.key(i): digest(b[i]) for i in range(len(b))}
        self.assertEqual(got, self.other_expect)

    def test_a_worker_handed_another_sets_catalog_refuses_it(self):
        a = valise.Set(self.drives, identity=self.identity, prefix="train/")
        b_id = valise.Set(self.other_drives, identity=self.identity).set_id
        # Set A's files labelled as set B's: the tag (keyed by B's data key) does not match.
        forged = [dict(x, set_id=b_id) for x in a.share()]
        self.assert_refused(forged, "tag does not match")
        # B's own catalog with a tag that is not B's.
        b = valise.Set(self.other_drives, identity=self.identity, prefix="train/")
        bad_tag = [dict(x, tag=("0" * 64)) for x in b.share()]
        self.assert_refused(bad_tag, "tag does not match")
        # A descriptor that is some other file (here: the identity file, open in this process).
        with open(self.identity, "rb") as f:
            wrong = [dict(x, fd=f.fileno(), pid=os.getpid()) for x in b.share()]
            self.assert_refused(wrong, "not the file handed over")
        # A process that is gone.
        gone = [dict(x, pid=2 ** 22 + 17) for x in b.share()]
        for x in gone:
            x["fd"] = 1000
        self.assert_refused(gone, "cannot open /proc/")

    def test_a_real_worker_handed_another_sets_catalog_decodes_its_own(self):
        a = valise.Set(self.drives, identity=self.identity, prefix="train/")
        ds = valise.torch.ValiseDataset(self.other_drives, identity=self.identity, prefix="train/",
                                        transform=report, even="exact", threads=1)
        ds._shares = [dict(x, set_id=ds._set.set_id) for x in a.share()]  # what a hostile parent could hand
        for ctx in ("fork", "spawn"):
            dl = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=1, multiprocessing_context=ctx)
            items = list(dl)
            self.assertEqual(collections.Counter((k, h) for k, h, *_ in items),
                             collections.Counter(self.other_expect.items()), ctx)
            self.assertTrue(all(d == 1 and bld == 1 for *_, d, bld in items), f"{ctx}: decoded and built its own")


if __name__ == "__main__":
    unittest.main()
