"""The offline question parser: the common question shapes, read into a Query without any model."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional, Tuple

INTENTS = ("explain_build", "last_build", "list_builds", "failed_pipelines", "list_pipelines", "list_projects")


def utc_now() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Query:
    """What an offline-understood question asks for; None fields were not said."""

    intent: str  # one of INTENTS
    pipeline: Optional[str] = None
    project: Optional[str] = None
    result: Optional[str] = None  # succeeded, partiallySucceeded, failed, canceled
    build_id: Optional[int] = None
    since: Optional[datetime] = None
    until: Optional[datetime] = None
    branch: Optional[str] = None
    requested_for: Optional[str] = None
    explain: bool = False  # analyse the build found, not just name it


# ---------------------------------------------------------------- the offline parser

_RESULT_WORDS = (
    (r"partially\s+succe\w*|partial(?:ly)?(?:\s+success\w*)?", "partiallySucceeded"),
    (r"fail\w*|broken|red|error\w*|unsuccessful", "failed"),
    (r"succe\w*|pass\w*|green|good|ok", "succeeded"),
    (r"cancel+\w*|abort\w*", "canceled"),
)
_UNITS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
                 "eight": 8, "nine": 9, "ten": 10, "fourteen": 14, "thirty": 30}
_NAME = r"(?:\"(?P<{0}q>[^\"]+)\"|'(?P<{0}s>[^']+)'|`(?P<{0}b>[^`]+)`|(?P<{0}w>[\w.\-/\\]+(?:\s+[\w.\-/\\]+)*?))"
# Words that end an unquoted pipeline name: what follows a name in the question shapes we understand.
_STOP_WORDS = (r"in|from|since|on|during|over|within|that|which|today|yesterday|this|last|past|fail\w*|succe\w*|"
               r"pass\w*|with|by|requested|triggered|started|and|project|branch|were|was|did|are|is|ran|run|runs|"
               r"builds?|has|have|do|does|broke|break\w*")
_STOP = r"(?=\s+(?:" + _STOP_WORDS + r")\b|\s*[?.!,;]|\s*$)"
_NOT_A_NAME = r"(?!(?:" + _STOP_WORDS + r"|the|a|an|any|all)\b)"
_USUAL_BRANCHES = r"main|master|develop|development|trunk|(?:release|feature|hotfix|bugfix)/[\w.\-/]+"


def parse_question(question: str, now: datetime) -> Optional[Query]:
    """Return the Query for a question of a shape the offline parser knows, or None."""
    text = " ".join(question.strip().split())
    lowered = text.lower()
    project = _project(text)
    slots = dict(project=project, branch=_branch(text), requested_for=_requested_for(text))
    since, until = _window(lowered, now)
    build_id = _build_id(lowered)
    if build_id is not None and re.search(r"\b(why|what|explain|analy[sz]e|diagnose|cause|wrong|happened)\b",
                                          lowered):
        return Query("explain_build", build_id=build_id, explain=True, **slots)
    if re.search(r"\bprojects\b", lowered) and not re.search(r"\b(builds?|runs?)\b", lowered):
        return Query("list_projects")
    if re.search(r"\b(pipelines|definitions)\b", lowered) and re.search(
            r"\b(fail\w*|broken|red)\b", lowered):
        return Query("failed_pipelines", since=since or _start_of_day(now), until=until, **slots)
    if re.search(r"\bwhat\s+(?:failed|broke)\b", lowered):
        return Query("failed_pipelines", since=since or _start_of_day(now), until=until, **slots)
    if re.search(r"\b(list|show|which|what|all|get)\b.*\b(pipelines|definitions)\b", lowered) \
            and not re.search(r"\b(builds?|runs?)\b", lowered):
        return Query("list_pipelines", **slots)
    pipeline = _pipeline(text)
    result = _result(lowered)
    if re.search(r"\b(last|latest|most\s+recent|previous)\s+(?:\w+\s+){0,2}(build|run)\b", lowered) and since is None:
        explain = bool(re.search(r"\bwhy\b|\bwhat\s+went\s+wrong\b|\bcause\b", lowered))
        if explain and result is None:
            result = "failed"
        return Query("last_build", pipeline=pipeline, result=result, explain=explain, **slots)
    if pipeline and since is None and re.search(r"\bwhy\b.*\bfail", lowered):
        return Query("last_build", pipeline=pipeline, result="failed", explain=True, **slots)
    if re.search(r"\b(builds|runs)\b", lowered) or (pipeline and since):
        return Query("list_builds", pipeline=pipeline, result=result, since=since, until=until, **slots)
    return None


def _project(text: str) -> Optional[str]:
    match = re.search(r"\b(?:in|of|for|from)\s+(?:the\s+)?project\s+" + _NAME.format("p") + _STOP, text,
                      re.IGNORECASE) or re.search(r"\bproject\s+" + _NAME.format("p") + _STOP, text, re.IGNORECASE)
    return _named(match, "p")


def _pipeline(text: str) -> Optional[str]:
    patterns = (
        r"\b(?:pipeline|definition)\s+" + _NOT_A_NAME + _NAME.format("n") + _STOP,
        r"\b(?:builds?|runs?)\s+(?:of|for|from)\s+(?:the\s+)?(?!project\b)" + _NOT_A_NAME + _NAME.format("n") + _STOP,
        r"\b(?:of|for|the)\s+(?:the\s+)?(?!project\b)" + _NOT_A_NAME + _NAME.format("n")
        + r"(?:\s+(?:pipeline|definition))\b",
    )
    for pattern in patterns:
        name = _named(re.search(pattern, text, re.IGNORECASE), "n")
        if name:
            return re.sub(r"\s+(?:pipeline|definition)$", "", name, flags=re.IGNORECASE)
    return None


def _named(match: Optional[re.Match], group: str) -> Optional[str]:
    if not match:
        return None
    groups = match.groupdict()
    for suffix in ("q", "s", "b", "w"):
        value = groups.get(group + suffix)
        if value:
            return value.strip()
    return None


def _branch(text: str) -> Optional[str]:
    match = (re.search(r"\bbranch\s+" + _NAME.format("r") + _STOP, text, re.IGNORECASE)
             or re.search(r"\bon\s+" + _NAME.format("r") + r"\s+branch\b", text, re.IGNORECASE)
             or re.search(r"\bon\s+(?P<rw>" + _USUAL_BRANCHES + r")\b", text))
    name = _named(match, "r")
    if not name:
        return None
    return name if name.startswith("refs/") else f"refs/heads/{name}"


def _requested_for(text: str) -> Optional[str]:
    match = re.search(r"\b(?:requested|triggered|started|queued|run)\s+by\s+" + _NAME.format("u") + _STOP, text,
                      re.IGNORECASE)
    return _named(match, "u")


def _result(lowered: str) -> Optional[str]:
    for pattern, result in _RESULT_WORDS:
        if re.search(r"\b(?:" + pattern + r")\b", lowered):
            return result
    return None


def _build_id(lowered: str) -> Optional[int]:
    match = re.search(r"\b(?:build|run)\s*(?:id\s*)?#?\s*(\d+)\b", lowered) or re.search(
        r"buildid=(\d+)", lowered)
    return int(match.group(1)) if match else None


def _window(lowered: str, now: datetime) -> Tuple[Optional[datetime], Optional[datetime]]:
    today = _start_of_day(now)
    if re.search(r"\btoday\b", lowered):
        return today, None
    if re.search(r"\byesterday\b", lowered):
        return today - timedelta(days=1), today
    if re.search(r"\bthis\s+week\b", lowered):
        return today - timedelta(days=today.weekday()), None
    match = re.search(r"\b(?:in\s+the\s+|over\s+the\s+|during\s+the\s+|within\s+the\s+|for\s+the\s+)?"
                      r"(?:last|past)\s+(\d+|" + "|".join(_NUMBER_WORDS) + r")?\s*"
                      r"(minute|hour|day|week|month|year)s?\b", lowered)
    if match:
        count = match.group(1)
        amount = int(count) if count and count.isdigit() else _NUMBER_WORDS.get(count or "one", 1)
        return now - timedelta(days=amount * _UNITS[match.group(2)]), None
    match = re.search(r"\bsince\s+(\d{4}-\d{2}-\d{2})\b", lowered)
    if match:
        return datetime.fromisoformat(match.group(1)).replace(tzinfo=timezone.utc), None
    return None, None


def _start_of_day(now: datetime) -> datetime:
    return now.replace(hour=0, minute=0, second=0, microsecond=0)
