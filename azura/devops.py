"""The Azure DevOps SDK layer: clients made lazily from Settings, and every request sent with a timeout,
retried with backoff, and failing as a CollectError or PublishError that names the cause and the setting to fix.

Nothing here knows about failures or reports; collect and publish say what to ask, this module says how.
"""
from __future__ import annotations

import email.utils
import os
import re
import tempfile
import threading
import time
from typing import Any, Callable, Dict, Optional, Type, TypeVar

from azura.context import Settings
from azura.errors import AzuraError, CollectError, DeadlineExceeded
from azura.models import Deadline

T = TypeVar("T")
Clock = Callable[[], float]

REQUEST_TIMEOUT = 30.0  # seconds for one request (connect, and between bytes); see _request_options
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = 0.5  # doubled after every failed attempt
MAX_BACKOFF_SECONDS = 8.0
RECHECK_SECONDS = 0.5  # between looks for the result of a request cut off in flight
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AREAS = {  # resource area ids of the SDK clients Azura uses
    "build": "965220d5-5bb9-42cf-8d67-9b146df2a5a4",
    "git": "4e080c62-fa21-4fbc-8fef-2a10a2b38049",
    "core": "79134c72-4a58-4b42-976c-04e7115f32bf",
    "test": "c2aa639c-3ccc-4740-b3b6-ce2a1e1d984e",
}
PR_PERMISSION_HINT = (
    "the build service identity needs the Git permission \"Contribute to pull requests\" on this repository: "
    "Project settings > Repositories > (repository) > Security > '<Project> Build Service (<org>)' "
    "(or 'Project Collection Build Service (<org>)')")
TAG_PERMISSION_HINT = (
    "the build service identity needs the pipeline permission \"Edit build quality\" (it covers build tags): "
    "Pipelines > (pipeline) > ... > Manage security > '<Project> Build Service (<org>)' "
    "(or 'Project Collection Build Service (<org>)')")

# What the lookups beyond the logs need (`call(needs=...)`); read by API clients too, so they name the azura.yml
# setting beside the flag.
TEST_PERMISSION_HINT = ("the identity needs Test: Read (\"View test runs\" on the project; a PAT needs the scope Test "
                        "Management: Read); `test_results: false` (--no-test-results) turns this lookup off")
CODE_PERMISSION_HINT = ("the identity needs Code: Read on the repository; `source_lines: false` (--no-source-lines) "
                        "turns the source and commit-file lookups off")


class TransientFailure(Exception):
    """A response worth retrying (429, 5xx); raised inside the transport so its Retry-After is not lost."""

    def __init__(self, status: int, retry_after: Optional[float]):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class SignInPage(Exception):
    """Azure DevOps answered 203 with an HTML sign-in page: the token was not accepted."""


def prepare_sdk_import(settings: Settings) -> None:
    """Point the SDK's file cache under the temp folder, so an unwritable HOME cannot break `import azure.devops`."""
    if os.environ.get("AZURE_DEVOPS_CACHE_DIR"):
        return
    base = settings.temp_dir or os.path.join(tempfile.gettempdir(), "azura")
    os.environ["AZURE_DEVOPS_CACHE_DIR"] = os.path.join(base, "azure-devops-sdk-cache")


