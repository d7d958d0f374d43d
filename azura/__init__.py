"""Azura: why did the pipeline fail, and what to do now."""

__version__ = "0.2.0"
DISTRIBUTION = "azura-pipelines"  # the name on the package index; `azura` there is an unrelated project


def extra_install_command(extra: str) -> str:
    """Return the pip command that adds `extra` to this install, from where Azura was installed (PEP 610)."""
    import json
    from importlib import metadata
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    try:
        origin = json.loads(metadata.distribution(DISTRIBUTION).read_text("direct_url.json") or "null")
    except (metadata.PackageNotFoundError, ValueError):
        origin = None
    if not isinstance(origin, dict) or not isinstance(origin.get("url"), str):
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    url = origin["url"]
    vcs = origin.get("vcs_info")
    if isinstance(vcs, dict) and isinstance(vcs.get("vcs"), str):
        revision = f"@{vcs['commit_id']}" if isinstance(vcs.get("commit_id"), str) else ""
        return f"pip install '{DISTRIBUTION}[{extra}] @ {vcs['vcs']}+{url}{revision}'"
    if urlsplit(url).scheme == "file" and isinstance(origin.get("dir_info"), dict):
        editable = "-e " if origin["dir_info"].get("editable") else ""
        return f"pip install {editable}'{url2pathname(urlsplit(url).path)}[{extra}]'"
    return f"pip install '{DISTRIBUTION}[{extra}] @ {url}'"
