"""`azura analyze` on an enterprise agent: Azure DevOps Server, a network where only a proxy reaches the
servers, and servers whose certificates an internal CA signed.

The task hands the agent's proxy and CA settings to Python as HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE and
SSL_CERT_FILE (see task/runazura.ts); these tests give Azura exactly that environment. The Azure DevOps SDK
(requests) and the `openai` client (httpx) are real and talk over real HTTP on 127.0.0.1, through a real
forward proxy, to servers named `*.invalid`: a name nothing but the proxy resolves, so a request that skips the
proxy cannot arrive.
"""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.emulators import ado_scenarios as scenarios
from tests.emulators.ado import SERVER_2020_API, SERVER_2022_API, AdoEmulator
from tests.emulators.forward_proxy import ForwardProxy
from tests.emulators.openai_server import OpenAIEmulator
from tests.integration.conftest import ADO_HOST, LLM_HOST, TOKEN, assert_token_never_leaks
from tests.integration.llm_support import API_KEY

PROXY_CREDENTIALS = ("agent-svc", "p@ss:w/rd%1")  # characters that must be percent-encoded in a proxy URL


def proxy_environment(proxy_url: str, no_proxy: str = "") -> dict:
    """Return the variables the task sets for the agent's proxy (both spellings: tools read one or the other)."""
    env = {}
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = env[name.lower()] = proxy_url
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    return env


def collection_url(emulator: AdoEmulator, host: str) -> str:
    return f"{emulator.scheme}://{host}:{emulator.port}/{emulator.org}/"


@pytest.fixture
def proxy():
    with ForwardProxy(hosts={ADO_HOST: "127.0.0.1", LLM_HOST: "127.0.0.1"}, credentials=PROXY_CREDENTIALS) as running:
        yield running


@pytest.fixture
def openai_emulator():
    with OpenAIEmulator(api_key=API_KEY) as emu:
        yield emu


def llm_environment(openai_emulator: OpenAIEmulator, host: str = "127.0.0.1") -> dict:
    base_url = openai_emulator.base_url.replace("127.0.0.1", host)
    return {"LLM_PROVIDER": "openai", "OPENAI_API_KEY": API_KEY, "OPENAI_BASE_URL": base_url}


def assert_full_report(step, emulator, scenario) -> None:
    """Fail unless the step analysed the run and published the summary, the tag and the PR comment."""
    assert step.returncode == 0, step.stderr
    assert step.analysis["failures"], step.stderr
    summary = (step.output_dir / "summary.md").resolve()
    assert f"##vso[task.uploadsummary]{summary}" in step.commands()
    assert emulator.tags(scenario.build_id) == [step.analysis["tag"]]
    assert len(emulator.threads(scenario.pr_id)) == 1


def test_proxy_only_network_reaches_azure_devops_and_the_llm_through_the_proxy(
        emulator, proxy, openai_emulator, agent_env, run_step):
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo(ADO_HOST, emulator.port)  # only the proxy can reach these servers
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario, SYSTEM_COLLECTIONURI=collection_url(emulator, ADO_HOST),
                    **proxy_environment(proxy.url_with(PROXY_CREDENTIALS)),
                    **llm_environment(openai_emulator, LLM_HOST))

    step = run_step(env)

    assert_full_report(step, emulator, scenario)
    assert step.warnings() == []
    assert (step.analysis["provider"], step.analysis["degraded"]) == ("openai", False)
    ado = proxy.requests(host=ADO_HOST)
    assert len(ado) >= len(emulator.requests()) > 5 and all(r.authorized for r in ado)
    assert [r.method for r in proxy.requests(host=LLM_HOST)] == ["POST"]
    assert_token_never_leaks(step, env)
    assert PROXY_CREDENTIALS[1] not in step.stdout + step.stderr


def test_hosts_on_the_bypass_list_are_reached_directly(emulator, proxy, openai_emulator, agent_env, run_step):
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario, SYSTEM_COLLECTIONURI=collection_url(emulator, ADO_HOST),
                    **proxy_environment(proxy.url_with(PROXY_CREDENTIALS), no_proxy="127.0.0.1"),
                    **llm_environment(openai_emulator))

    step = run_step(env)

    assert_full_report(step, emulator, scenario)
    assert len(openai_emulator.chat_requests()) == 1
    assert proxy.requests(host="127.0.0.1") == [] and proxy.requests(host=ADO_HOST)


