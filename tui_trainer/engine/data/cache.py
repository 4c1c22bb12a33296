"""Decoded, resized uint8 samples kept so that only the first epoch pays for decoding.

- `RamCache`: one (N, C, S, S) uint8 tensor in this process, filled as batches arrive; once an
  epoch's samples are all in it, batches are sliced from it with no DataLoader at all.
- `DiskCache`: one file per sample under a cache folder, reused by later runs. The file name is
  a hash of everything that changes the stored array: the file's real path, size and mtime
  (its mask's too), the geometry and the decoding version. Writes go to a temporary file that
  is renamed into place (atomic on POSIX), and every file carries a CRC-32 of its bytes, so a
  run killed mid-write, a full disk or a damaged file is a cache miss, never wrong pixels.

The default folder is `$TUI_TRAINER_CACHE`, else `$XDG_CACHE_HOME/tui-trainer/images`, else
`~/.cache/tui-trainer/images`; `data.cache_dir` overrides it. Deleting the folder clears it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zlib
from pathlib import Path

import numpy as np
import torch

MAGIC = b"TTC1"
VERSION = "2"  # bump when decoding changes what is stored (2: EXIF orientation, 16-bit)


def default_cache_dir() -> Path:
    """Where `data.cache=disk` keeps samples unless `data.cache_dir` says otherwise."""
    if os.environ.get("TUI_TRAINER_CACHE"):
        return Path(os.environ["TUI_TRAINER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tui-trainer" / "images"


def file_identity(path: Path) -> str:
    """Real path, size and mtime of a file: changes whenever the file does."""
    st = os.stat(path)
    return f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"


class DiskCache:
    """Per-sample files of raw uint8 bytes with a CRC, keyed by `file_identity` + geometry."""

    def __init__(self, folder: Path, shape: tuple[int, ...]) -> None:
        self.folder = Path(folder)
        self.shape = tuple(shape)
        self.nbytes = int(np.prod(shape))

    def path_for(self, identity: str) -> Path:
        """The cache file of a sample whose inputs are described by `identity`."""
        digest = hashlib.sha256(f"{VERSION}|{self.shape}|{identity}".encode()).hexdigest()
        return self.folder / digest[:2] / f"{digest[2:32]}.u8"

    def get(self, identity: str) -> np.ndarray | None:
        """The stored array, or None when absent, truncated or damaged."""
        try:
            blob = self.path_for(identity).read_bytes()
        except OSError:
            return None
        if len(blob) != 8 + self.nbytes or blob[:4] != MAGIC:
            return None
        payload = blob[8:]
        if zlib.crc32(payload).to_bytes(4, "little") != blob[4:8]:
            return None
        return np.frombuffer(payload, dtype=np.uint8).reshape(self.shape)

    def put(self, identity: str, array: np.ndarray) -> None:
        """Store `array` atomically; a failed write (full disk, read-only) is just no cache."""
        payload = np.ascontiguousarray(array, dtype=np.uint8).tobytes()
        if len(payload) != self.nbytes:
            return
        target = self.path_for(identity)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC + zlib.crc32(payload).to_bytes(4, "little") + payload)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            pass


class RamCache:
    """Samples of one source in memory: `data[i]` is valid where `filled[i]`; `bad` by index."""

    def __init__(self, n: int, shape: tuple[int, ...]) -> None:
        self.data = torch.empty((n, *shape), dtype=torch.uint8)
        self.filled = torch.zeros(n, dtype=torch.bool)
        self.tried = torch.zeros(n, dtype=torch.bool)  # looked up in a disk cache already
        self.bad: dict[int, str] = {}

    def has_all(self, indices: torch.Tensor) -> bool:
        """True when every one of `indices` is stored or known to be bad."""
        done = self.filled[indices]
        if bool(done.all()):
            return True
        return all(int(i) in self.bad for i in indices[~done])

    def store(self, indices: torch.Tensor, batch: torch.Tensor) -> None:
        """Keep a decoded batch (uint8, on the CPU)."""
        self.data[indices] = batch
        self.filled[indices] = True


def ram_bytes(n: int, shape: tuple[int, ...]) -> int:
    """Bytes a RamCache of `n` samples of `shape` needs."""
    return n * int(np.prod(shape))


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def available_memory() -> int:
    """Memory this process could still use (bytes), from the OS."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # pragma: no cover - psutil is a dependency
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
