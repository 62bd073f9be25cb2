"""valise: read training samples straight from a packed set of drives.

    import valise
    s = valise.Set(["/mnt/d1", ..., "/mnt/d8"], identity="me.key")
    s.num_samples, s.key(0), s.sample(0)   # {"__key__": "train/000000", "jpg": b"...", "json": b"..."}

A sample is the group of files sharing a key, the path up to the first dot of
its name (WebDataset's rule); ``samples="file"`` makes every file a sample.
Drives that are missing are read around from parity (up to the set's parity
count). ``s[i]``, ``s.index(key)`` and ``s.open(path)`` (a seekable binary
file reading only the chunks it needs) give random access; a ``Set`` pickles
as what re-opens it (never key material). ``valise.torch.ValiseDataset`` is
the PyTorch dataset, ``valise.torch.ValiseMapDataset`` the map-style one;
``pack``/``verify``/``restore`` do what the command line does, and
``save``/``load`` bring tensors home in one call. Errors are
``valise.errors.Error`` subclasses carrying the command line's messages.
See docs/python.md.
"""
import io as _io
import operator as _operator
import os as _os
import shutil as _shutil
import tempfile as _tempfile
import warnings as _warnings
from collections.abc import Mapping as _Mapping

from . import errors
from ._valise import Loader, __version__, epoch_order_of_sizes, fingerprint, keygen, recipient_of
from ._valise import _debug_catalog_decodes, _debug_index_builds
from ._valise import Set as _Set
from ._valise import pack as _pack
from ._valise import restore as _restore
from ._valise import verify as _verify
from .errors import Error

__all__ = ["Set", "SetFile", "Loader", "Error", "errors", "keygen", "recipient_of", "fingerprint", "epoch_order_of_sizes",
           "pack",
           "verify", "restore", "save", "load", "__version__"]


def _paths(drives):
    if isinstance(drives, (str, bytes, _os.PathLike)):
        raise errors.InvalidArgumentError("drives must be a list of drive directories, not one path")
    return [_os.fspath(d) for d in drives]


