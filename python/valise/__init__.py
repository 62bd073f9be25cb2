"""valise: read training samples straight from a packed set of drives.

    import valise
    s = valise.Set(["/mnt/d1", ..., "/mnt/d8"], identity="me.key")
    s.num_samples, s.key(0), s.sample(0)   # {"__key__": "train/000000", "jpg": b"...", "json": b"..."}

A sample is the group of files sharing a key, the path up to the first dot of
its name (WebDataset's rule); ``samples="file"`` makes every file a sample.
Drives that are missing are read around from parity (up to the set's parity
count). ``valise.torch.ValiseDataset`` is the PyTorch dataset;
``pack``/``verify``/``restore`` do what the command line does. Errors are
``valise.errors.Error`` subclasses carrying the command line's messages.
See docs/python.md.
"""
import os as _os
import warnings as _warnings

from . import errors
from ._valise import Loader, __version__, keygen, recipient_of
from ._valise import Set as _Set
from ._valise import pack as _pack
from ._valise import restore as _restore
from ._valise import verify as _verify
from .errors import Error

__all__ = ["Set", "Loader", "Error", "errors", "keygen", "recipient_of", "pack", "verify", "restore",
           "__version__"]


def _paths(drives):
    if isinstance(drives, (str, bytes, _os.PathLike)):
        raise errors.InvalidArgumentError("drives must be a list of drive directories, not one path")
    return [_os.fspath(d) for d in drives]


class Set(_Set):
    """A packed set opened for reading: ``Set(drives, identity=path, prefix=None, samples="grouped")``.

    ``cache_bytes``: decoded chunks kept for reads (default 64 MiB per set or shipment part).

    ``num_samples`` / ``len()``, ``key(i)``, ``fields(i)``, ``sample(i) -> dict[str, bytes]``,
    ``sample_bytes(i)``, ``epoch_order(epoch, seed=0, ...)``, ``loader(...)``, ``warnings``.
    """

    def __init__(self, drives, identity, signer="", prefix=None, samples="grouped", work_dir="", cache_bytes=0):
        super().__init__(_paths(drives), _os.fspath(identity), signer or "", prefix or "", samples,
                         _os.fspath(work_dir) if work_dir else "", int(cache_bytes))
        for w in self.warnings:
            _warnings.warn("valise: " + w, stacklevel=2)

    def __repr__(self):
        return f"<valise.Set {self.set_id[:16]} samples={self.num_samples}>"


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


def verify(drives, identity="", signer=""):
    """Checks the set; returns the report (``report["verdict"]`` is "intact", "recoverable", ...)."""
    return _verify(_paths(drives), _os.fspath(identity) if identity else "", signer)


def restore(drives, to, identity, prefixes=()):
    """Restores the set (or what is under ``prefixes``) into directory ``to``, bit-exact."""
    return _restore(_paths(drives), _os.fspath(to), _os.fspath(identity), list(prefixes))
