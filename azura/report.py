"""The report step: the Analysis rendered through jinja2 templates into the summary, the PR comment, text and JSON.

Everything that came from a log, an LLM or a commit is untrusted. Log lines reach a template only through
`code_block`; every other such string goes through `plain`. The rendered markdown and text are then
neutralised once more, because a user's own templates may forget a filter.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Iterable, List, Optional, Union
from urllib.parse import quote

from azura import __version__
from azura.commands import neutralize
from azura.errors import ConfigError
from azura.models import Analysis, Change, Failure, Line, Rendered

TEMPLATE_NAMES = ("summary.md.j2", "pr-comment.md.j2", "text.j2")
# markdown, not HTML: escaping would show `&lt;` inside code blocks
TEMPLATE_OPTIONS = {"autoescape": False, "trim_blocks": True, "lstrip_blocks": True, "keep_trailing_newline": True}
PR_COMMENT_MARKER = "<!-- azura:pr-comment v1 -->"

# C0 controls (ESC starts terminal escape sequences) and DEL; tabs and newlines are handled by the callers.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# A URL ends before brackets, quotes and trailing punctuation, as markdown autolinks do.
_URL = re.compile(r"(?:(?:https?|ftp|file)://|www\.)[^\s<>`\"'()\[\]]*[^\s<>`\"'()\[\].,;:!?]", re.IGNORECASE)
# A code span as CommonMark reads it: a backtick run, text, a run of the same length. Its text renders literally,
# so a fix such as "run `npm ci`" keeps its code formatting instead of showing escaped backticks.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
# Characters that carry meaning in markdown inline text (emphasis, code, links, tables, strikethrough).
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_\[\]|~])")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# At the start of a line these open a heading, quote, list or rule; a template may place text there.
_BLOCK_START = re.compile(r"^(?:[#+=-]|\d+[.)])")
# @name mentions a person; #123 links a work item and !123 a pull request in Azure DevOps comments.
_MENTION = re.compile(r"([@]|[#!](?=\d))")
_JSON_COMMAND = re.compile(r"##(vso)?\[", re.IGNORECASE)
_SAFE_URL = re.compile(r"^https?://[^\s<>\"'`()\[\]]+$", re.IGNORECASE)


@functools.lru_cache(maxsize=8)
def template_environment(user_dir: Optional[str] = None):
    """Return the jinja2 Environment: the user's folder first (override by name), then the bundled templates.

    One environment per folder, so the server compiles each template once, not on every request.
    """
    import jinja2

    loaders = []
    if user_dir:
        if not Path(user_dir).is_dir():
            raise ConfigError(f"--templates {user_dir} is not a folder")
        loaders.append(jinja2.FileSystemLoader(str(user_dir)))
    loaders.append(jinja2.FileSystemLoader(str(bundled_templates_dir())))
    environment = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), undefined=jinja2.StrictUndefined,
                                     bytecode_cache=_bytecode_cache(), **TEMPLATE_OPTIONS)
    environment.filters.update(code_block=code_block, plain=plain, percent=percent, first_line=first_line,
                               shorten=shorten)
    environment.globals.update(log_url=log_url, build_link=build_link,
                               commit_link=commit_link, pr_comment_marker=PR_COMMENT_MARKER)
    return environment


def _bytecode_cache():
    """Return jinja2's cache of compiled templates in `templates/` of the user's cache folder, or None without one.

    Compiling the templates costs more than the rest of a small log's analysis. jinja2 names each cache file for
    the template's name and path, and compiles the template again when its source, jinja2's bytecode format or
    Python's version differ from the file's; the file's name adds this version of Azura and the environment's
    options, which shape the compiled code too. The folder is private (`cache_folder`); a compiled template
    that cannot be written (a read-only or full disk) is compiled again on the next run.
    """
    import hashlib

    import jinja2

    from azura.yamlcache import cache_folder

    class QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    folder = cache_folder("templates")
    if folder is None:
        return None
    options = hashlib.sha256(repr(sorted(TEMPLATE_OPTIONS.items())).encode()).hexdigest()[:12]
    return QuietBytecodeCache(str(folder), f"{__version__}-{options}-%s.cache")


def bundled_templates_dir() -> Path:
    """Return the folder of the bundled templates: `azura/templates` when installed, `<repo>/templates` in a checkout."""
    # next to this module, not importlib.resources.files("azura"): a stray ./azura folder in the working
    # directory turns that into a namespace lookup that points at the wrong place
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "templates", package_dir.parent / "templates"):
        if (candidate / "summary.md.j2").is_file():
            return candidate
    raise ConfigError(f"the bundled report templates are missing (looked in {package_dir / 'templates'})")


def render(analysis: Analysis, templates_dir: Optional[str] = None) -> Rendered:
    """Return the summary, PR comment, terminal text and JSON of an analysis."""
    environment = template_environment(templates_dir)
    summary, comment, text = (_render(environment, name, analysis, templates_dir) for name in TEMPLATE_NAMES)
    if not comment.startswith(PR_COMMENT_MARKER):
        # publish finds its one PR thread by this marker; a user's template must not make it post a second one
        comment = f"{PR_COMMENT_MARKER}\n{comment}"
    return Rendered(summary_md=summary, pr_comment_md=comment, analysis_json=analysis_json(analysis), text=text)


def analysis_json(analysis: Analysis) -> str:
    """Return analysis.json; a `[` after `##`/`##vso` is written as the JSON escape \\u005b so it reads back the same."""
    document = json.dumps(analysis.to_dict(), indent=2, ensure_ascii=False) + "\n"
    # --format json prints this to the pipeline log, where `##vso[` anywhere in a line is a command
    return _JSON_COMMAND.sub(lambda match: "##" + (match.group(1) or "") + "\\u005b", document)


def _render(environment, name: str, analysis: Analysis, templates_dir: Optional[str]) -> str:
    import jinja2

    try:
        output = environment.get_template(name).render(analysis=analysis)
    except jinja2.TemplateError as exc:
        where = f" (looked in {templates_dir} first)" if templates_dir else ""
        raise ConfigError(f"report template {name}{where} failed: {exc}") from None
    return neutralize(output)


def code_block(value: Union[str, Iterable[Line]], fence: bool = True, mark: Optional[Line] = None) -> str:
    """Return log text as a fenced code block (or indented, for the terminal), numbered when given Lines.

    `mark` is the line the diagnosis rests on: among several lines it is shown with a `>` before its number.
    """
    if isinstance(value, str):
        rows = value.splitlines()
    else:
        lines = list(value)
        marked = mark if len(lines) > 1 else None
        rows = [_numbered(line, line == marked) for line in lines]
    rows = [neutralize(_CONTROL.sub("", row.replace("\r", ""))) for row in rows]
    if not fence:
        return "\n".join("    " + row for row in rows)
    longest_run = max((len(run) for row in rows for run in re.findall(r"`+", row)), default=0)
    marker = "`" * max(3, longest_run + 1)
    return "\n".join([marker, *rows, marker])


def _numbered(line: Line, marked: bool) -> str:
    label = str(line.number) if line.number > 0 else "agent"
    return f"{'>' if marked else ' '}{label:>5} | {line.text}"


def plain(value: object, markdown: bool = True) -> str:
    """Return untrusted text as one inert line: no logging command, no markup, no mention, no link."""
    text = " ".join(_CONTROL.sub("", str(value)).split())
    text = neutralize(text)
    if not markdown:
        return text
    pieces: List[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_inline_markdown(text[position:span.start()]))
        pieces.append(span.group(0))
        position = span.end()
    pieces.append(_inline_markdown(text[position:]))
    # a backslash before the marker's last character: `\#`, `\-`, `12\.`
    return _BLOCK_START.sub(lambda match: match.group(0)[:-1] + "\\" + match.group(0)[-1], "".join(pieces))


def _inline_markdown(text: str) -> str:
    """Return text outside code spans inert: URLs shown as code, markup escaped."""
    pieces: List[str] = []
    position = 0
    for match in _URL.finditer(text):
        pieces.append(_escape_markdown(text[position:match.start()]))
        # in a code span a URL is shown, copyable, and never turned into a link
        pieces.append(f"`{match.group(0)}`")
        position = match.end()
    pieces.append(_escape_markdown(text[position:]))
    return "".join(pieces)


def _escape_markdown(text: str) -> str:
    text = "".join(_HTML.get(char, char) for char in text)
    text = _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)
    return _MENTION.sub("\\1\u200b", text)


def percent(confidence: float) -> str:
    """Return a confidence as a whole percentage."""
    return f"{round(confidence * 100)}%"


def shorten(text: str, limit: int) -> str:
    """Return text cut to at most `limit` characters at a word boundary, with "…" when anything was cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    if text[limit - 1] != " " and " " in cut:  # mid-word: back to the last whole word
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def first_line(text: str) -> str:
    """Return the first line of a (commit) message."""
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def log_url(analysis: Analysis, failure: Failure) -> Optional[str]:
    """Return a link to the failed step's log on the build's results page, when the build URL is known."""
    base = _safe_url(analysis.build.url) if analysis.build else None
    if not base or "buildId=" not in base or failure.step.log_id is None:
        return None
    target = f"{base}&view=logs"
    if failure.step.record_id:
        target += f"&t={quote(failure.step.record_id, safe='')}"
    return target


def build_link(build_id: Optional[int], url: Optional[str]) -> str:
    """Return 'build N' as a markdown link when its URL is known; never '#N', which links a work item."""
    label = f"build {build_id}"
    target = _safe_url(url)
    return f"[{label}]({target})" if target else label


def commit_link(change: Change) -> str:
    """Return the short commit id, linked when its URL is known."""
    short = re.sub(r"[^0-9a-fA-F]", "", change.id)[:8] or "commit"
    target = _safe_url(change.url)
    return f"[`{short}`]({target})" if target else f"`{short}`"


def _safe_url(url: Optional[str]) -> Optional[str]:
    return url if url and _SAFE_URL.match(url) else None