class Set(_Set):
    """A packed set opened for reading: ``Set(drives, identity=path, prefix=None, samples="grouped")``.

    The set's signer must be trusted (docs/security.md): the identity's own recipient, ``signer=``
    (a recipient or a list of them), or an entry of ``valise trust add``; otherwise PermissionError
    (exit code 4) names the signer's fingerprint. ``set_id=`` pins one set (hex id or 8+ digit
    prefix); ``allow_untrusted=True`` reads any signer's set, with a warning.

    ``prefix``: only files under this directory (or that file), matched at path boundaries
    ("train" takes train/..., not train_extra/...); a trailing ``*`` makes it a plain string
    prefix ("train/00*"). Files without an extension are not samples (named in one warning);
    ``samples="file"`` makes every file a sample. Keys, fields and paths are ``str`` decoded as
    ``os.fsdecode`` does (non-UTF-8 bytes as surrogates); ``os.fsencode`` gives the bytes back.

    ``cache_bytes``: decoded chunks kept for reads (default 64 MiB per set or shipment part).

    ``num_samples`` / ``len()``, ``key(i)``, ``fields(i)``, ``sample(i) -> dict[str, bytes]``,
    ``sample_bytes(i)``, ``epoch_order(epoch, seed=0, ...)``, ``loader(...)``, ``warnings``,
    ``signer`` (recipient string) and ``trust`` (why that signer was accepted).

    Random access: ``s[i]`` is ``s.sample(i)`` (negative ``i`` counts from the end),
    ``s.index(key)`` the number of the sample with that key, ``s.open(path)`` one file of the
    set as a seekable binary file object.

    Pickling a ``Set`` pickles what opens it again -- the drive directories, the identity
    file's *path*, the pinned signers (public recipient strings), the set id pin, ``prefix``,
    ``samples``, ``work_dir``, ``cache_bytes`` and ``allow_untrusted`` -- and the copy re-opens
    the set from the drives (so a DataLoader worker started by ``spawn`` gets its own). No key,
    passphrase, decrypted catalog or sample bytes are ever pickled: the child must be able to
    read the identity file itself.

    One catalog per host: ``s.share()`` describes this process's decrypted catalog and sample
    index (plain values, no secret); ``Set(..., shared=that)`` in another process of the host
    opens them read-only instead of decoding, once their tag (an HMAC under a key only the
    set's recipients derive) checks, and otherwise decodes with a warning. ``catalog_source``
    and ``index_source`` say which happened. DataLoader workers of ``valise.torch`` datasets
    do this themselves (docs/python.md).
    """

    def __init__(self, drives, identity, signer=(), prefix=None, samples="grouped", work_dir="", cache_bytes=0,
                 set_id="", allow_untrusted=False, shared=()):
        args = (_paths(drives), _os.fspath(identity), _signers(signer), prefix or "", samples,
                _os.fspath(work_dir) if work_dir else "", int(cache_bytes), set_id or "", bool(allow_untrusted))
        drives, identity, signers, prefix, samples, work_dir, cache_bytes, set_id, allow_untrusted = args
        # Names go to the core as bytes (os.fsencode), so a surrogateescaped non-UTF-8 name works.
        super().__init__(drives, identity, signers, set_id, allow_untrusted, _os.fsencode(prefix), samples,
                         work_dir, cache_bytes, [dict(x) for x in shared or ()])
        self._args = args
        for w in self.warnings:
            _warnings.warn("valise: " + w, stacklevel=2)
        if shared:
            self.warn_if_share_refused(stacklevel=3)

    def warn_if_share_refused(self, stacklevel=2):
        """Warns (once per call) when a ``shared=`` catalog or index was refused and this process
        decoded or built its own instead (the reason is in ``catalog_source``/``index_source``)."""
        for what in (self.catalog_source, self.index_source):
            if "refused" in what:
                _warnings.warn(f"valise: process {_os.getpid()}: {what}", stacklevel=stacklevel)

    def __reduce__(self):
        # Only what re-opens the set: paths, public recipients, options; and, for a process
        # being spawned (a DataLoader worker), what lets it use this process's decoded catalog
        # and index instead of decoding its own (plain values, no secret: docs/python.md).
        import multiprocessing.context as _mpc
        if _mpc.get_spawning_popen() is not None:
            return (Set, self._args + (self.share(),))
        return (Set, self._args)

    def __repr__(self):
        return f"<valise.Set {self.set_id[:16]} samples={self.num_samples}>"

    def __getitem__(self, i):
        """The sample ``i`` (as ``sample(i)``); negative numbers count from the end."""
        try:
            i = _operator.index(i)
        except TypeError:
            raise TypeError(f"valise.Set indices are sample numbers, not {type(i).__name__} "
                            "(use s.index(key) for a key)") from None
        n = self.num_samples
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"sample {i} is out of range (the set has {n} samples)")
        return self.sample(i)

    def index(self, key):
        """The number of the sample whose key is ``key``; ``errors.NotFoundError`` (a ``LookupError``)
        naming the key when no sample has it."""
        i = self.find(_os.fsencode(str(key)))
        if i < 0:
            raise errors.NotFoundError(f"no sample of the set has the key {str(key)!r}", "not found")
        return i

    def open(self, path, mode="rb", buffering=-1):
        """One regular file of the set, read-only, as a seekable binary file object.

        Reads fetch only the chunks holding the bytes asked for (and reuse the set's chunk
        cache), so ``seek`` + ``read`` of a few bytes of a large file decodes a chunk, not the
        file. As the built-in ``open``: ``buffering=0`` returns the raw ``SetFile``
        (an ``io.RawIOBase``), otherwise an ``io.BufferedReader`` around it (``buffering`` bytes
        of buffer, default 1 MiB). Both work with ``torch.load`` and PIL (tested). A path that
        is not in the set is ``errors.NotFoundError``; a directory or symlink
        ``errors.InvalidArgumentError``; damage beyond parity ``errors.DataLossError`` naming the
        path and byte."""
        if mode != "rb":
            raise errors.InvalidArgumentError(f"a set is read-only and binary: mode must be 'rb', not {mode!r}",
                                              "invalid argument")
        raw = SetFile(self.open_file(_os.fsencode(path)))
        if buffering == 0:
            return raw
        return _io.BufferedReader(raw, buffering if buffering and buffering > 1 else 1 << 20)


