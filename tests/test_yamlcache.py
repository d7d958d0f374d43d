import hashlib
import json
import os

import pytest

from azura.yamlcache import FORMAT, load_yaml


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = tmp_path / "kb.yml"
    path.write_text("- id: one\n  pattern: 'x+'\n", encoding="utf-8")
    return path


def _cache_file(tmp_path, path):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return tmp_path / "cache" / "azura" / "parsed" / f"{path.stem}-{digest[:32]}.json", digest


def test_a_parsed_file_is_read_back_from_its_cache(tmp_path, source):
    load_yaml(source)
    cached, digest = _cache_file(tmp_path, source)
    cached.write_text(json.dumps({"format": FORMAT, "sha256": digest, "document": ["from the cache"]}))
    assert load_yaml(source) == ["from the cache"]


def test_an_edited_file_is_parsed_again(tmp_path, source):
    load_yaml(source)
    source.write_text("- id: two\n", encoding="utf-8")
    assert load_yaml(source) == [{"id": "two"}]


def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path, source):
    load_yaml(source)
    cached, _ = _cache_file(tmp_path, source)
    cached.write_text('{"format": 1, "sha2')
    assert load_yaml(source) == [{"id": "one", "pattern": "x+"}]
    assert json.loads(cached.read_text())["document"] == [{"id": "one", "pattern": "x+"}]


def test_a_cache_stamped_for_other_bytes_is_ignored(tmp_path, source):
    load_yaml(source)
    cached, _ = _cache_file(tmp_path, source)
    cached.write_text(json.dumps({"format": FORMAT, "sha256": "0" * 64, "document": ["foreign"]}))
    assert load_yaml(source) == [{"id": "one", "pattern": "x+"}]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file modes are POSIX")
def test_a_cache_file_others_may_write_to_is_ignored(tmp_path, source):
    load_yaml(source)
    cached, digest = _cache_file(tmp_path, source)
    cached.write_text(json.dumps({"format": FORMAT, "sha256": digest, "document": ["planted"]}))
    cached.chmod(0o666)
    assert load_yaml(source) == [{"id": "one", "pattern": "x+"}]


def test_invalid_yaml_is_a_value_error_naming_the_file(tmp_path, source):
    source.write_text("- [unclosed\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kb.yml is not valid YAML"):
        load_yaml(source)


def test_a_document_json_cannot_hold_is_not_cached(tmp_path, source):
    source.write_text("built: 2026-12-06\n", encoding="utf-8")
    load_yaml(source)
    cached, _ = _cache_file(tmp_path, source)
    assert not cached.exists()
