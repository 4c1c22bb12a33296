"""The queue's database file: where it lives, its schema, and opening it safely.

The file is `$TUI_TRAINER_QUEUE_DB`, else `$XDG_STATE_HOME/tui-trainer/queue.db`
(`~/.local/state/tui-trainer/queue.db` when the variable is unset), private (0600), in WAL mode
with a busy timeout. A file there that is not a queue database (damaged, another program's, a
newer version's) is refused with one line that names it and says how to move it aside; it is
never overwritten or "repaired". A database another process is creating or holds is waited for.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from tui_trainer.atomic import PRIVATE_DIR, PRIVATE_FILE
from tui_trainer.errors import UserError

DB_ENV = "TUI_TRAINER_QUEUE_DB"
"""Environment variable naming the queue database file (overrides the XDG location)."""
DB_NAME = "queue.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    preset TEXT NOT NULL,
    overrides TEXT NOT NULL,
    out TEXT NOT NULL,
    gpus INTEGER NOT NULL,
    per_gpu INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    position REAL NOT NULL,
    run_dir TEXT,
    gpu_ids TEXT NOT NULL,
    pid INTEGER,
    attempts INTEGER NOT NULL,
    exit_code INTEGER,
    error TEXT,
    sweep TEXT,
    trial INTEGER,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    peak_mem_mb REAL,
    cwd TEXT NOT NULL,
    name TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs (sweep);
CREATE TABLE IF NOT EXISTS sweeps (
    name TEXT PRIMARY KEY,
    preset TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    monitor TEXT NOT NULL,
    mode TEXT NOT NULL,
    created REAL NOT NULL
);
"""


def state_dir() -> Path:
    """The queue's folder: `$XDG_STATE_HOME/tui-trainer` (XDG base directory rules)."""
    base = os.environ.get("XDG_STATE_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "state"
    return root / "tui-trainer"


def default_path() -> Path:
    """The queue database this user's commands share (`TUI_TRAINER_QUEUE_DB` wins)."""
    env = os.environ.get(DB_ENV, "").strip()
    return Path(env).expanduser() if env else state_dir() / DB_NAME


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLite's "database is locked" / "busy": another connection holds a lock for now."""
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def refusal(path: Path, why: str) -> UserError:
    """The one line that refuses a file that is not this queue's database (nothing changed)."""
    return UserError(
        f"{why}; nothing was changed. Move it aside (mv '{path}' "
        f"'{path}.bad') and the queue starts empty",
        location=str(path),
    )


def open_database(path: Path) -> sqlite3.Connection:
    """Open (creating it, private) the queue database at `path`, in WAL mode with its schema;
    a file that is not a queue database is refused, untouched; one another process is creating
    or holds is waited for."""
    try:
        path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE))
    except OSError as exc:
        raise UserError(
            f"cannot create the queue database: {exc.strerror or exc}",
            location=str(path),
        ) from None
    if path.is_dir():
        raise refusal(path, "a folder is in the way (expected the queue database file)")
    try:
        conn = sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise UserError(f"cannot open the queue database: {exc}", location=str(path)) from None
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            _prepare(path, conn)
            return conn
        except UserError:
            conn.close()
            raise
        except sqlite3.OperationalError as exc:
            # Another process holds the database (creating it, switching it to WAL): wait
            # and read again. A locked database is busy, never "not a queue database".
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if _busy(exc) and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            conn.close()
            if _busy(exc):
                raise UserError(
                    f"the queue database stayed locked by another process for "
                    f"{BUSY_TIMEOUT_MS // 1000} s; nothing was changed, try again",
                    location=str(path),
                ) from None
            raise refusal(path, f"not a queue database ({exc})") from None
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise refusal(path, f"not a queue database ({exc})") from None


def _prepare(path: Path, conn: sqlite3.Connection) -> None:
    # Read before anything writes: a file that is not SQLite fails here, untouched.
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables and "meta" not in tables:
        raise refusal(path, "an SQLite database that is not the queue's")
    if tables:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row and str(row[0]).isdigit() else None
        if version is None:
            raise refusal(path, "a queue database without a schema version")
        if version > SCHEMA_VERSION:
            raise UserError(
                f"queue database version {version} is newer than this tui-trainer's "
                f"({SCHEMA_VERSION}); upgrade tui-trainer",
                location=str(path),
            )
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    if not tables:
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
