"""The pull-request thread sink: one thread per PR, found again on every run and edited in place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from azura.context import Settings
from azura.errors import PublishError
from azura.models import Analysis, Rendered
from azura.publish import FORK_READ_ONLY, Skipped, Withheld

THREAD_PROPERTY = "Azura.Thread"
THREAD_KIND = "pr-comment/v1"
MARKER = "<!-- azura:pr-comment v1 -->"
MAX_COMMENT_CHARS = 150_000  # the service's limit for one comment


@dataclass(frozen=True)
class _PullRequest:
    project: str
    repository_id: str
    pr_id: int

    @property
    def label(self) -> str:
        return f"pull request {self.pr_id}"


@dataclass(frozen=True)
class _Thread:
    id: int
    comment_id: int
    content: str
    status: str


def pr_thread_sink(analysis: Analysis, rendered: Rendered, settings: Settings, devops: Callable[[], Any]) -> str:
    """Post Azura's thread on the pull request, or update it (resolved when nothing failed); say what was done."""
    pull_request = _pull_request(analysis, settings)
    ado = devops()
    author = _own_identity(ado)
    thread = _find_thread(ado, pull_request, author)
    content = _comment_content(rendered)
    if not analysis.failures:
        return _resolve_thread(ado, pull_request, thread, content)
    if thread is None:
        thread = _create_thread(ado, pull_request, content, author)
        return f"commented on {pull_request.label} (thread {thread.id})"
    _update_thread(ado, pull_request, thread, content, "active")
    return f"updated the comment on {pull_request.label} (thread {thread.id})"


def _pull_request(analysis: Analysis, settings: Settings) -> _PullRequest:
    build = analysis.build
    pr_id = settings.pr_id or (build.pr_id if build else None)
    provider = settings.repository_provider or (build.repository_type if build else None) or ""
    repository_id = settings.repository_id or (build.repository_id if build else None)
    if provider.lower() == "github":
        raise Skipped("GitHub repository: pull-request comments are not posted there (tag and summary still are)")
    if not pr_id:
        raise Skipped("not a pull-request build")
    if settings.fork_pr:
        raise Withheld(f"no pull-request comment: {FORK_READ_ONLY}")
    if provider.lower() != "tfsgit" or not repository_id:
        raise Skipped(f"the repository ({provider or 'unknown type'}) is not an Azure Repos Git repository")
    if not settings.project:
        raise PublishError("no project to comment in")
    return _PullRequest(settings.project, repository_id, pr_id)


def _comment_content(rendered: Rendered) -> str:
    body = rendered.pr_comment_md
    if not body.startswith(MARKER):  # a user template may leave the marker out; finding the thread needs it
        body = f"{MARKER}\n{body}"
    return body[:MAX_COMMENT_CHARS]


def _own_identity(ado: Any) -> str:
    """Return the id of the identity the token speaks for: the build service in a pipeline, a PAT's owner elsewhere."""
    data = ado.call("location", "read which identity the token belongs to",
                    lambda client: client.get_connection_data(), error=PublishError)
    user = getattr(data, "authenticated_user", None)
    if not getattr(user, "id", None):
        raise PublishError("Azure DevOps did not say which identity the token belongs to, so the PR thread "
                           "could not be told from a copy someone else posted")
    return str(user.id).lower()


def _find_thread(ado: Any, pull_request: _PullRequest, author: str) -> Optional[_Thread]:
    """Return our thread on the PR, or None.

    Ours carries our property, its first comment starts with the marker AND was written by our own identity:
    anyone can post a thread with both, and editing theirs would put our words in their name. When a retry
    left two, the oldest is ours.
    """
    threads = ado.call("git", f"list the threads of {pull_request.label}", lambda git: git.get_threads(
        pull_request.repository_id, pull_request.pr_id, project=pull_request.project), error=PublishError)
    for thread in sorted(threads or (), key=lambda found: found.id or 0):
        if thread.is_deleted or _property(thread.properties, THREAD_PROPERTY) != THREAD_KIND:
            continue
        comments = sorted((c for c in thread.comments or () if not c.is_deleted), key=lambda c: c.id or 0)
        if comments and (comments[0].content or "").startswith(MARKER) and _written_by(comments[0], author):
            return _Thread(thread.id, comments[0].id, comments[0].content, str(thread.status or "active"))
    return None


def _written_by(comment: Any, author: str) -> bool:
    return str(getattr(comment.author, "id", "") or "").lower() == author


def _property(properties: Any, key: str) -> Optional[str]:
    value = (properties or {}).get(key) if isinstance(properties, dict) else None
    if isinstance(value, dict):  # the service answers {"$type": "System.String", "$value": "..."}
        value = value.get("$value")
    return value if isinstance(value, str) else None


def _create_thread(ado: Any, pull_request: _PullRequest, content: str, author: str) -> _Thread:
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    thread = GitPullRequestCommentThread(
        comments=[Comment(content=content, comment_type="text", parent_comment_id=0)], status="active",
        properties={THREAD_PROPERTY: {"$type": "System.String", "$value": THREAD_KIND}})

    def create(git: Any) -> _Thread:
        created = git.create_thread(thread, pull_request.repository_id, pull_request.pr_id,
                                    project=pull_request.project)
        return _Thread(created.id, created.comments[0].id if created.comments else 1, content, "active")

    # POST is not idempotent: when an answer is lost the thread may exist, or appear a moment later, so look
    # (and wait for it) before posting again.
    return ado.call("git", f"create the PR thread on {pull_request.label}", create, error=PublishError,
                    recheck=lambda: _find_thread(ado, pull_request, author))


def _update_thread(ado: Any, pull_request: _PullRequest, thread: _Thread, content: str, status: str) -> None:
    from azure.devops.v7_1.git.models import Comment, GitPullRequestCommentThread

    # Editing the first comment sends no notification e-mails, unlike a new comment on every run.
    if thread.content != content:
        ado.call("git", f"update the PR comment on {pull_request.label}", lambda git: git.update_comment(
            Comment(content=content), pull_request.repository_id, pull_request.pr_id, thread.id,
            thread.comment_id, project=pull_request.project), error=PublishError)
    if thread.status != status:
        ado.call("git", f"set the PR thread on {pull_request.label} to {status}", lambda git: git.update_thread(
            GitPullRequestCommentThread(status=status), pull_request.repository_id, pull_request.pr_id,
            thread.id, project=pull_request.project), error=PublishError)


def _resolve_thread(ado: Any, pull_request: _PullRequest, thread: Optional[_Thread], content: str) -> str:
    if thread is None:
        raise Skipped(f"nothing failed and {pull_request.label} has no Azura thread to resolve")
    if thread.status == "fixed" and thread.content == content:
        return f"the thread on {pull_request.label} is already resolved"
    _update_thread(ado, pull_request, thread, content, "fixed")
    return f"resolved the thread on {pull_request.label} (thread {thread.id})"
