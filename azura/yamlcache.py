"""The bundled YAML files (the knowledge base, the secrets catalogue), parsed once per version of each.

Importing PyYAML and parsing both files costs about 30 ms, more than the rest of a small log's analysis, on every
run. The parsed document is kept as JSON in the user's cache folder, named and stamped with the SHA-256 of the
YAML it came from: an edited YAML is parsed again, and a cache file that is unreadable, corrupt, stamped for
other bytes, or that another user owns or may write to is ignored (and, if it is ours, replaced).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Optional

FORMAT = 1  # of the cache file; a file of another format is ignored


def load_yaml(path: Path) -> Any:
    """Return the document in the YAML file at `path`, from the cache when it holds this file's bytes.

    Raises OSError when the file cannot be read, ValueError when it is not valid YAML.
    """
    source = path.read_bytes()
    digest = hashlib.sha256(source).hexdigest()
    folder = cache_folder("parsed")
    cached = folder / f"{path.stem}-{digest[:32]}.json" if folder else None
    document = _read_cache(cached, digest) if cached else None
    if document is not None:
        return document["document"]
    parsed = _parse(source, path)
    if cached:
        _write_cache(cached, path.stem, digest, parsed)
    return parsed


def _parse(source: bytes, path: Path) -> Any:
    import yaml

    try:
        # libyaml's loader when PyYAML has it: ten times faster than the pure-Python one
        return yaml.load(source, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc


def cache_folder(name: str) -> Optional[Path]:
    """Return the private folder `name` in the user's cache folder, made if missing; None when there is no safe one.

    Only this user may write to it: what is read back from it is trusted (jinja2 runs its compiled templates).
    """
    from azura.context import user_cache_dir

    folder = Path(user_cache_dir(os.environ)) / name
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder if _private(folder.stat()) else None
    except OSError:
        return None


def _private(status: os.stat_result) -> bool:
    """Return whether only this user owns and may write to the file or folder."""
    if not hasattr(os, "getuid"):  # Windows: the user's profile folder is private by its ACL
        return True
    return status.st_uid == os.getuid() and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _read_cache(cached: Path, digest: str) -> Optional[dict]:
    """Return the cache file's content when it is ours, well formed and stamped with `digest`; else None."""
    try:
        with open(cached, "rb") as handle:
            if not _private(os.fstat(handle.fileno())):
                return None
            content = json.loads(handle.read())
    except (OSError, ValueError):  # missing, unreadable, or not JSON (a write cut short, another program's file)
        return None
    if (not isinstance(content, dict) or content.get("format") != FORMAT or content.get("sha256") != digest
            or "document" not in content):
        return None
    return content


def _write_cache(cached: Path, name: str, digest: str, document: Any) -> None:
    """Write the parsed document next to its stamp, whole or not at all; a document JSON would change is left out."""
    try:
        text = json.dumps({"format": FORMAT, "sha256": digest, "document": document}, ensure_ascii=False)
    except (TypeError, ValueError):  # a YAML date or a non-string key: JSON cannot hold it
        return
    if json.loads(text)["document"] != document:
        return
    import tempfile

    try:
        handle, temporary = tempfile.mkstemp(dir=cached.parent, prefix=f".{cached.stem}-", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, cached)
        except OSError:
            os.unlink(temporary)
            raise
        for stale in cached.parent.glob(f"{name}-*.json"):  # earlier versions of the same file
            if stale != cached and len(stale.stem) == len(cached.stem):
                stale.unlink()
    except OSError:  # a read-only or full disk: the next run parses the YAML again
        return
