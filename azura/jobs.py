"""Background analyses and chat conversations, kept in one SQLite file so a server restart loses neither.

A job is claimed by one process at a time (an atomic UPDATE on its status), so several gunicorn workers
sharing the file never run the same job twice. The process running a job beats its heart in the file every
few seconds; a job whose heart stopped (its process was killed or hangs) is run again by a live process, once,
and then fails with the reason, so no job stays `running` for ever.

The file holds pasted logs, so it is private: created 0600 in a 0700 folder, the request body (already
redacted by the server) deleted as soon as its job ends, deleted pages overwritten, and the whole store
kept under a size cap.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Set

from azura.errors import AzuraError, ConfigError, ServerBusy

Clock = Callable[[], float]
log = logging.getLogger("azura.server")
Work = Callable[[Dict[str, Any], Callable[[float, str], None]], Dict[str, Any]]

HEARTBEAT_SECONDS = 5.0
STALE_HEARTBEATS = 6  # a job unheard of for this many heartbeats has lost its process
MAX_ATTEMPTS = 2  # a job whose process died is run once more; a second death is the job's own doing

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,          -- queued, running, done, failed
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,         -- JSON, redacted; emptied when the job ends
    result TEXT,                   -- JSON
    error TEXT,
    owner TEXT,                    -- pid of the process running it
    created REAL NOT NULL,
    updated REAL NOT NULL,         -- the running process's heartbeat
    finished REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL                   -- when the current attempt began
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    messages TEXT NOT NULL,        -- JSON list of {role, content}: questions and answers, no tool output
    updated REAL NOT NULL
);
"""
_ADDED_COLUMNS = {"attempts": "INTEGER NOT NULL DEFAULT 0", "started": "REAL"}  # stores made by earlier versions


@dataclass(frozen=True)
class Job:
    """What a client sees of a background analysis."""

    id: str
    status: str
    progress: float
    message: str
    created: float
    updated: float
    result: Optional[Dict[str, Any]] = None
    error: Optional[str] = None

    def to_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "progress": round(self.progress, 2),
                "message": self.message, "created": self.created, "updated": self.updated,
                "result": self.result, "error": self.error}


