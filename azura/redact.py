"""Secret redaction: a table of patterns, applied before any log text leaves the machine.

Each replacement names what went (`«redacted:pat»`), so a reader (and the LLM) knows a value was there.
Patterns are built to leave git SHAs, GUIDs, build ids and base64-looking test names alone.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Pattern, Sequence, Tuple


@dataclass(frozen=True)
class Redaction:
    name: str
    pattern: Pattern[str]
    replacement: str  # may refer to groups of `pattern` (\1 keeps a key name or a URL scheme)


def _mark(name: str) -> str:
    return f"«redacted:{name}»"


_PAIR_KEYS = (
    r"password|passwd|pwd|passphrase|secret|client[_-]?secret|token|access[_-]?token|auth[_-]?token"
    r"|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|private[_-]?key|aws_secret_access_key"
)

REDACTIONS: Tuple[Redaction, ...] = (
    # A PEM private key on one line (JSON service-account files, echoed env vars).
    Redaction("private-key", re.compile(
        r"-----BEGIN[A-Z ]*PRIVATE KEY-----.*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)"), _mark("private-key")),
    # The body lines of a multi-line PEM key: 40-76 base64 characters alone on a line, mixing upper case,
    # lower case and digits (a hex digest has no upper case, a test name has no 40-char unbroken run).
    Redaction("private-key", re.compile(
        r"(?m)^\s*(?=[A-Za-z0-9+/]*[A-Z])(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[0-9])[A-Za-z0-9+/]{40,76}={0,2}\s*$"),
        _mark("private-key")),
    # JSON Web Tokens: header.payload.signature, header and payload base64url JSON ("eyJ").
    Redaction("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"), _mark("jwt")),
    # Azure DevOps PAT, 84-character format: 52 random characters, then a fixed signature with "AZDO".
    Redaction("pat", re.compile(r"\b[0-9A-Za-z]{52}JQQJ[0-9A-Za-z]{20}AZDO[0-9A-Za-z]{4}\b"), _mark("pat")),
    # Azure DevOps PAT, legacy format: 52 characters of lower-case base32.
    Redaction("pat", re.compile(r"\b[a-z2-7]{52}\b"), _mark("pat")),
    # GitHub tokens: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained (github_pat_).
    Redaction("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b"),
              _mark("github-token")),
    # AWS access key ids (long-lived AKIA, temporary ASIA).
    Redaction("aws-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), _mark("aws-key")),
    # Google Cloud API keys.
    Redaction("gcp-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), _mark("gcp-key")),
    # Slack tokens, often pasted into notification steps.
    Redaction("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), _mark("slack-token")),
    # Authorization headers: "Bearer <token>", "Basic <base64>".
    Redaction("bearer", re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + _mark("bearer")),
    # Connection strings (Azure Storage, Service Bus, SQL): AccountKey=...; Password=...; and SAS signatures.
    Redaction("connection-string", re.compile(
        r"(?i)\b(AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)=(?!«)([^;\"'\s]+)"),
        r"\1=" + _mark("connection-string")),
    # SAS tokens in URLs: ...?sv=...&sig=<signature>.
    Redaction("sas", re.compile(r"(?i)([?&]sig=)[A-Za-z0-9%+/=]{10,}"), r"\1" + _mark("sas")),
    # URLs carrying credentials: scheme://user:password@host.
    Redaction("url-password", re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s:@]*):(?!«)[^/\s@]+@"),
              r"\1:" + _mark("url-password") + "@"),
    # Key-value pairs: password=..., "secret": "...", token: ..., --password ...
    Redaction("pair", re.compile(
        r"(?i)(\b(?:" + _PAIR_KEYS + r")\b[\"']?\s*[:=]\s*[\"']?)(?!«)([^\s\"',;&]{3,})"),
        r"\1" + _mark("value")),
    Redaction("pair", re.compile(r"(?i)((?:^|\s)--?(?:password|token|secret)[ =])(?!«)(\S{3,})"),
              r"\1" + _mark("value")),
)


def redact(text: str, secrets: Sequence[str] = ()) -> str:
    """Return `text` with the given secret values and everything `REDACTIONS` recognises replaced."""
    for secret in sorted((s for s in secrets if s and len(s) >= 3), key=len, reverse=True):
        text = text.replace(secret, _mark("secret"))
    for redaction in REDACTIONS:
        text = redaction.pattern.sub(redaction.replacement, text)
    return text
