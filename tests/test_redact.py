"""Redaction: every kind of secret goes, and every look-alike that is not a secret stays."""
import pytest

from azura.redact import REDACTIONS, redact

LEGACY_PAT = "abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrst"
NEW_PAT = "FBdFol081crwkIHWJH2yiqDDyrFjVSi7HWl22hN2hTYfsB8NlGDpJQQJ77BAACAAAAAAAAAAAAASAZDOBucT"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize("text, gone, mark", [
    (f"curl -u :{LEGACY_PAT} https://dev.azure.com/org", LEGACY_PAT, "«redacted:pat»"),
    (f"pat {NEW_PAT} used", NEW_PAT, "«redacted:pat»"),
    (f"token {JWT}", JWT, "«redacted:jwt»"),
    ("Authorization: Bearer abc123def456ghi789", "abc123def456ghi789", "Bearer «redacted:bearer»"),
    ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA==", "Basic «redacted:bearer»"),
    ("key AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "«redacted:aws-key»"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI", "«redacted:value»"),
    ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Zm9vYmFyYmF6cXV4==;EndpointSuffix=x",
     "Zm9vYmFyYmF6cXV4", "AccountKey=«redacted:connection-string»"),
    ("Server=db;User Id=sa;Password=Hunter2!;", "Hunter2!", "Password=«redacted:connection-string»"),
    ("https://acct.blob.core.windows.net/c/f?sv=2020-08-04&sig=abcDEF123%2Bxyz%3D", "abcDEF123", "sig=«redacted:sas»"),
    ("key AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIzaSyA-1234567890", "«redacted:gcp-key»"),
    ("git push https://x-access-token:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r",
     "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "«redacted:"),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_", "«redacted:github-token»"),
    ("git clone https://bob:s3cr3tpass@example.com/repo.git", "s3cr3tpass", "bob:«redacted:url-password»@"),
    ("password=hunter22", "hunter22", "password=«redacted:"),
    ('{"client_secret": "abc.DEF-123"}', "abc.DEF-123", "«redacted:value»"),
    ("api_key: 0123456789abcdef", "0123456789abcdef", "api_key: «redacted:value»"),
    ("mysql --password s3cret -h db", "s3cret", "--password «redacted:value»"),
    ("-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA",
     "«redacted:private-key»"),
    ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj", "MIIEvQIBADAN", "«redacted:private-key»"),
])
def test_secret_is_redacted_and_named(text, gone, mark):
    result = redact(text)
    assert gone not in result
    assert mark in result


@pytest.mark.parametrize("text", [
    "HEAD is now at 4b825dc642cb6eb9a060e54bf8d69288fbef4904 Merge pull request #12",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "record 3f2504e0-4f89-11d3-9a0c-0305e82c3301 finished",
    "Build 20240501.7 (id 123456789) queued",
    "test_ZXhhbXBsZQ==_decodes_base64 PASSED",
    "tests/test_tokens.py::test_tokens_are_counted PASSED",
    "Unexpected token } in JSON at position 4",
    "error TS2322: Type 'string' is not assignable to type 'number'.",
    "Password: ",
    "passwordless login enabled",
    "https://dev.azure.com/org/project/_build/results?buildId=42",
])
def test_look_alike_is_not_redacted(text):
    assert redact(text) == text


def test_literal_secret_is_redacted():
    assert redact("deploying with key swordfish-42 now", ["swordfish-42"]) == "deploying with key «redacted:secret» now"


def test_longer_literal_secret_wins_over_its_prefix():
    assert redact("abc-longer", ["abc", "abc-longer"]) == "«redacted:secret»"


def test_empty_or_tiny_literal_secrets_are_ignored():
    assert redact("a b c", ["", "a"]) == "a b c"


def test_redacting_twice_changes_nothing():
    once = redact("Password=Hunter2!; token=abcdef", ["Hunter2!"])
    assert redact(once, ["Hunter2!"]) == once


def test_every_redaction_says_what_it_catches():
    assert all(r.name and "«redacted:" in r.replacement for r in REDACTIONS)
