"""Redaction: every catalogued kind of secret goes, every look-alike stays, and known values go in any encoding.

The catalogue's own examples are the first tests: each `redact` example must lose exactly its «marked» parts
to its own entry, and each `keep` example must come out of the whole catalogue unchanged.
"""
import base64
import re
from urllib.parse import quote

import pytest

from azura.examples import example_paths
from azura.models import Line
from azura.redact import (KNOWN_SECRET_MARK, catalogue, encoded_forms, name_words, redact, redact_fields, redact_lines,
                          redact_texts, redactions)

MARKED = re.compile(r"«([^»]*)»")


def _cases(kind):
    return [pytest.param(entry, example, id=f"{entry.id}-{n}") for entry in redactions()
            for n, example in enumerate(getattr(entry, kind))]


@pytest.mark.parametrize("entry, example", _cases("redact"))
def test_entry_redacts_exactly_the_marked_secrets_of_its_examples(entry, example):
    text = MARKED.sub(r"\1", example)
    expected = MARKED.sub(lambda found: entry.mark, example)

    assert catalogue().redact(text, only=entry) == expected


@pytest.mark.parametrize("entry, example", _cases("redact"))
def test_whole_catalogue_removes_every_marked_secret(entry, example):
    result = redact(MARKED.sub(r"\1", example))

    for secret in MARKED.findall(example):
        assert secret not in result


@pytest.mark.parametrize("entry, example", _cases("keep"))
def test_look_alike_comes_out_of_the_whole_catalogue_unchanged(entry, example):
    assert redact(example) == example


def test_every_entry_says_what_it_catches_and_has_examples_that_test_it():
    for entry in redactions():
        assert entry.about and entry.redact, entry.id


@pytest.mark.parametrize("text", [
    "HEAD is now at 4b825dc642cb6eb9a060e54bf8d69288fbef4904 Merge pull request #12",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "record 3f2504e0-4f89-11d3-9a0c-0305e82c3301 finished",
    "3f2504e04f8911d39a0c0305e82c33013f2504e04f8911d39a0c0305e82c3301abcdef",
    "test_ZXhhbXBsZQ==_decodes_base64 PASSED",
    "TestRetryPolicyBacksOffExponentiallyWhenTheServerSays429x",
    "Unexpected token } in JSON at position 4",
    "SyntaxError: Unexpected token: punc (})",
    "error TS2322: Type 'string' is not assignable to type 'number'.",
    "Password: ",
    "passwordless login enabled",
    "https://dev.azure.com/org/project/_build/results?buildId=42",
    "SKIP Test fgetss() function : Basic functionality - read/write modes",
    "warning: the key 'foo' is deprecated; use token-based auth instead",
])
def test_build_output_without_secrets_is_not_redacted(text):
    assert redact(text) == text


def test_clean_lines_select_no_entry_at_all():
    lines = ["src/app.c:12:5: error: expected ';' before '}'", "Downloading https://pypi.org/simple/pip/",
             "key lookup failed in the path of the author", "PASSED test_token_refresh (0.2s)"]

    assert catalogue().precheck.hits(lines) == {}


def test_precheck_runs_as_one_linear_time_search_where_re2_is_installed():
    pytest.importorskip("re2")

    assert catalogue().precheck.engine == "re2"


def test_a_trigger_that_entries_share_is_searched_for_once():
    shared = next(entry.trigger for entry in redactions() if entry.id == "assignment")

    assert len([entry for entry in redactions() if entry.trigger == shared]) > 1
    assert sum(pattern.count(shared) for pattern in catalogue().precheck.patterns) == 1


def test_redacting_twice_changes_nothing():
    once = redact("Password=Hunter2!; token=abcdef ghp_xEEsAoCaA2QTqpOoast0vQj8VMtbYo9Mqb5j", ["Hunter2!"])

    assert redact(once, ["Hunter2!"]) == once


def test_multi_line_private_key_block_goes_whole():
    block = "\n".join(["key:", "-----BEGIN RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7V", "c3VwZXJzZWNyZXQ",
                       "-----END RSA PRIVATE KEY-----", "done"])

    assert redact(block) == "key:\n«redacted:private-key»\ndone"


def test_lines_of_a_multi_line_text_are_redacted_each_in_place():
    text = "ok\nexport DB_PASSWORD=hunter2\nplain line\nGH=ghp_xEEsAoCaA2QTqpOoast0vQj8VMtbYo9Mqb5j\n"

    assert redact(text) == "ok\nexport DB_PASSWORD=«redacted:assignment»\nplain line\nGH=«redacted:github-token»\n"