class SetFile(_io.RawIOBase):
    """A regular file of a set opened by ``Set.open(path, buffering=0)``: read-only, seekable.

    ``name`` is its path in the set, ``size`` its length. Every ``read``/``readinto`` reads at the
    current position through the set's ranged read (only the chunks needed); seeking past the end
    is allowed and reads nothing there, as for a file on disk."""

    def __init__(self, handle):
        super().__init__()
        self._f = handle
        self._pos = 0
        self.name = handle.path
        self.mode = "rb"

    @property
    def size(self):
        return self._f.size

    def readable(self):
        return True

    def seekable(self):
        return True

    def writable(self):
        return False

    def tell(self):
        self._checkClosed()
        return self._pos

    def seek(self, offset, whence=_io.SEEK_SET):
        self._checkClosed()
        offset = _operator.index(offset)
        if whence == _io.SEEK_SET:
            pos = offset
        elif whence == _io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == _io.SEEK_END:
            pos = self._f.size + offset
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        if pos < 0:
            raise ValueError(f"negative seek position {pos} in {self.name!r}")
        self._pos = pos
        return pos

    def readinto(self, b):
        self._checkClosed()
        with memoryview(b) as view, view.cast("B") as target:
            n = self._f.preadinto(self._pos, target)
        self._pos += n
        return n

    def read(self, size=-1):
        self._checkClosed()
        if size is None or size < 0:
            size = max(0, self._f.size - self._pos)
        data = self._f.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self):
        return self.read(-1)

    def __repr__(self):
        return f"<valise.SetFile {self.name!r} size={self.size}>"


def pack(source, drives, identity, parity=2, recipients=(), compression_level=1, work_dir="", shipment="",
         part=0, parts=0):
    """Packs directory ``source`` onto ``drives`` (created if absent, must be empty); returns stats.

    With ``shipment=NAME, part=I, parts=N`` packs only the I-th of N shares of the source, as
    ``valise pack --shipment NAME --part I/N`` does (docs/shipments.md)."""
    paths = _paths(drives)
    for d in paths:
        _os.makedirs(d, exist_ok=True)
    return _pack(_os.fspath(source), paths, _os.fspath(identity), parity, list(recipients), compression_level,
                 _os.fspath(work_dir) if work_dir else "", shipment, part, parts)


def _signers(signer):
    if not signer:
        return []
    if isinstance(signer, str):
        return [signer]
    return [str(s) for s in signer]


def verify(drives, identity="", signer=(), set_id=""):
    """Checks the set; returns the report (``report["verdict"]`` is "intact", "recoverable", ...).

    Without ``signer`` any signer is accepted and ``report["signer_pinned"]`` is False."""
    return _verify(_paths(drives), _os.fspath(identity) if identity else "", _signers(signer), set_id or "")


def restore(drives, to, identity, prefixes=(), signer=(), set_id="", allow_untrusted=False, overwrite=None,
            no_space_check=False):
    """Restores the set (or what is under ``prefixes``) into directory ``to``, bit-exact.

    The signer must be trusted, as for ``Set``: pass ``signer=`` the sender's recipient (or trust it
    with ``valise trust add``) when the weights come home.

    A ``to`` that holds files already raises ``errors.InvalidArgumentError`` before anything is
    written, unless it is a killed restore of this set (resumed) or ``overwrite`` is ``"always"``,
    ``"if-changed"`` or ``"never"`` (as ``valise restore --overwrite``). Too little free space for
    what it will write raises ``errors.ResourceExhaustedError`` first, unless ``no_space_check``."""
    return _restore(_paths(drives), _os.fspath(to), _os.fspath(identity), list(prefixes), _signers(signer),
                    set_id or "", bool(allow_untrusted), overwrite or "", bool(no_space_check))


def _file_list(tensors_or_files, name):
    """(tensors to torch.save as ``name`` or None, [file paths]) from save()'s first argument."""
    items = list(tensors_or_files) if isinstance(tensors_or_files, (list, tuple)) else [tensors_or_files]
    tensors, files = None, []
    for x in items:
        if isinstance(x, _Mapping):
            if tensors is not None:
                raise errors.InvalidArgumentError("save() takes one dict of tensors (saved as name=); "
                                                  "give further ones as files", "invalid argument")
            tensors = x
        elif isinstance(x, (str, bytes, _os.PathLike)):
            p = _os.fsdecode(x)
            if not _os.path.isfile(p):
                raise errors.NotFoundError(f"{p}: not a regular file (save() packs files and dicts of tensors)",
                                           "not found")
            files.append(p)
        else:
            raise errors.InvalidArgumentError(
                f"save() packs a dict of tensors or file paths, not {type(x).__name__}", "invalid argument")
    if not items:
        raise errors.InvalidArgumentError("save() was given nothing to save", "invalid argument")
    names = ([name] if tensors is not None else []) + [_os.path.basename(p) for p in files]
    if len(set(names)) != len(names):
        dup = sorted(n for n in set(names) if names.count(n) > 1)
        raise errors.InvalidArgumentError(f"two things to save would both be named {dup[0]!r} in the set",
                                          "invalid argument")
    return tensors, files


