"""Atomic file writes: a reader sees the old file or the whole new one, never half of one.

Each writer writes to a temporary file in the destination's folder, flushes it to disk, then moves it
over the destination with :func:`os.replace` (atomic on POSIX and Windows when both paths are on one file
system, which a shared folder guarantees). If anything fails before the move, the temporary file is
removed and the destination is left as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "atomic_save_npz",
    "atomic_write_bytes",
]

_MAX_NAME_TRIES = 100


@contextlib.contextmanager
def _atomic_open(path: str | os.PathLike[str], mode: str, **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit move it onto ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # os.open with mode 0o666 lets the umask set the permissions, as a plain open() would
    # (tempfile.mkstemp would leave the final file readable by its owner only).
    for _ in range(_MAX_NAME_TRIES):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 48 random bits
        raise FileExistsError(f"Could not create a temporary file beside {path}.")
    try:
        try:
            file = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:
            os.close(fd)
            raise
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically, creating parent folders.

    Parameters
    ----------
    path :
        Destination file; replaced if it exists.
    data :
        The bytes to write (any bytes-like object).

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"`data` must be bytes-like. Got an object of type {type(data).__name__}.")
    with _atomic_open(path, "wb") as file:
        file.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, creating parent folders.

    Parameters
    ----------
    path :
        Destination file; replaced if it exists.
    text :
        The text to write, unchanged (no newline is added).
    encoding :
        Text encoding.

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str. Got an object of type {type(text).__name__}.")
    with _atomic_open(path, "w", encoding=encoding, newline="") as file:
        file.write(text)
    return Path(path)


def _to_builtin(obj: Any) -> Any:
    """Recursively turn numpy scalars and arrays (values and dict keys) into Python objects."""
    if isinstance(obj, Mapping):
        return {_to_builtin(key): _to_builtin(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_builtin(value) for value in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return obj.tolist()  # .tolist() on a numpy scalar returns the matching Python scalar
    return obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write ``obj`` as JSON (indent 2, keys in their given order) to ``path`` atomically.

    Numpy arrays become (nested) lists and numpy scalars become Python numbers or bools, in values and in
    dictionary keys. The file ends with a newline.

    Parameters
    ----------
    path :
        Destination file; replaced if it exists.
    obj :
        Anything :func:`json.dump` accepts once numpy types are converted.

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.

    Raises
    ------
    TypeError
        If ``obj`` holds something JSON cannot represent; ``path`` is then left as it was.
    """
    converted = _to_builtin(obj)
    with _atomic_open(path, "w", encoding="utf-8", newline="\n") as file:
        json.dump(converted, file, indent=2, sort_keys=False, ensure_ascii=False)
        file.write("\n")
    return Path(path)


def atomic_save_npz(path: str | os.PathLike[str], **arrays: ArrayLike) -> Path:
    """Save ``arrays`` to a compressed ``.npz`` file at ``path`` atomically.

    Unlike :func:`numpy.savez_compressed`, ``.npz`` is not appended to ``path``: the file is written
    exactly where asked.

    Parameters
    ----------
    path :
        Destination file; replaced if it exists.
    **arrays :
        Arrays stored under their keyword names. Object arrays are refused so the file loads with
        ``allow_pickle=False``.

    Returns
    -------
    path :
        The destination as a :class:`~pathlib.Path`.
    """
    if not arrays:
        raise ValueError("`atomic_save_npz` needs at least one array, e.g. atomic_save_npz(path, x=x).")
    converted = {}
    for name, value in arrays.items():
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            raise TypeError(
                f"Array `{name}` has dtype object, which would need pickle to load. Convert it to a "
                "numeric or string dtype first."
            )
        converted[name] = arr
    with _atomic_open(path, "wb") as file:
        np.savez_compressed(file, **converted)
    return Path(path)
