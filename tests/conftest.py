import os
import tempfile

import pytest


def pytest_configure(config):
    # The SDK fixes its file cache folder when azure.devops is first imported; keep it out of HOME.
    os.environ.setdefault("AZURE_DEVOPS_CACHE_DIR", tempfile.mkdtemp(prefix="azura-sdk-cache-"))


@pytest.fixture
def make_log(tmp_path):
    """Return create(lines | bytes, name=..., encoding=..., newline=...) -> path of a log file in tmp_path."""

    def create(content, name="build.log", encoding="utf-8", newline="\n"):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_bytes(newline.join(content).encode(encoding) + newline.encode(encoding))
        return path

    return create


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Each test runs in its own folder, so ./azura-report, ./.env and ./azura.yml never leak between tests."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def without_cached_matchers():
    """The scan's finders and classifier sets are built once per set of patterns; a test that takes google-re2
    away (monkeypatch sys.modules) must not be handed the ones built with it, before or after."""
    from azura.analyze import patterns, signatures
    from azura.excerpt import anchors, scan

    def clear():
        patterns.pattern_filter.cache_clear()
        signatures.signature_set.cache_clear()
        scan.compile_finder.cache_clear()
        scan._re2_compiles.cache_clear()
        anchors._slots.cache_clear()

    clear()
    yield
    clear()
