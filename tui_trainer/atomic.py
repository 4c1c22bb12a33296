"""Atomic file writes: a temp file in the same folder, fsynced, renamed, the folder fsynced.

The one implementation behind checkpoints, summary.json, metrics.csv and config.yaml.

Files are private: a new file is created 0600 (owner read/write), whatever the umask, so run
files on a shared machine are the owner's alone (docs/reliability.md: "Who can read a run").
A file being replaced keeps its mode (a user who opened one up keeps it open).

A crash, a kill or a full disk at any moment leaves the target either its old or its new complete
content, never half a file. A failed write removes its temp file and raises the real `OSError`
(ENOSPC, EDQUOT, EROFS ...), also when the bytes come from a serializer such as `torch.save`
that would otherwise report a full disk as an unrelated RuntimeError.

Parent folders are never created here: a run directory that disappeared mid-run must be noticed
by its owner, not silently recreated half-empty.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, cast

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


PRIVATE_FILE = 0o600
"""The mode of every new file a run writes (temp files are created with it, too)."""
PRIVATE_DIR = 0o700
"""The mode of a run directory and its sub-folders."""


def is_no_space(exc: BaseException) -> bool:
    """Whether `exc` is a full disk or an exhausted quota."""
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def describe_os_error(exc: OSError) -> str:
    """A short reason: `no space left on device`, `read-only file system`, ..."""
    if exc.errno is not None and exc.errno in NO_SPACE:
        return "no space left on device"
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


class _RawWriter:
    """A file object over a raw descriptor that remembers the OSError a write raised."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.error: OSError | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        total = len(view)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError as exc:
            self.error = exc
            raise
        return total

    def flush(self) -> None:
        """Nothing is buffered."""


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new entry in `folder` durable (best effort where unsupported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, produce: Callable[[BinaryIO], None]) -> None:
    """Replace `path` with what `produce(fileobj)` writes; the old file stays on any failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    writer = _RawWriter(fd)
    with _published(Path(tmp), path):
        try:
            try:
                mode = os.stat(path).st_mode & 0o7777  # keep the mode of the file replaced
            except FileNotFoundError:
                mode = PRIVATE_FILE
            os.fchmod(fd, mode)
            produce(cast(BinaryIO, writer))
            os.fsync(fd)
        except Exception as exc:
            if writer.error is not None and writer.error is not exc:
                raise writer.error from None  # the serializer wrapped the real cause
            raise
        finally:
            os.close(fd)


@contextlib.contextmanager
def _published(tmp: Path, path: Path) -> Iterator[None]:
    """The block fills `tmp`; then `tmp` is renamed onto `path` and the rename made durable.
    On any failure (in the block or the rename) `tmp` is removed and the error raised."""
    try:
        yield
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`."""

    def produce(fh: BinaryIO) -> None:
        fh.write(data)

    atomic_write(path, produce)


def atomic_write_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_link(source: Path, path: Path) -> None:
    """Make `path` name the same file as `source` (a hard link, no extra space), atomically.

    Where hard links are not supported the bytes are copied through `atomic_write`.
    """
    source, path = Path(source), Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.link.tmp")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    try:
        os.link(source, tmp)
    except OSError as exc:
        if exc.errno not in (
            errno.EPERM,
            errno.EXDEV,
            errno.EMLINK,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
        ):
            raise
        atomic_write_bytes(path, source.read_bytes())
        return
    with _published(tmp, path):
        pass  # the link is the whole content