def save(tensors_or_files, drives, identity, recipients=(), parity=1, name="weights.pt", work_dir="",
         compression_level=1):
    """Packs tensors and/or files onto ``drives`` (new, empty) in one call: the trip home.

    ``tensors_or_files``: a dict of tensors (a ``state_dict``; anything ``torch.save`` takes that is
    a mapping), stored as the file ``name`` (default ``weights.pt``); or a file path; or a list of
    file paths and at most one such dict. Files keep their base name. The set is signed by
    ``identity`` and encrypted to it and to ``recipients`` (the sender's recipient string when a
    site sends weights home), with ``parity`` drives of parity. Returns ``pack``'s stats plus
    ``"paths"``, the names in the set.

    The dict is written with ``torch.save`` into a private (mode 0700) staging directory under
    ``work_dir`` (default ``$TMPDIR``) for the length of the pack, and the directory is removed
    when ``save`` returns or fails; files are hard-linked there when they can be (else copied)."""
    tensors, files = _file_list(tensors_or_files, name)
    if not name or "/" in name or name in (".", ".."):
        raise errors.InvalidArgumentError(f"name={name!r} must be a plain file name", "invalid argument")
    paths = _paths(drives)
    names = sorted(([name] if tensors is not None else []) + [_os.path.basename(p) for p in files])
    if work_dir:
        _os.makedirs(work_dir, mode=0o700, exist_ok=True)
    staging = _tempfile.mkdtemp(prefix="valise-save-", dir=_os.fspath(work_dir) if work_dir else None)
    try:
        if tensors is not None:
            import torch
            torch.save(tensors, _os.path.join(staging, name))
        for p in files:
            dst = _os.path.join(staging, _os.path.basename(p))
            try:
                _os.link(p, dst)
            except OSError:
                _shutil.copyfile(p, dst)
        stats = pack(staging, paths, identity, parity=parity, recipients=recipients,
                     compression_level=compression_level, work_dir=work_dir)
    finally:
        _shutil.rmtree(staging, ignore_errors=True)
    stats["paths"] = names
    return stats


def load(drives, identity, signer=(), path=None, set_id="", allow_untrusted=False, map_location=None,
         work_dir="", **torch_load_args):
    """Reads back what ``save`` packed: ``torch.load`` of one file of the set, read through
    ``Set.open`` (nothing is written to disk).

    ``signer``: the recipient string (or a list) of who must have packed the set -- the site, when
    its weights come home. Given, it is a *pin*: a set signed by anyone else is refused with
    ``errors.PermissionDeniedError`` naming both fingerprints, even one the identity or the
    trust store would accept. Without it the usual trust rules hold (the identity's own
    recipient or a trust-store entry; else ``PermissionDeniedError`` naming the signer's
    fingerprint), and ``allow_untrusted=True`` reads any signer's set (``torch.load`` unpickles:
    only do that for sets you would run code from).

    ``path``: the file to load; by default the set's only file, else ``weights.pt``. Other keyword
    arguments (``weights_only=``...) go to ``torch.load``."""
    import torch
    pins = _signers(signer)
    # With a path, index only what starts with it (a big set lists one directory, not all).
    s = Set(drives, identity, signer=pins, samples="file", prefix=_os.fspath(path) if path else None,
            work_dir=work_dir, set_id=set_id,
            allow_untrusted=allow_untrusted)
    if pins and s.signer not in pins:
        raise errors.PermissionDeniedError(
            f"the set {s.set_id[:16]} is signed by {fingerprint(s.signer)}, not by the pinned signer "
            f"{', '.join(fingerprint(p) for p in pins)} (signer=); refusing to load it", "key problem")
    if path is None:
        names = [s.key(i) for i in range(len(s))]
        if len(names) == 1:
            path = names[0]
        elif "weights.pt" in names:
            path = "weights.pt"
        else:
            raise errors.InvalidArgumentError(
                f"the set holds {len(names)} files and none is weights.pt: pass path= "
                f"(one of {', '.join(repr(n) for n in names[:5])}{', ...' if len(names) > 5 else ''})",
                "invalid argument")
    with s.open(path) as f:
        return torch.load(f, map_location=map_location, **torch_load_args)
