"""Errors raised by valise, one class per kind of failure.

Every error carries the same message the command line prints, and ``code``
(the name of the C++ status code, e.g. ``"data loss"`` or ``"key problem"``). ``exit_code`` is what
the ``valise`` command would exit with for it (2 usage, 4 key, 3 otherwise).
"""


class Error(Exception):
    """Base class of every valise error."""

    exit_code = 3

    def __init__(self, message, code=""):
        super().__init__(message)
        self.code = code


class InvalidArgumentError(Error, ValueError):
    """The call asked for something impossible (bad option, out of range)."""

    exit_code = 2


class NotFoundError(Error, LookupError):
    """A file, drive, path or key that is not there."""


class PermissionDeniedError(Error):
    """The identity is not a recipient of the set, or cannot be read."""

    exit_code = 4


class DataLossError(Error):
    """Some bytes cannot be recovered: too many drives lost or damaged."""


class CorruptionError(DataLossError):
    """Bytes are there but wrong (a checksum or authentication tag failed)."""


class UnavailableError(DataLossError):
    """Too many of the set's drives are missing to do the job."""


class IncompleteError(Error):
    """The set's pack never finished: re-run the pack."""


class ResourceExhaustedError(Error):
    """A drive is full, or out of memory or file handles."""


class DriveIOError(Error):
    """The operating system refused a read or a write."""


_BY_CODE = {
    "invalid argument": InvalidArgumentError,
    "not found": NotFoundError,
    "key problem": PermissionDeniedError,
    "data loss": DataLossError,
    "corruption": CorruptionError,
    "unavailable": UnavailableError,
    "incomplete pack": IncompleteError,
    "resource exhausted": ResourceExhaustedError,
    "I/O error": DriveIOError,
}


def class_for(code):
    """The class raised for a C++ status code name (used by the module)."""
    return _BY_CODE.get(code, Error)