class JobStore:
    """The SQLite file of jobs and conversations; every call opens its own short connection.

    Args:
        stale_after: seconds without a heartbeat after which a running job's process counts as gone.
        max_runtime: seconds after which a running job no longer beats, so it fails as too slow.
        max_bytes: the most the stored requests, results and conversations may hold together.
    """

    def __init__(self, path: str, ttl: float, stale_after: float, clock: Clock = time.time,
                 max_runtime: Optional[float] = None, max_bytes: Optional[int] = None):
        self.path, self.ttl, self.stale_after, self.clock = path, ttl, stale_after, clock
        self.max_runtime, self.max_bytes = max_runtime, max_bytes
        try:
            _create_private(Path(path))
            with self._connect() as db:
                db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # takes effect in a new file: freed pages go back
                db.executescript(_SCHEMA)
                present = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
                for column, kind in _ADDED_COLUMNS.items():
                    if column not in present:
                        db.execute(f"ALTER TABLE jobs ADD COLUMN {column} {kind}")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"the jobs database {path} (AZURA_JOBS_DB) cannot be opened: {exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.execute("PRAGMA secure_delete=ON")  # a deleted log is overwritten, not left in free pages
            yield db
        finally:
            db.close()

    # ---------------------------------------------------------------- jobs

    def add(self, request: Dict[str, Any]) -> str:
        """Store a new queued job and return its id; raise ServerBusy when the store is full."""
        body = json.dumps(request)
        self.expire()
        if self.max_bytes is not None and self.stored_bytes() + len(body) > self.max_bytes:
            raise ServerBusy(f"the job store is full ({self.max_bytes:,} bytes, AZURA_JOBS_MAX_BYTES): try again "
                             "when running jobs have finished")
        job_id = uuid.uuid4().hex
        now = self.clock()
        with self._connect() as db:
            db.execute("INSERT INTO jobs (id, status, message, request, created, updated) "
                       "VALUES (?, 'queued', 'queued', ?, ?, ?)", (job_id, body, now, now))
        return job_id

    def stored_bytes(self) -> int:
        """Return the bytes of requests, results and conversations in the store."""
        with self._connect() as db:
            jobs = db.execute("SELECT COALESCE(SUM(LENGTH(request) + COALESCE(LENGTH(result), 0) "
                              "+ COALESCE(LENGTH(error), 0)), 0) FROM jobs").fetchone()[0]
            talks = db.execute("SELECT COALESCE(SUM(LENGTH(messages)), 0) FROM conversations").fetchone()[0]
        return int(jobs) + int(talks)

    def claim(self, job_id: str) -> Optional[Dict[str, Any]]:
        """Mark a queued job running for this process and return its request, or None if another took it."""
        now = self.clock()
        with self._connect() as db:
            claimed = db.execute("UPDATE jobs SET status='running', owner=?, updated=?, started=?, message='started', "
                                 "attempts=attempts+1 WHERE id=? AND status='queued'",
                                 (str(os.getpid()), now, now, job_id))
            if claimed.rowcount != 1:
                return None
            row = db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone()
        return json.loads(row[0])

    def report(self, job_id: str, progress: float, message: str) -> None:
        """Record how far a running job has come."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET progress=?, message=?, updated=? WHERE id=? AND status='running' AND owner=?",
                       (progress, message, self.clock(), job_id, str(os.getpid())))

    def beat(self, job_ids: Set[str]) -> None:
        """Record that this process still runs these jobs; a job past max_runtime gets no more beats."""
        if not job_ids:
            return
        now = self.clock()
        oldest = now - self.max_runtime if self.max_runtime is not None else float("-inf")
        with self._connect() as db:
            db.executemany("UPDATE jobs SET updated=? WHERE id=? AND status='running' AND owner=? AND started>=?",
                           [(now, job_id, str(os.getpid()), oldest) for job_id in job_ids])

    def finish(self, job_id: str, result: Optional[Dict[str, Any]], error: Optional[str]) -> None:
        """Store the outcome of a job run by this process, and delete its request: the pasted log is done with."""
        now = self.clock()
        status = "failed" if error is not None else "done"
        with self._connect() as db:
            db.execute("UPDATE jobs SET status=?, progress=1, message=?, result=?, error=?, updated=?, finished=?, "
                       "request='' WHERE id=? AND status='running' AND owner=?",
                       (status, status, None if result is None else json.dumps(result), error, now, now, job_id,
                        str(os.getpid())))
            _release(db)

    def get(self, job_id: str) -> Optional[Job]:
        """Return the job, or None when it never existed or has expired."""
        self.expire()
        with self._connect() as db:
            row = db.execute("SELECT id, status, progress, message, created, updated, result, error "
                             "FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            return None
        return Job(id=row[0], status=row[1], progress=row[2], message=row[3], created=row[4], updated=row[5],
                   result=json.loads(row[6]) if row[6] else None, error=row[7])

    def expire(self) -> int:
        """Delete finished jobs and idle conversations older than the TTL; return how many jobs went."""
        cutoff = self.clock() - self.ttl
        with self._connect() as db:
            gone = db.execute("DELETE FROM jobs WHERE finished IS NOT NULL AND finished < ?", (cutoff,)).rowcount
            talks = db.execute("DELETE FROM conversations WHERE updated < ?", (cutoff,)).rowcount
            if gone or talks:
                _release(db)
        return gone

    def orphans(self) -> List[str]:
        """Queue again the jobs nobody runs and return their ids; fail those that cannot be run again.

        A job is nobody's when it is queued, or running in a process that is gone (same machine) or silent for
        `stale_after` seconds. One that already had MAX_ATTEMPTS, or ran past `max_runtime`, fails instead:
        running it again would only stop the next process the same way.
        """
        now = self.clock()
        stale = now - self.stale_after
        with self._connect() as db:
            rows = db.execute("SELECT id, status, owner, updated, attempts, started FROM jobs "
                              "WHERE status IN ('queued', 'running') ORDER BY created").fetchall()
            orphaned = []
            for job_id, status, owner, updated, attempts, started in rows:
                if status == "queued":
                    orphaned.append(job_id)
                    continue
                if updated >= stale and _process_alive(owner):
                    continue
                reason = self._give_up_reason(attempts, started, now)
                if reason:
                    db.execute("UPDATE jobs SET status='failed', progress=1, message='failed', error=?, "
                               "updated=?, finished=?, request='' WHERE id=? AND status='running' AND updated=?",
                               (reason, now, now, job_id, updated))
                elif db.execute("UPDATE jobs SET status='queued', owner=NULL, progress=0, message='queued again: "
                                "the process running it stopped' WHERE id=? AND status='running' AND updated=?",
                                (job_id, updated)).rowcount:
                    orphaned.append(job_id)
            _release(db)
        return orphaned

    def _give_up_reason(self, attempts: int, started: Optional[float], now: float) -> Optional[str]:
        if self.max_runtime is not None and started is not None and now - started > self.max_runtime:
            return (f"the analysis did not finish within {self.max_runtime:g} s and its worker stopped answering; "
                    "see the server log")
        if attempts >= MAX_ATTEMPTS:
            return (f"the server process running this job stopped {attempts} times (killed, or out of memory?); "
                    "the job was given up, see the server log")
        return None

    # ---------------------------------------------------------------- conversations

    def conversation(self, conversation_id: str) -> Optional[List[Dict[str, str]]]:
        """Return the messages of a conversation, or None when it is unknown or expired."""
        self.expire()
        with self._connect() as db:
            row = db.execute("SELECT messages FROM conversations WHERE id=?", (conversation_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def save_conversation(self, conversation_id: Optional[str], messages: List[Dict[str, str]]) -> str:
        """Store the messages under the id (a new id when None) and return the id."""
        conversation_id = conversation_id or uuid.uuid4().hex
        with self._connect() as db:
            db.execute("INSERT INTO conversations (id, messages, updated) VALUES (?, ?, ?) "
                       "ON CONFLICT(id) DO UPDATE SET messages=excluded.messages, updated=excluded.updated",
                       (conversation_id, json.dumps(messages), self.clock()))
        return conversation_id


def _create_private(path: Path) -> None:
    """Create the store's folder (0700) and file (0600) if missing, and tighten a file others could read."""
    if not path.parent.is_dir():
        path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    if path.stat().st_mode & 0o077 and path.stat().st_uid == os.getuid():
        os.chmod(path, 0o600)


