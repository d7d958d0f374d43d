"""Offline answers: each Query intent turned into Azure DevOps look-ups and a short markdown answer."""
from __future__ import annotations

from datetime import datetime
from typing import List, Optional, Tuple

from azura.ask import AskAnswer, BuildLink
from azura.ask.parser import Query
from azura.ask.tools import MAX_PROJECTS_SCANNED, DevOpsTools, failed_by_pipeline
from azura.context import Settings
from azura.models import Build

MARKDOWN_SPECIALS = "\\[]*_`<>|"
_RESULT_WORDS = {"failed": "failed", "succeeded": "successful", "partiallySucceeded": "partially successful",
                 "canceled": "canceled"}


def answer_query(query: Query, question: str, settings: Settings, now: datetime) -> AskAnswer:
    """Return the answer to an offline-understood question, looked up in Azure DevOps."""
    tools = DevOpsTools(settings)
    handler = {"list_projects": _projects, "list_pipelines": _pipelines, "last_build": _last_build,
               "list_builds": _builds, "explain_build": _explain_build,
               "failed_pipelines": _failed_pipelines}[query.intent]
    return handler(query, question, tools)


def link(build: Build) -> BuildLink:
    """Return the BuildLink of a build."""
    return BuildLink(id=build.id, number=build.number, definition=build.definition, result=build.result,
                     url=build.url, finish_time=build.finish_time)


def build_line(build: Build) -> str:
    """Return one markdown list entry naming and linking a build."""
    name = f"{build.definition or 'build'} {build.number}"
    title = f"[{_md(name)}]({build.url})" if build.url else _md(name)
    when = f", finished {build.finish_time[:16].replace('T', ' ')} UTC" if build.finish_time else ""
    return f"- {title} (#{build.id}): {build.result or build.status or 'running'}{when}"


def _md(text: str) -> str:
    """Return a name from Azure DevOps with the characters that would start markdown links or emphasis escaped."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in text)


def _projects(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    projects = tools.projects()
    text = (f"{len(projects)} project(s):\n" + "\n".join(f"- {_md(p)}" for p in projects)) if projects \
        else "The token sees no projects in this organisation."
    return AskAnswer(question=question, text=text)


def _pipelines(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    project = tools.project_or_default(query.project)
    pipelines = tools.pipelines(project)
    if not pipelines:
        return AskAnswer(question=question, text=f"Project {_md(project)} has no pipelines.")
    lines = [f"- [{_md(d.name)}]({d.url})" if d.url else f"- {_md(d.name)}" for d in pipelines]
    return AskAnswer(question=question, text=f"{len(pipelines)} pipeline(s) in {_md(project)}:\n" + "\n".join(lines))


def _definition_ids(query: Query, project: str, tools: DevOpsTools) -> Tuple[Optional[List[int]], Optional[str]]:
    """Return the ids of the pipeline named in the query (None: all), or a message saying none matched."""
    if not query.pipeline:
        return None, None
    found = tools.pipelines(project, query.pipeline)
    if not found:
        known = ", ".join(d.name for d in tools.pipelines(project)[:20]) or "none"
        return [], f"Project {_md(project)} has no pipeline named {_md(query.pipeline)}. Its pipelines: {_md(known)}."
    return [d.id for d in found], None


def _describe(query: Query, plural: bool) -> str:
    word = _RESULT_WORDS.get(query.result or "", "")
    noun = "builds" if plural else "build"
    subject = f"{word} {noun}".strip()
    if query.pipeline:
        subject += f" of {_md(query.pipeline)}"
    if query.branch:
        subject += f" on {_md(query.branch.replace('refs/heads/', ''))}"
    if query.requested_for:
        subject += f" requested by {_md(query.requested_for)}"
    return subject


def _last_build(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    project = tools.project_or_default(query.project)
    definition_ids, missing = _definition_ids(query, project, tools)
    if missing:
        return AskAnswer(question=question, text=missing)
    found = tools.builds(project, definition_ids, branch=query.branch, result=query.result,
                         requested_for=query.requested_for, top=1)
    subject = _describe(query, plural=False)
    if not found:
        return AskAnswer(question=question, text=f"No {subject} found in project {_md(project)}.")
    build = found[0]
    text = f"The last {subject} in {_md(project)}:\n{build_line(build)}"
    if not query.explain:
        return AskAnswer(question=question, text=text, builds=(link(build),))
    return _with_analysis(question, text, build, project, tools)


def _explain_build(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    project = tools.project_or_default(query.project)
    build = tools.build(project, query.build_id)
    return _with_analysis(question, f"Build {build.id} in {_md(project)}:\n{build_line(build)}", build, project, tools)


def _with_analysis(question: str, text: str, build: Build, project: str, tools: DevOpsTools) -> AskAnswer:
    from azura import report

    analysis = tools.analysis(project, build.id)
    rendered = report.render(analysis, tools.settings.templates_dir)
    # The headline, summaries and fixes are the report's own markdown (bundled hints, or validated LLM text).
    lines = [text, "", f"**{analysis.headline}**"]
    for failure in analysis.failures:
        lines.append(f"- {_md(failure.step.name)} ({failure.category}): {failure.summary}"
                     + (f" Fix: {failure.suggested_fix}" if failure.suggested_fix else ""))
    return AskAnswer(question=question, text="\n".join(lines), builds=(link(analysis.build or build),),
                     provider=analysis.provider, model=analysis.model, analysis=analysis.to_dict(),
                     analysis_markdown=rendered.pr_comment_md, warnings=analysis.warnings)


def _builds(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    project = tools.project_or_default(query.project)
    definition_ids, missing = _definition_ids(query, project, tools)
    if missing:
        return AskAnswer(question=question, text=missing)
    found = tools.builds(project, definition_ids, branch=query.branch, result=query.result, since=query.since,
                         until=query.until, requested_for=query.requested_for)
    subject = _describe(query, plural=True)
    window = _window_words(query)
    if not found:
        return AskAnswer(question=question, text=f"No {subject} in {_md(project)}{window}.")
    text = f"{len(found)} {subject} in {_md(project)}{window}:\n" + "\n".join(build_line(b) for b in found)
    return AskAnswer(question=question, text=text, builds=tuple(link(b) for b in found))


def _window_words(query: Query) -> str:
    if query.since and query.until:
        return f" between {query.since:%Y-%m-%d %H:%M} and {query.until:%Y-%m-%d %H:%M} UTC"
    if query.since:
        return f" since {query.since:%Y-%m-%d %H:%M} UTC"
    return ""


def _failed_pipelines(query: Query, question: str, tools: DevOpsTools) -> AskAnswer:
    projects = [tools.project_or_default(query.project)] if (query.project or tools.settings.project) \
        else list(tools.projects()[:MAX_PROJECTS_SCANNED])
    window = _window_words(query)
    sections, links = [], []
    for project in projects:
        failed = tools.builds(project, result="failed", since=query.since, until=query.until,
                              branch=query.branch, requested_for=query.requested_for)
        for pipeline, builds in failed_by_pipeline(failed):
            latest = builds[0]
            sections.append(f"- {_md(project)} / {_md(pipeline)}: {len(builds)} failed build(s), latest "
                            + (f"[{_md(latest.number)}]({latest.url})" if latest.url else _md(latest.number))
                            + f" (#{latest.id})")
            links.append(link(latest))
    if not sections:
        return AskAnswer(question=question, text=f"No pipeline failed{window} in {', '.join(map(_md, projects))}.")
    text = f"{len(sections)} pipeline(s) failed{window}:\n" + "\n".join(sections)
    return AskAnswer(question=question, text=text, builds=tuple(links))
