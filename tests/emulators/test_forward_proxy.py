"""The forward proxy relays plain requests and CONNECT tunnels to the hosts of its table, and only those."""
import socket
import urllib.error
import urllib.request

import pytest

from tests.emulators import ado_scenarios
from tests.emulators.ado import AdoEmulator
from tests.emulators.forward_proxy import ForwardProxy

HOST = "ado.internal.invalid"
CREDENTIALS = ("svc", "s3cr:et@")


@pytest.fixture
def emu():
    with AdoEmulator(token="t0ken") as emulator:
        yield emulator


def fetch(proxy_url: str, url: str):
    """Return the status of a GET of `url` through the proxy at `proxy_url`."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_absolute_url_request_reaches_a_host_only_the_proxy_resolves(emu):
    with ForwardProxy(hosts={HOST: "127.0.0.1"}, credentials=CREDENTIALS) as proxy:
        status = fetch(proxy.url_with(CREDENTIALS), f"http://{HOST}:{emu.port}/contoso/_apis/projects")

        assert status == 401  # the emulator's answer to a request without a token, relayed
        assert [(r.method, r.host, r.authorized) for r in proxy.requests()] == [("GET", HOST, True)]
    assert emu.requests()[0].path == "/contoso/_apis/projects"


def test_wrong_credentials_get_407_and_nothing_is_relayed(emu):
    with ForwardProxy(hosts={HOST: "127.0.0.1"}, credentials=CREDENTIALS) as proxy:
        status = fetch(proxy.url_with(("svc", "wrong")), f"http://{HOST}:{emu.port}/contoso/_apis/projects")

    assert status == 407
    assert emu.requests() == []


def test_host_outside_the_table_is_502(emu):
    with ForwardProxy(hosts={HOST: "127.0.0.1"}) as proxy:
        assert fetch(proxy.url, f"http://elsewhere.invalid:{emu.port}/contoso/_apis/projects") == 502


def test_connect_opens_a_tunnel_to_the_mapped_address(emu):
    scenario = ado_scenarios.succeeded_run(emu)
    with ForwardProxy(hosts={HOST: "127.0.0.1"}) as proxy:
        port = int(proxy.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as tunnel:
            tunnel.sendall(f"CONNECT {HOST}:{emu.port} HTTP/1.1\r\nHost: {HOST}:{emu.port}\r\n\r\n".encode())
            assert tunnel.recv(1024).startswith(b"HTTP/1.1 200")
            tunnel.sendall(f"GET /contoso/{scenario.project}/_apis/build/builds/{scenario.build_id} HTTP/1.1\r\n"
                           f"Host: {HOST}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tunnel.recv(65536):
                answer += chunk

    assert answer.startswith(b"HTTP/1.1 401")
    assert [r.method for r in proxy.requests(host=HOST)] == ["CONNECT"]
