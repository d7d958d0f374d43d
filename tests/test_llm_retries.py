"""When a cloud model times out, a retry is sent only while a whole attempt still fits in the LLM's deadline.

A remote server cannot run here (the emulator is on loopback, which counts as local, where timeouts are never
retried), so a stand-in client plays a cloud API that never answers: each call uses up its whole timeout on the
injected clock and raises the `openai` package's own timeout error.
"""
from __future__ import annotations

from types import SimpleNamespace

import httpx2  # the HTTP package the locked `openai` is built on
import openai
import pytest

from azura.analyze.llm import ask_llm
from azura.context import Settings
from azura.models import Deadline
from tests.integration.llm_support import make_offline


REQUEST = httpx2.Request("POST", "https://llm.example.com/v1/chat/completions")


class HangingCloud:
    """A client whose every request hangs until its timeout, which advances `now` by that long."""

    def __init__(self):
        self.now = 0.0
        self.timeouts = []
        create = SimpleNamespace(create=self.create)
        self.chat = SimpleNamespace(completions=SimpleNamespace(with_raw_response=create))

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def create(self, timeout, **request):
        self.timeouts.append(timeout.read)
        self.now += timeout.read
        raise openai.APITimeoutError(request=REQUEST)


@pytest.mark.parametrize("seconds, timeouts, status", [
    (100.0, [30.0, 30.0, 30.0], "failed: no answer within 30 s, after 2 retries"),
    (80.0, [30.0, 30.0], "failed: no answer within 30 s; a retry would not fit in the 20 s left"),
    (40.0, [30.0], "failed: no answer within 30 s; a retry would not fit in the 10 s left"),
])
def test_a_cloud_timeout_is_retried_only_while_a_whole_attempt_fits(seconds, timeouts, status):
    cloud = HangingCloud()
    settings = Settings(llm_provider="openai", openai_api_key="sk-x", openai_base_url="https://llm.example.com/v1",
                        llm_timeout=30.0)

    analysis = ask_llm(make_offline(), settings, deadline=Deadline.after(seconds, 0.0),
                       client_factory=lambda _: cloud, clock=cloud.clock, sleep=cloud.sleep)

    assert cloud.timeouts == timeouts
    assert analysis.llm_status == status


def test_connecting_to_a_cloud_api_may_take_longer_than_to_a_local_server():
    seen = []

    def factory(settings):
        def create(timeout, **request):
            seen.append(timeout.connect)
            raise openai.APIConnectionError(request=REQUEST)
        return SimpleNamespace(chat=SimpleNamespace(completions=SimpleNamespace(
            with_raw_response=SimpleNamespace(create=create))))

    for base_url in ("https://llm.example.com/v1", "http://127.0.0.1:8080/v1"):
        ask_llm(make_offline(), Settings(llm_provider="openai", openai_base_url=base_url, llm_timeout=30.0),
                client_factory=factory, sleep=lambda seconds: None)

    assert seen == [10.0] * 3 + [2.0] * 3