class AzureDevOps:
    """One organisation, reached with the token from Settings; `call` is the only way a request goes out.

    Clients are made on first use. Tests pass `clock` and `sleep` to run retries and deadlines without waiting.
    """

    def __init__(self, settings: Settings, deadline: Optional[Deadline] = None, clock: Clock = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if not settings.org_url or not settings.token:
            raise CollectError("no Azure DevOps organisation URL or token in the settings")
        prepare_sdk_import(settings)
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.deadline = deadline or Deadline.after(settings.timeout, clock())
        self._clients: Dict[str, Any] = {}
        self._lock = threading.Lock()

    def call(self, area: str, action: str, request: Callable[[Any], T], error: Type[AzuraError] = CollectError,
             recheck: Optional[Callable[[], Optional[T]]] = None, needs: Optional[str] = None) -> T:
        """Return request(client of `area`), retrying transient failures; raise `error` saying what went wrong.

        Args:
            action: what the request does, for messages: "read build 42 of project Web".
            recheck: for a request that must not happen twice (creating a PR thread): run before every retry;
                when it finds the result of an earlier attempt that was cut off, that result is returned.
            needs: the permission to name when the service refuses the request (403).
        """
        attempt = 1
        while True:
            self.check_deadline(action)
            try:
                return request(self._client(area))
            except Exception as exc:  # every SDK and transport failure is sorted out below
                failure = exc
            wait = self._retry_wait(failure, attempt)
            if wait is None:
                raise self._translate(failure, action, error, needs) from None
            if wait >= self.deadline.remaining(self.clock()):
                raise error(f"could not {action}: Azure DevOps kept failing ({_describe(failure)}) and the "
                            f"run's --timeout of {self.settings.timeout:g} s would pass before another try")
            self.sleep(wait)
            attempt += 1
            if recheck is not None:
                found = self._recheck(recheck, failure)
                if found is not None:
                    return found

    def _recheck(self, recheck: Callable[[], Optional[T]], failure: Exception) -> Optional[T]:
        """Return the result of an earlier attempt cut off in flight, looking again while it may still land.

        A timeout or a dropped connection leaves unknown whether the service did the work: it may finish it
        after we gave up, and sending again would then do it twice. So we look again for as long as one request
        may take; only a refusal (429, 503) is sure to have done nothing.
        """
        found = recheck()
        if found is not None or (isinstance(failure, TransientFailure) and failure.status in (429, 503)):
            return found
        settle = self.clock() + self._request_timeout()
        while self.clock() < settle and self.deadline.remaining(self.clock()) > RECHECK_SECONDS:
            self.sleep(RECHECK_SECONDS)
            found = recheck()
            if found is not None:
                return found
        return None

    def check_deadline(self, action: str) -> None:
        """Raise DeadlineExceeded when the run's deadline has passed; long downloads call it between chunks."""
        if self.deadline.remaining(self.clock()) <= 0:
            raise DeadlineExceeded(f"could not {action}: the run's --timeout of {self.settings.timeout:g} s passed")

    def _retry_wait(self, exc: Exception, attempt: int) -> Optional[float]:
        """Return the seconds to wait before the next attempt, or None when `exc` is not worth retrying."""
        if attempt >= MAX_ATTEMPTS or not _is_transient(exc):
            return None
        backoff = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2 ** (attempt - 1))
        if isinstance(exc, TransientFailure) and exc.retry_after is not None:
            return max(exc.retry_after, 0.0)
        return backoff

    def _client(self, area: str) -> Any:
        with self._lock:
            if area not in self._clients:
                self._clients[area] = self._make_client(area)
            return self._clients[area]

    def _make_client(self, area: str) -> Any:
        from msrest.authentication import BasicAuthentication

        creds = BasicAuthentication("", self.settings.token)
        if area == "location":  # the organisation's own services: who the token is (connection data)
            from azure.devops.v7_1.location.location_client import LocationClient

            return self._configured(LocationClient(self.settings.org_url, creds))
        url = self._area_url(AREAS[area], creds)
        if area == "build":
            from azure.devops.v7_1.build.build_client import BuildClient as client_class
        elif area == "git":
            from azure.devops.v7_1.git.git_client import GitClient as client_class
        elif area == "test":
            from azure.devops.v7_1.test.test_client import TestClient as client_class
        else:
            from azure.devops.v7_1.core.core_client import CoreClient as client_class
        return self._configured(client_class(url, creds))

    def _area_url(self, area_id: str, creds: Any) -> str:
        # The SDK's Connection looks resource areas up through a client we cannot configure (100 s timeout,
        # its own sleeps), so the lookup is made here through a configured one instead.
        if "locations" not in self._clients:
            from azure.devops.v7_1.location.location_client import LocationClient

            self._clients["locations"] = self._configured(LocationClient(self.settings.org_url, creds))
        if "areas" not in self._clients:
            self._clients["areas"] = self._clients["locations"].get_resource_areas() or []
        for resource_area in self._clients["areas"]:
            if (resource_area.id or "").lower() == area_id and resource_area.location_url:
                return resource_area.location_url
        return self.settings.org_url  # Azure DevOps Server lists no areas: everything is under the collection URL

    def _configured(self, client: Any) -> Any:
        """Return the client with our timeout, no SDK retries (ours can wait on the injected clock) and our checks."""
        # The sessions already hold this policy object, so it is changed in place rather than replaced.
        client.config.retry_policy.retries = 0
        client.config.retry_policy.policy.status_forcelist = frozenset()
        client.config.connection.timeout = REQUEST_TIMEOUT
        client.config.session_configuration_callback = self._request_options
        client.config.hooks.append(_check_response)
        return client

    def _request_options(self, session: Any, global_config: Any, local_config: Any, **kwargs: Any) -> Dict[str, Any]:
        kwargs["timeout"] = self._request_timeout()
        return kwargs

    def _request_timeout(self) -> float:
        # A third of the run's budget at most, so a stalled request still leaves time to try again.
        return max(0.5, min(REQUEST_TIMEOUT, self.settings.timeout / 3, self.deadline.remaining(self.clock())))

    def _translate(self, exc: Exception, action: str, error: Type[AzuraError], needs: Optional[str]) -> AzuraError:
        """Return the user-facing error for an SDK or transport failure; it never holds the token."""
        if isinstance(exc, AzuraError):
            return exc
        message = self._scrub(_message_for(exc, action, self.settings, needs))
        return error(message)

    def _scrub(self, text: str) -> str:
        return text.replace(self.settings.token, "«redacted:token»") if self.settings.token else text


