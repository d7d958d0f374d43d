"""The read-only questions Ask may put to Azure DevOps and the engine; the offline answers and the LLM share them.

Every method returns Azura's own models (never SDK objects), and `summary_*` functions turn them into the
small JSON the LLM sees: names, ids, results, links and the engine's conclusions, never raw log text.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from azura.context import Settings
from azura.errors import ConfigError
from azura.models import Analysis, Build, Definition, FailedStep

MAX_BUILDS = 50
MAX_PROJECTS_SCANNED = 20  # "which pipelines failed today" with no project looks at this many projects
MAX_ISSUE_CHARS = 300


class DevOpsTools:
    """One question's view of Azure DevOps, through the collect layer, with the token from Settings."""

    def __init__(self, settings: Settings):
        from azura.devops import AzureDevOps

        if not settings.org_url:
            raise ConfigError("no Azure DevOps organisation to ask: set AZURE_DEVOPS_ORG_URL (or pass --org-url)")
        if not settings.token:
            raise ConfigError("no Azure DevOps token: set AZURE_DEVOPS_PAT (a PAT with Build: Read)")
        self.settings = settings
        self.ado = AzureDevOps(settings)

    def projects(self) -> Tuple[str, ...]:
        """Return the names of the projects the token can see."""
        from azura import collect

        return collect.list_projects(self.ado)

    def project_or_default(self, project: Optional[str]) -> str:
        """Return the project named, else the configured one, else the only one visible."""
        if project or self.settings.project:
            return project or self.settings.project
        visible = self.projects()
        if len(visible) == 1:
            return visible[0]
        raise ConfigError("which project? Say \"in project NAME\" or set AZURE_DEVOPS_PROJECT; visible projects: "
                          + (", ".join(visible[:20]) or "none"))

    def pipelines(self, project: str, name: Optional[str] = None) -> Tuple[Definition, ...]:
        """Return the pipelines of a project, those whose name matches `name` (exactly first, then partly)."""
        from azura import collect

        if not name:
            return collect.list_definitions(self.ado, project)
        exact = collect.list_definitions(self.ado, project, name_filter=name)
        matching = tuple(d for d in exact if d.name.lower() == name.lower())
        return matching or exact or collect.list_definitions(self.ado, project, name_filter=f"*{name}*")

    def builds(self, project: str, definition_ids: Optional[Sequence[int]] = None, branch: Optional[str] = None,
               result: Optional[str] = None, since: Optional[datetime] = None, until: Optional[datetime] = None,
               requested_for: Optional[str] = None, top: int = MAX_BUILDS) -> Tuple[Build, ...]:
        """Return builds of a project, newest first, filtered; at most `top` (capped at MAX_BUILDS)."""
        from azura import collect

        found = collect.list_builds(
            self.ado, project, definition_ids=definition_ids, branch=branch, result=result,
            status="completed" if result else None, min_time=since, max_time=until, requested_for=requested_for,
            top=max(1, min(top, MAX_BUILDS)), query_order="finishTimeDescending" if result else "queueTimeDescending")
        return tuple(b if b.project else replace(b, project=project) for b in found)

    def build(self, project: str, build_id: int) -> Build:
        """Return one build."""
        from azura import collect

        found = collect.get_build(self.ado, project, build_id)
        return found if found.project else replace(found, project=project)

    def failed_steps(self, project: str, build_id: int) -> Tuple[FailedStep, ...]:
        """Return the failed steps of a build's latest attempt, with their timeline issues."""
        from azura import collect

        return collect.failed_steps(self.ado, project, build_id)

    def analysis(self, project: str, build_id: int) -> Analysis:
        """Return the engine's analysis of a build: the same answer the pipeline step gives."""
        from azura import engine

        return engine.analyze_run(replace(self.settings, mode="remote", project=project, build_id=build_id,
                                          publish=False))


def summary_build(build: Build) -> Dict[str, Any]:
    """Return what the LLM needs to know of a build."""
    return {"id": build.id, "number": build.number, "pipeline": build.definition, "result": build.result,
            "status": build.status, "branch": build.source_branch, "reason": build.reason,
            "finished": build.finish_time, "url": build.url}


def summary_step(step: FailedStep) -> Dict[str, Any]:
    """Return a failed step and its timeline issues, each issue cut short."""
    return {"task": step.name, "stage": step.stage, "job": step.job, "type": step.record_type,
            "result": step.result, "attempt": step.attempt,
            "issues": [issue.message[:MAX_ISSUE_CHARS] for issue in step.issues[:5]]}


def summary_analysis(analysis: Analysis) -> Dict[str, Any]:
    """Return the engine's conclusions about a build, without the excerpts."""
    return {
        "headline": analysis.headline,
        "build": summary_build(analysis.build) if analysis.build else None,
        "failures": [{"task": f.step.name, "stage": f.step.stage, "job": f.step.job, "category": f.category,
                      "summary": f.summary, "root_cause": f.root_cause, "suggested_fix": f.suggested_fix,
                      "confidence": round(f.confidence, 2)}
                     for f in analysis.failures],
        "warnings": list(analysis.warnings),
    }


def failed_by_pipeline(builds: Sequence[Build]) -> List[Tuple[str, List[Build]]]:
    """Return the failed builds grouped by pipeline, the pipeline with the most recent failure first."""
    groups: Dict[str, List[Build]] = {}
    for build in builds:
        groups.setdefault(build.definition or f"pipeline {build.definition_id}", []).append(build)
    return sorted(groups.items(), key=lambda item: item[1][0].finish_time or "", reverse=True)