def test_proxy_refusing_the_credentials_ends_with_a_warning_that_names_the_proxy(emulator, proxy, agent_env,
                                                                                  run_step):
    scenario = scenarios.pr_build(emulator)
    env = agent_env(emulator, scenario, SYSTEM_COLLECTIONURI=collection_url(emulator, ADO_HOST),
                    **proxy_environment(proxy.url_with(("agent-svc", "wrong"))))

    step = run_step(env)

    assert step.returncode == 0
    (warning,) = step.warnings()
    assert "the proxy refused the credentials in HTTPS_PROXY / HTTP_PROXY (407)" in warning
    assert "wrong" not in step.stdout + step.stderr


# ---------------------------------------------------------------------------------------------------------------
# An internal CA: Azure DevOps and the LLM behind TLS certificates that no public CA signed


def ca_bundle(folder: Path, ca_file: Path) -> Path:
    """Return a bundle of the public CAs and the internal one, as the task writes it for the agent's CA."""
    import certifi

    bundle = folder / "ca-bundle.pem"
    bundle.write_text(Path(certifi.where()).read_text(encoding="ascii") + "\n" + ca_file.read_text(encoding="ascii"),
                      encoding="ascii")
    return bundle


def test_internal_ca_behind_a_proxy_tunnel_gives_a_full_report(internal_ca, proxy, agent_env, run_step, tmp_path):
    ca_file, server_context = internal_ca
    bundle = str(ca_bundle(tmp_path, ca_file))
    with AdoEmulator(token=TOKEN, tls=server_context) as emulator, \
            OpenAIEmulator(api_key=API_KEY, tls=server_context) as openai_emulator:
        scenario = scenarios.pr_build(emulator)
        env = agent_env(emulator, scenario, SYSTEM_COLLECTIONURI=collection_url(emulator, ADO_HOST),
                        REQUESTS_CA_BUNDLE=bundle, SSL_CERT_FILE=bundle,
                        **proxy_environment(proxy.url_with(PROXY_CREDENTIALS)),
                        **llm_environment(openai_emulator, LLM_HOST))

        step = run_step(env)

        assert_full_report(step, emulator, scenario)
        assert (step.analysis["provider"], step.analysis["degraded"]) == ("openai", False)
    assert {r.method for r in proxy.requests(host=ADO_HOST)} == {"CONNECT"}
    assert {r.method for r in proxy.requests(host=LLM_HOST)} == {"CONNECT"}


def test_certificate_from_an_unknown_ca_ends_with_a_warning_naming_the_ca_setting(internal_ca, agent_env, run_step):
    _, server_context = internal_ca
    with AdoEmulator(token=TOKEN, tls=server_context) as emulator:
        scenario = scenarios.pr_build(emulator)

        step = run_step(agent_env(emulator, scenario, SYSTEM_COLLECTIONURI=emulator.org_url + "/"))

    assert step.returncode == 0
    (warning,) = step.warnings()
    assert "TLS certificate is not trusted" in warning and "REQUESTS_CA_BUNDLE" in warning
    assert "tries" not in warning  # a certificate does not change between tries


# ---------------------------------------------------------------------------------------------------------------
# Azure DevOps Server: older REST API versions only


@pytest.mark.parametrize("api_version", [SERVER_2022_API, SERVER_2020_API])
def test_azure_devops_server_is_asked_only_for_api_versions_it_serves(api_version, agent_env, run_step):
    with AdoEmulator(token=TOKEN, api_version=api_version) as server:
        scenario = scenarios.pr_build(server)

        step = run_step(agent_env(server, scenario, SYSTEM_COLLECTIONURI=server.server_url + "/"))

        assert_full_report(step, server, scenario)
        assert step.warnings() == []
        asked = server.requests()
        assert {r.api_version for r in asked if r.route != "options"} == {api_version}
        assert [r for r in asked if r.status >= 400] == []
