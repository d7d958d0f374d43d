"""Where Azure Pipelines agents check the repository out, so that a path a log prints can be read from its root."""
from __future__ import annotations

import re
from typing import Optional

# $(Build.SourcesDirectory) is $(Agent.BuildDirectory)/s: /home/vsts/work/1/s, /agent/_work/3/s, D:\a\1\s,
# /Users/runner/work/1/s.
_AGENT_SOURCES = re.compile(r"(?:^|/)(?:_work|work|a)/\d+/s/(?=.)", re.IGNORECASE)


def within_agent_checkout(path: str) -> Optional[str]:
    """Return the part of `path` under an agent's sources folder, as the log wrote it, or None when not under one."""
    match = _AGENT_SOURCES.search(path.replace("\\", "/"))
    return path[match.end():] if match else None
