"""Azure Pipelines logging commands: emit ours with the agent's escaping, neutralise any that came from a log."""
from __future__ import annotations

import re

# The agent executes `##vso[` found anywhere in a line of stdout or stderr; `##[` lines render as errors/sections.
_COMMAND_PREFIX = re.compile(r"##(vso\[|\[)", re.IGNORECASE)


def neutralize(text: str) -> str:
    """Return text in which no `##vso[` or `##[` survives; a zero-width space keeps it readable to people."""
    return _COMMAND_PREFIX.sub(lambda m: "#\u200b#" + m.group(1), text)


def escape_property(value: str) -> str:
    """Return a property value escaped as the agent (and task-lib's escape()) expects."""
    return (value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")
            .replace("]", "%5D").replace(";", "%3B"))


def escape_message(value: str) -> str:
    """Return a message escaped as task-lib's escapedata(); `;` and `]` are safe after the first `]`."""
    return value.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def vso(command: str, message: str = "", **properties: object) -> str:
    """Return one logging-command line (without newline); every value is neutralised and escaped."""
    head = command
    props = "".join(f"{key}={escape_property(neutralize(str(value)))};"
                    for key, value in properties.items() if value is not None and str(value) != "")
    if props:
        head += " " + props
    return f"##vso[{head}]{escape_message(neutralize(message))}"
