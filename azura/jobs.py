"""Background analyses and chat conversations, kept in one SQLite file so a server restart loses neither.

A job is claimed by one process at a time (an atomic UPDATE on its status), so several gunicorn workers
sharing the file never run the same job twice. A job left `queued` or `running` by a process that is gone
is taken up again by the next process that opens the store.
"""
from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

from azura.errors import AzuraError, ConfigError

Clock = Callable[[], float]
log = logging.getLogger("azura.server")
Work = Callable[[Dict[str, Any], Callable[[float, str], None]], Dict[str, Any]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,          -- queued, running, done, failed
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL,         -- JSON; pasted logs can be large, so it is read only to run the job
    result TEXT,                   -- JSON
    error TEXT,
    owner TEXT,                    -- pid of the process running it
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL
);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    messages TEXT NOT NULL,        -- JSON list of {role, content}: questions and answers, no tool output
    updated REAL NOT NULL
);
"""


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
    """The SQLite file of jobs and conversations; every call opens its own short connection."""

    def __init__(self, path: str, ttl: float, stale_after: float, clock: Clock = time.time):
        self.path, self.ttl, self.stale_after, self.clock = path, ttl, stale_after, clock
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"the jobs database {path} (AZURA_JOBS_DB) cannot be opened: {exc}") from None

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            yield db
        finally:
            db.close()

    # ---------------------------------------------------------------- jobs

    def add(self, request: Dict[str, Any]) -> str:
        """Store a new queued job and return its id."""
        job_id = uuid.uuid4().hex
        now = self.clock()
        with self._connect() as db:
            db.execute("INSERT INTO jobs (id, status, message, request, created, updated) "
                       "VALUES (?, 'queued', 'queued', ?, ?, ?)", (job_id, json.dumps(request), now, now))
        return job_id

    def claim(self, job_id: str) -> Optional[Dict[str, Any]]:
        """Mark a queued job running for this process and return its request, or None if another took it."""
        with self._connect() as db:
            claimed = db.execute("UPDATE jobs SET status='running', owner=?, updated=?, message='started' "
                                 "WHERE id=? AND status='queued'", (str(os.getpid()), self.clock(), job_id))
            if claimed.rowcount != 1:
                return None
            row = db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone()
        return json.loads(row[0])

    def report(self, job_id: str, progress: float, message: str) -> None:
        """Record how far a running job has come."""
        with self._connect() as db:
            db.execute("UPDATE jobs SET progress=?, message=?, updated=? WHERE id=? AND status='running'",
                       (progress, message, self.clock(), job_id))

    def finish(self, job_id: str, result: Optional[Dict[str, Any]], error: Optional[str]) -> None:
        """Store the outcome of a job: its result, or the error a user may read."""
        now = self.clock()
        status = "failed" if error is not None else "done"
        with self._connect() as db:
            db.execute("UPDATE jobs SET status=?, progress=1, message=?, result=?, error=?, updated=?, finished=? "
                       "WHERE id=?", (status, status, None if result is None else json.dumps(result), error,
                                      now, now, job_id))

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
            db.execute("DELETE FROM conversations WHERE updated < ?", (cutoff,))
        return gone

    def orphans(self) -> List[str]:
        """Return the ids of jobs nobody is running: queued, or running in a process that is gone or stale."""
        stale = self.clock() - self.stale_after
        with self._connect() as db:
            rows = db.execute("SELECT id, status, owner, updated FROM jobs WHERE status IN ('queued', 'running') "
                              "ORDER BY created").fetchall()
            orphaned = [job_id for job_id, status, owner, updated in rows
                        if status == "queued" or updated < stale or not _process_alive(owner)]
            for job_id in orphaned:
                db.execute("UPDATE jobs SET status='queued', owner=NULL, progress=0, message='requeued after a "
                           "restart' WHERE id=? AND status IN ('queued', 'running')", (job_id,))
        return orphaned

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
    """Runs claimed jobs on a few threads of this process and records their outcome in the store."""

    def __init__(self, store: JobStore, work: Work, workers: int = 2):
        self.store, self.work = store, work
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="azura-job")

    def submit(self, request: Dict[str, Any]) -> str:
        """Queue a job, start it on this process, and return its id."""
        job_id = self.store.add(request)
        self._pool.submit(self._run, job_id)
        return job_id

    def resume(self) -> List[str]:
        """Start again every job a previous process left unfinished; return their ids."""
        orphaned = self.store.orphans()
        for job_id in orphaned:
            self._pool.submit(self._run, job_id)
        return orphaned

    def _run(self, job_id: str) -> None:
        request = self.store.claim(job_id)
        if request is None:
            return
        try:
            result = self.work(request, lambda progress, message: self.store.report(job_id, progress, message))
        except AzuraError as exc:
            self.store.finish(job_id, None, str(exc))
        except Exception:  # noqa: BLE001 - a bug must fail the job, not leave it running forever
            log.exception("job %s failed", job_id)
            self.store.finish(job_id, None, "internal error while analysing; see the server log")
        else:
            self.store.finish(job_id, result, None)

    def shutdown(self) -> None:
        """Stop taking jobs; running ones finish, queued ones are resumed by the next process."""
        self._pool.shutdown(wait=False, cancel_futures=True)
