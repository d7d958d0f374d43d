"""A local SQLite cache of validated LLM answers, so the same failure is not paid for twice.

The key is a fingerprint of what the model would see with run-specific noise folded away (numbers, hex
ids, timestamps), plus provider, model, endpoint and prompt version. A cache that cannot be read or
written is a miss, never an error: the cache saves money, it must not cost a run.
"""
from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from pathlib import Path
from typing import Optional, Sequence

# Run-specific noise, folded in this order: timestamps before the numbers inside them, hex ids (with at
# least one digit, so words like "defaced" survive) before plain digit runs.
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_CLOCK = re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b")
_HEX = re.compile(r"\b(?:0x)?(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{7,}\b")
_DIGITS = re.compile(r"\d+")


def normalise(text: str) -> str:
    """Return `text` with timestamps, hex ids and numbers folded, so reruns of a failure look alike."""
    text = _TIMESTAMP.sub("<time>", text)
    text = _CLOCK.sub("<time>", text)
    text = _HEX.sub("<hex>", text)
    return _DIGITS.sub("0", text)


def fingerprint(parts: Sequence[str], texts: Sequence[str]) -> str:
    """Return the cache key for exact `parts` (provider, model, ...) and normalised `texts` (the prompt)."""
    document = json.dumps([list(parts), [normalise(text) for text in texts]], ensure_ascii=False)
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class AnswerCache:
    """Validated answers by fingerprint in one SQLite file; `path=None` is a cache that never hits."""

    def __init__(self, path: Optional[str], clock=time.time):
        self.path = path
        self.clock = clock

    def get(self, key: str) -> Optional[dict]:
        """Return the stored answer for `key`, or None."""
        if not self.path or not Path(self.path).is_file():
            return None
        try:
            row = self._execute("SELECT answer FROM answers WHERE key = ?", (key,))
            return json.loads(row[0]) if row else None
        except (sqlite3.Error, OSError, ValueError):
            return None

    def put(self, key: str, answer: dict) -> None:
        """Store `answer` under `key`, replacing an older one; failures are ignored."""
        if not self.path:
            return
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._execute("INSERT OR REPLACE INTO answers (key, answer, stored_at) VALUES (?, ?, ?)",
                          (key, json.dumps(answer, ensure_ascii=False), self.clock()))
        except (sqlite3.Error, OSError):
            return

    def _execute(self, sql: str, parameters: tuple) -> Optional[tuple]:
        # Parallel pipeline jobs may share the file; a short busy timeout beats a failed write.
        connection = sqlite3.connect(self.path, timeout=2.0)
        try:
            with connection:
                connection.execute("CREATE TABLE IF NOT EXISTS answers "
                                   "(key TEXT PRIMARY KEY, answer TEXT NOT NULL, stored_at REAL NOT NULL)")
                return connection.execute(sql, parameters).fetchone()
        finally:
            connection.close()