@pytest.mark.parametrize("entry, example", _cases("redact"))
def test_a_line_is_redacted_alike_whatever_line_comes_before_it(entry, example):
    """A line that starts with its secret's flag ("--password x") is found in lines searched together, where the
    flag's trigger starts at the line break before it."""
    text = MARKED.sub(r"\1", example)
    if entry.whole_text or "\n" in text:
        pytest.skip("a text of several lines")
    for start in (0, *(at + 1 for at, char in enumerate(text) if char in " \"'(=")):
        assert redact_lines(["Starting deploy", text[start:]]) == ["Starting deploy", redact(text[start:])], start


def test_text_with_crlf_line_breaks_is_redacted_like_lf_text():
    text = "db:\r\n  password: hunter2-crlf\r\nnZHkvP+aqqGYG+5U/bXVbAshrPILiBP5+rrCfJnPocKJqopvJWeynVk1BtWU+r++\r\n"

    assert redact(text) == "db:\r\n  password: «redacted:yaml-assignment»\r\n«redacted:private-key-line»\r\n"


@pytest.mark.parametrize("name, secret", [
    ("DB_PASSWORD", True), ("AZURE_CLIENT_SECRET", True), ("SYSTEM_ACCESSTOKEN", True), ("apiKey", True),
    ("SecretAccessKey", True), ("MY_PAT", True), ("DB_PWD", True), ("npm_auth", True), ("sig", True),
    ("PWD", False), ("OLDPWD", False), ("key", False), ("TOKEN_URL", False), ("SECRET_NAME", False),
    ("CACHE_KEY", False), ("max_tokens", False), ("tokenizer", False), ("PUBLIC_KEY", False), ("PATH", False),
    ("SSH_AUTH_SOCK", False), ("secrets", False),
])
def test_secret_names_are_told_from_names_about_secrets(name, secret):
    assert catalogue().names.is_secret(name) is secret


@pytest.mark.parametrize("text, holds", [
    ("export DB_PASSWORD=x", True), ("apiKey: x", True), ("MY_PAT=x", True), ("--sas-token x", True),
    ("sig=abc", True), ("Signature: x", True),
    ("Author       : Microsoft Corporation", False), ("PASSED: 12", False), ("tokens=5 pattern=a*", False),
])
def test_a_text_may_hold_a_secret_name_only_with_a_word_such_a_name_needs(text, holds):
    assert catalogue().names.may_hold_secret_name(text) is holds


_LETTER_OR_DIGIT = re.compile("[A-Za-z0-9]")


def _names_inside_words(lines):
    """Return (entry id, line) for each name a secret-name entry matches that starts or ends inside a word."""
    found = []
    for line in lines:
        for entry in (entry for entry in redactions() if entry.check == "secret-name"):
            for match in entry.pattern.finditer(line):
                start, end = match.span("name")
                if (start > 0 and _LETTER_OR_DIGIT.match(line[start - 1])) or \
                        (end < len(line) and _LETTER_OR_DIGIT.match(line[end])):
                    found.append((entry.id, line))
    return found


def test_a_secret_name_entry_reads_whole_words_as_the_name_in_its_examples():
    """What lets a line without a word a secret's name needs skip these entries: a name cut out of a word
    ("passwordless" read as "password") would name a secret that no whole word of the line names."""
    examples = [MARKED.sub(r"\1", example) for entry in redactions() for example in (*entry.redact, *entry.keep)]

    assert _names_inside_words(line for example in examples for line in example.split("\n")) == []


def test_a_secret_name_entry_reads_whole_words_as_the_name_in_real_logs():
    from tests.corpus import corpus_dir, log_chunks

    named = {index for index, entry in enumerate(redactions()) if entry.check == "secret-name"}
    lines = []
    for path in sorted((corpus_dir() / "logchunks" / "logs").glob("*/*/*/*.log.gz"))[::10]:
        text = b"".join(log_chunks(path)).decode("utf-8", "replace").splitlines()
        lines.extend(text[index] for index, found in catalogue().precheck.hits(text).items() if named & set(found))

    assert len(lines) > 100
    assert _names_inside_words(lines) == []