def _release(db: sqlite3.Connection) -> None:
    """Give deleted pages back to the file system and empty the write-ahead log, which still holds old pages."""
    db.execute("PRAGMA incremental_vacuum")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _process_alive(owner: Optional[str]) -> bool:
    if not owner or not owner.isdigit():
        return False
    pid = int(owner)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


class JobRunner:
    """Runs claimed jobs on a few threads of this process, beats their hearts, and records their outcome.

    Every `heartbeat` seconds it also takes up the jobs other processes left (`JobStore.orphans`).
    """

    def __init__(self, store: JobStore, work: Work, workers: int = 2, heartbeat: float = HEARTBEAT_SECONDS):
        self.store, self.work, self.heartbeat = store, work, heartbeat
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azura-job")
        self._running: Set[str] = set()  # claimed here and not finished
        self._submitted: Set[str] = set()  # handed to the pool and not yet over, claimed or not
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beating: Optional[threading.Thread] = None

    def submit(self, request: Dict[str, Any]) -> str:
        """Queue a job, start it on this process, and return its id."""
        job_id = self.store.add(request)
        self._start(job_id)
        return job_id

    def resume(self) -> List[str]:
        """Start every job nobody runs (queued, or left by a process that stopped); return their ids."""
        orphaned = self.store.orphans()
        for job_id in orphaned:
            self._start(job_id)
        return orphaned

    def _start(self, job_id: str) -> None:
        with self._lock:
            if job_id in self._submitted:  # already waiting for a thread of this process
                return
            self._submitted.add(job_id)
        self._pool.submit(self._run, job_id)

    def start_heartbeat(self) -> None:
        """Beat for this process's jobs and take up abandoned ones, on a daemon thread, until shutdown."""
        self._beating = threading.Thread(target=self._beat_until_stopped, name="azura-heartbeat", daemon=True)
        self._beating.start()

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                with self._lock:
                    running = set(self._running)
                self.store.beat(running)
                self.resume()
            except Exception:  # noqa: BLE001 - a locked or vanished file must not stop the heartbeat for good
                log.exception("job heartbeat failed")

    def _run(self, job_id: str) -> None:
        request = self.store.claim(job_id)
        with self._lock:
            if request is None:
                self._submitted.discard(job_id)
                return
            self._running.add(job_id)
        try:
            result = self.work(request, lambda progress, message: self.store.report(job_id, progress, message))
        except AzuraError as exc:
            self.store.finish(job_id, None, str(exc))
        except Exception:  # noqa: BLE001 - a bug must fail the job, not leave it running forever
            log.exception("job %s failed", job_id)
            self.store.finish(job_id, None, "internal error while analysing; see the server log")
        else:
            self.store.finish(job_id, result, None)
        finally:
            with self._lock:
                self._running.discard(job_id)
                self._submitted.discard(job_id)

    def shutdown(self) -> None:
        """Stop taking jobs; running ones finish, queued ones are resumed by the next process."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