def _check_response(response: Any, *args: Any, **kwargs: Any) -> Any:
    """Raise for answers the SDK would mishandle: retryable statuses (it drops Retry-After) and the 203 sign-in page."""
    status = response.status_code
    if status in RETRY_STATUSES:
        retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
        response.close()
        raise TransientFailure(status, retry_after)
    if status == 203 and "html" in response.headers.get("Content-Type", "").lower():
        response.close()
        raise SignInPage()
    return response


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _is_transient(exc: Exception) -> bool:
    from azure.devops.exceptions import AzureDevOpsClientRequestError
    from msrest.exceptions import ClientRequestError
    from requests import RequestException

    if isinstance(exc, TransientFailure):
        return True
    if isinstance(exc, AzureDevOpsClientRequestError):  # an error answer from the service, not the transport
        return False
    if _lasting_transport_problem(exc):  # another try gets the same answer
        return False
    # connection refused or reset, timeouts, and bodies cut off while a log streams
    return isinstance(exc, (ClientRequestError, RequestException))


def _describe(exc: Exception) -> str:
    if isinstance(exc, TransientFailure):
        return f"HTTP {exc.status}"
    return type(exc).__name__


def _message_for(exc: Exception, action: str, settings: Settings, needs: Optional[str] = None) -> str:
    """Return what went wrong and what to change, from the exception classes the SDK raises."""
    from azure.devops.exceptions import (AzureDevOpsAuthenticationError, AzureDevOpsClientRequestError,
                                         AzureDevOpsServiceError)
    from msrest.exceptions import ClientRequestError, DeserializationError

    if isinstance(exc, (AzureDevOpsAuthenticationError, SignInPage)):
        return _token_refused(action, settings, "sign-in page" if isinstance(exc, SignInPage) else "401")
    if isinstance(exc, AzureDevOpsServiceError):
        return _service_error(exc, action, settings, needs)
    if isinstance(exc, AzureDevOpsClientRequestError):
        status = re.search(r"returned a (\d{3}) status code", str(exc))
        if status and status.group(1) == "403":
            return f"could not {action}: access denied (403); {_access_hint(action, settings, needs)}"
        if status and status.group(1) == "407":
            return f"could not {action}: {_PROXY_REFUSED}"
        if status and status.group(1) == "404":
            return f"could not {action}: not found (404) at {settings.org_url}; {_target_hint(settings)}"
        return f"could not {action}: {_first_line(str(exc))}"
    if isinstance(exc, TransientFailure):
        return f"could not {action}: Azure DevOps answered HTTP {exc.status} {MAX_ATTEMPTS} times"
    if isinstance(exc, DeserializationError):
        return (f"could not {action}: {settings.org_url} did not answer like Azure DevOps (no JSON); "
                f"check the organisation URL ({_org_setting(settings)})")
    if isinstance(exc, ClientRequestError) or _is_requests_error(exc):
        tries = "" if _lasting_transport_problem(exc) else f" after {MAX_ATTEMPTS} tries"
        return f"could not reach {settings.org_url} to {action} ({_reason(exc)}){tries}"
    return f"could not {action}: unexpected {type(exc).__name__}: {_first_line(str(exc))}"