def test_secret_name_entries_are_compiled_only_for_a_line_with_a_word_a_secret_name_needs():
    fresh = catalogue.__wrapped__()  # entries whose patterns no test has compiled yet
    named = [entry for entry in fresh.entries if entry.check == "secret-name"]
    line = "Author       : Microsoft Corporation"

    assert {fresh.entries[index] for index in fresh.precheck.hits([line])[0]} & set(named)  # "auth" picked them
    assert fresh.redact_lines([line]) == [line]
    assert [entry.id for entry in named if "pattern" in vars(entry)] == []
    assert fresh.redact_lines(["export DB_PASSWORD=hunter2"]) == ["export DB_PASSWORD=«redacted:assignment»"]
    assert "pattern" in vars(next(entry for entry in named if entry.id == "assignment"))


def test_names_split_at_punctuation_and_camel_humps():
    assert name_words("env:ARM_ClientSecret") == ["env", "arm", "client", "secret"]
    assert name_words("APIKey") == ["api", "key"]


# ---------------------------------------------------------------------------------------------- known values

SECRET = "swordfish-42-Tango"


def test_known_secret_is_redacted_verbatim():
    assert redact(f"deploying with key {SECRET} now", [SECRET]) == f"deploying with key {KNOWN_SECRET_MARK} now"


@pytest.mark.parametrize("form", [
    base64.b64encode(SECRET.encode()).decode(),
    base64.b64encode(f":{SECRET}".encode()).decode(),  # Basic auth with an empty user, as git sends a PAT
    base64.b64encode(f"build:{SECRET}".encode()).decode(),
    base64.urlsafe_b64encode(f"xy{SECRET}".encode()).decode(),
    quote("p@ss/word&" + SECRET, safe=""),
], ids=["base64", "basic-empty-user", "basic-user", "base64url-shifted", "url-encoded"])
def test_known_secret_is_redacted_in_its_encoded_forms(form):
    secrets = [SECRET, "p@ss/word&" + SECRET]

    result = redact(f"header {form} sent", secrets)

    assert KNOWN_SECRET_MARK in result
    assert form not in result


def test_encoded_forms_are_never_shorter_than_the_minimum():
    assert all(len(form) >= 8 for form in encoded_forms("abcdefghij") if form != "abcdefghij")


def test_longer_known_secret_wins_over_its_prefix():
    assert redact("abc-longer", ["abc", "abc-longer"]) == KNOWN_SECRET_MARK


def test_empty_or_tiny_known_secrets_are_ignored():
    assert redact("a b c", ["", "a"]) == "a b c"


def test_fields_of_nested_dataclasses_are_redacted():
    lines = (Line(1, "export DB_PASSWORD=hunter2"), Line(2, f"ok {SECRET}"))

    redacted = redact_fields(lines, [SECRET])

    assert [line.text for line in redacted] == ["export DB_PASSWORD=«redacted:assignment»", f"ok {KNOWN_SECRET_MARK}"]
    assert [line.number for line in redacted] == [1, 2]


# ---------------------------------------------------------------------------------------------- many texts at once

def _texts_of_every_kind():
    """Return the catalogue's examples, each after a plain line and alone, with CRLF and multi-line texts and
    the bundled example logs cut into texts of three lines: what a batch may put side by side."""
    examples = [MARKED.sub(r"\1", example) for entry in redactions() for example in (*entry.redact, *entry.keep)]
    logs = [line for path in example_paths() for line in path.read_text(encoding="utf-8").splitlines()]
    return [*(text for example in examples for text in ("Starting deploy", example)),
            "db:\r\n  password: hunter2-crlf\r\n", f"ok\nexport DB_PASSWORD=hunter2\n{SECRET}\n", "",
            *("\n".join(logs[start:start + 3]) for start in range(0, len(logs), 3))]


def test_texts_redacted_together_come_out_as_each_alone():
    texts = _texts_of_every_kind()

    assert redact_texts(texts, [SECRET]) == [redact(text, [SECRET]) for text in texts]


def test_fields_holding_no_secret_come_back_as_the_same_value():
    lines = (Line(1, "collecting tests"), Line(2, "1 passed"))

    assert redact_fields(lines) is lines


def test_a_string_found_twice_in_the_fields_is_redacted_in_both_places():
    lines = (Line(1, "export DB_PASSWORD=hunter2"), Line(2, "plain"), Line(3, "export DB_PASSWORD=hunter2"))

    redacted = redact_fields(lines)

    assert [line.text for line in redacted] == ["export DB_PASSWORD=«redacted:assignment»", "plain",
                                                "export DB_PASSWORD=«redacted:assignment»"]
