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

    The set's signer must be trusted (docs/security.md): the identity's own recipient, ``signer=``
    (a recipient or a list of them), or an entry of ``valise trust add``; otherwise PermissionError
    (exit code 4) names the signer's fingerprint. ``set_id=`` pins one set (hex id or 8+ digit
    prefix); ``allow_untrusted=True`` reads any signer's set, with a warning.

    ``cache_bytes``: decoded chunks kept for reads (default 64 MiB per set or shipment part).

    ``num_samples`` / ``len()``, ``key(i)``, ``fields(i)``, ``sample(i) -> dict[str, bytes]``,
    ``sample_bytes(i)``, ``epoch_order(epoch, seed=0, ...)``, ``loader(...)``, ``warnings``.
    """

    def __init__(self, drives, identity, signer=(), prefix=None, samples="grouped", work_dir="", cache_bytes=0,
                 set_id="", allow_untrusted=False):
        super().__init__(_paths(drives), _os.fspath(identity), _signers(signer), set_id or "", bool(allow_untrusted),
                         prefix or "", samples,
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