def _service_error(exc: Any, action: str, settings: Settings, needs: Optional[str]) -> str:
    key = exc.type_key or ""
    text = _first_line(exc.message or "")
    if key == "GitNeedsPermissionException" or text.startswith("TF401027"):
        return f"could not {action}: {PR_PERMISSION_HINT} ({text})"
    if key.endswith("NotFoundException") or "DoesNotExist" in key or text.startswith("TF400714"):
        return f"could not {action}: not found at {settings.org_url} ({text}); {_target_hint(settings)}"
    # TF400813 comes with a 401: the service does not accept this token here, whatever it may do elsewhere.
    if key == "UnauthorizedRequestException" or text.startswith("TF400813"):
        return _token_refused(action, settings, "TF400813")
    if key in ("AccessDeniedException", "AccessCheckException") or text.startswith("Access denied"):
        return f"could not {action}: access denied ({text}); {_access_hint(action, settings, needs)}"
    if key == "VssVersionOutOfRangeException":
        return f"could not {action}: {settings.org_url} does not serve the REST API version that was asked for ({text})"
    return f"could not {action}: {text or key}"


def _token_refused(action: str, settings: Settings, how: str) -> str:
    variable = settings.token_variable or "the token setting"
    if settings.mode == "pipeline":
        advice = ("map it in the step: `env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)`"
                  if variable == "SYSTEM_ACCESSTOKEN" else f"check {variable}")
    else:
        advice = (f"create a new personal access token (Build: Read, or Read & execute to tag with --publish; "
                  f"Code: Read & write for PR comments) in {variable}")
    return f"the token from {variable} was refused ({how}) when trying to {action}: {advice}"


def _access_hint(action: str, settings: Settings, needs: Optional[str] = None) -> str:
    if needs:
        return needs
    if "pull request" in action or "PR thread" in action:
        return PR_PERMISSION_HINT
    identity = settings.token_variable or "the token"
    return f"the identity behind {identity} needs Build: Read on project {settings.project}"


def _target_hint(settings: Settings) -> str:
    if settings.mode == "pipeline":
        return "check SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT and BUILD_BUILDID"
    # read on the command line and by API clients alike, so it names no flag
    return "check the build URL, or the organisation URL, project and build id"


def _org_setting(settings: Settings) -> str:
    return "SYSTEM_COLLECTIONURI" if settings.mode == "pipeline" else "AZURE_DEVOPS_ORG_URL"


def _is_requests_error(exc: Exception) -> bool:
    from requests import RequestException

    return isinstance(exc, RequestException)


_PROXY_REFUSED = "the proxy refused the credentials in HTTPS_PROXY / HTTP_PROXY (407)"
_UNTRUSTED_CERTIFICATE = ("its TLS certificate is not trusted: point REQUESTS_CA_BUNDLE at a bundle holding the CA "
                          "that signed it (the task passes on the agent's CA certificate)")


def _lasting_transport_problem(exc: Exception) -> Optional[str]:
    """Return what is wrong when the transport failed for a reason no retry mends, else None."""
    text = str(_inner(exc))
    if "407" in text and ("proxy" in text.lower() or "tunnel" in text.lower()):
        return _PROXY_REFUSED
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return _UNTRUSTED_CERTIFICATE
    return None


def _inner(exc: Exception) -> BaseException:
    return getattr(exc, "inner_exception", None) or exc.__cause__ or exc


def _reason(exc: Exception) -> str:
    inner = _inner(exc)
    text = str(inner)
    # Only fixed words leave here: the raw text may hold the proxy URL, and with it the proxy's password.
    lasting = _lasting_transport_problem(exc)
    if lasting:
        return lasting
    if "ProxyError" in text or "Tunnel connection failed" in text:
        return "the proxy in HTTPS_PROXY / HTTP_PROXY could not be reached or refused the connection"
    if any(words in text for words in ("NameResolutionError", "Name or service not known", "getaddrinfo failed",
                                       "nodename nor servname")):
        return "its host name does not resolve here; if only a proxy reaches it, set HTTPS_PROXY"
    for name in ("timed out", "Connection refused", "Connection reset", "Connection aborted", "IncompleteRead"):
        if name.lower() in text.lower():
            return name.lower()
    return type(inner).__name__


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""
