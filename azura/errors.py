"""Exit codes and the small family of errors Azura reports to its users."""
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    ANALYSIS_IMPOSSIBLE = 1  # could not analyse or answer; `analyze` in a pipeline only with --strict
    USAGE = 2  # usage or configuration error, a missing extra included
    INTERRUPTED = 130  # Ctrl+C, as shells report SIGINT


class AzuraError(Exception):
    """Base of every error Azura reports; the message is for the user and never holds a secret."""

    exit_code = ExitCode.ANALYSIS_IMPOSSIBLE
    http_status = 500


class ConfigError(AzuraError):
    """A setting is missing or wrong; the message names it and where we looked."""

    exit_code = ExitCode.USAGE
    http_status = 400


class InputError(AzuraError):
    """A log or request body cannot be read (missing, a directory, binary, too large)."""

    exit_code = ExitCode.USAGE
    http_status = 400


class CollectError(AzuraError):
    """Azure DevOps could not be read: auth, permission, not found, or transport failure."""

    http_status = 502


class PublishError(AzuraError):
    """One publish sink failed; the others still run."""

    http_status = 502


class LLMError(AzuraError):
    """The LLM gave no usable answer: transport, timeout, rate limit, refusal or invalid JSON."""

    http_status = 502


class DeadlineExceeded(AzuraError):
    """The run's overall deadline (--timeout) passed."""

    http_status = 504


class ServerBusy(AzuraError):
    """The server cannot take this work now (its job store is full); the client may try again later."""

    http_status = 503
