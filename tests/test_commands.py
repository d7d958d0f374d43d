"""Logging commands: ours come out escaped exactly as the agent parses them; any from a log are defused."""
from __future__ import annotations

import re

import pytest

from azura.commands import escape_message, escape_property, neutralize, vso


def agent_finds_command(line: str) -> bool:
    """Return whether the agent would parse a command in this line (it searches for `##vso[` anywhere)."""
    return "##vso[" in line


def test_tag_command_is_one_exact_line():
    assert vso("build.addbuildtag", "azura-test") == "##vso[build.addbuildtag]azura-test"


def test_summary_command_carries_the_path_as_its_message():
    assert vso("task.uploadsummary", "/agent/_temp/azura/summary.md") == \
        "##vso[task.uploadsummary]/agent/_temp/azura/summary.md"


def test_warning_properties_end_with_semicolons_in_the_given_order():
    assert vso("task.logissue", "Azura: it broke", type="warning") == \
        "##vso[task.logissue type=warning;]Azura: it broke"


def test_property_values_escape_percent_first_then_separators():
    assert escape_property("50%;a]b\r\nc") == "50%AZP25%3Ba%5Db%0D%0Ac"


def test_message_keeps_semicolon_and_bracket_but_escapes_newlines_and_percent():
    assert escape_message("a;b]c 100%\nnext") == "a;b]c 100%AZP25%0Anext"


def test_multi_line_message_stays_one_command_line():
    line = vso("task.logissue", "first\nsecond\r\nthird", type="error")

    assert "\n" not in line and "\r" not in line


def test_message_from_a_log_cannot_start_a_second_command():
    line = vso("task.logissue", "boom ##vso[task.setvariable variable=PATH]/evil", type="warning")

    assert line.count("##vso[") == 1


def test_empty_property_values_are_left_out():
    assert vso("task.logissue", "m", type="warning", code="") == "##vso[task.logissue type=warning;]m"


@pytest.mark.parametrize("text", [
    "##vso[task.setvariable variable=x]1",
    "prefix ##vso[task.prependpath]/tmp",
    "##VSO[task.setvariable variable=x]1",
    "##[error]looks like ours",
    "##[group]folded",
])
def test_neutralize_defuses_commands_and_formatting_anywhere_in_the_line(text):
    assert not agent_finds_command(neutralize(text))
    assert not re.search(r"##\[", neutralize(text))


@pytest.mark.parametrize("text", ["# heading", "## section", "issue #12 [done]", "a ## b [c]"])
def test_neutralize_leaves_ordinary_hashes_and_brackets_alone(text):
    assert neutralize(text) == text
