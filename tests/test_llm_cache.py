"""The cache of LLM answers: fingerprints that fold run noise, and a SQLite file that never breaks a run."""
from __future__ import annotations

import pytest

from azura.analyze.cache import AnswerCache, fingerprint, normalise


@pytest.mark.parametrize("first, second", [
    ("2026-11-21T09:56:47.1234567Z Build FAILED", "2025-01-02T23:01:00.5Z Build FAILED"),
    ("commit 3f2a9c1d8e7b6a5 broke it", "commit 9e8d7c6b5a4f321 broke it"),
    ("took 12.5 s on agent 42", "took 3.0 s on agent 7"),
    ("[10:03:12] step failed", "[23:59:01] step failed"),
])
def test_normalise_folds_run_specific_noise(first, second):
    assert normalise(first) == normalise(second)


@pytest.mark.parametrize("first, second", [
    ("error CS1002: ; expected", "error TS1002: ; expected"),
    ("npm ERR! missing script: build", "npm ERR! missing script: test"),
    ("the file was defaced", "the file was replaced"),
])
def test_normalise_keeps_words_that_tell_failures_apart(first, second):
    assert normalise(first) != normalise(second)


def test_fingerprint_changes_with_model_and_provider():
    texts = ["error CS1002"]
    keys = {fingerprint(("1", "openai", "gpt-4o-mini", ""), texts),
            fingerprint(("1", "openai", "gpt-4.1", ""), texts),
            fingerprint(("1", "ollama", "gpt-4o-mini", ""), texts),
            fingerprint(("2", "openai", "gpt-4o-mini", ""), texts)}
    assert len(keys) == 4


def test_fingerprint_is_the_same_for_a_rerun_of_the_same_failure():
    parts = ("1", "openai", "gpt-4o-mini", "")
    assert fingerprint(parts, ["120 | 2026-01-01T00:00:00Z error at 0x7ffe12ab"]) == \
        fingerprint(parts, ["987 | 2026-03-04T05:06:07Z error at 0x7ffe99cd"])


def test_cache_returns_what_was_stored(tmp_path):
    cache = AnswerCache(str(tmp_path / "sub" / "cache.sqlite3"))
    cache.put("k", {"headline": "h", "failures": []})
    assert cache.get("k") == {"headline": "h", "failures": []}
    assert cache.get("other") is None


def test_cache_without_a_path_never_hits(tmp_path):
    cache = AnswerCache(None)
    cache.put("k", {"a": 1})
    assert cache.get("k") is None


def test_unreadable_cache_file_is_a_miss_not_an_error(tmp_path):
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cache = AnswerCache(str(path))
    cache.put("k", {"a": 1})
    assert cache.get("k") is None


def test_cache_in_an_unwritable_place_is_ignored(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = AnswerCache(str(blocker / "cache.sqlite3"))
    cache.put("k", {"a": 1})
    assert cache.get("k") is None
