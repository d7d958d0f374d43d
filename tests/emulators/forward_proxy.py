"""A forward HTTP proxy on 127.0.0.1 for tests of a network where only the proxy reaches the servers.

Clients send it what they send any forward proxy when ``HTTP_PROXY``/``HTTPS_PROXY`` are set: absolute-URI
requests (``GET http://host:port/path``) for plain HTTP and ``CONNECT host:port`` tunnels for HTTPS. The proxy
looks host names up in its own table (``hosts``), never in DNS, so a test can give a server a name that only the
proxy can reach (a ``.invalid`` name never resolves anywhere else). It can demand Basic credentials (407), and it
records every request it relays. Standard library only.

Usage::

    with ForwardProxy(hosts={"ado.internal.invalid": "127.0.0.1"}, credentials=("agent", "p@ss:word")) as proxy:
        proxy.url                       # http://127.0.0.1:PORT (no credentials)
        proxy.url_with(credentials)     # http://agent:p%40ss%3Aword@127.0.0.1:PORT
        proxy.requests()                # [ProxiedRequest(method, target, authorized)]
        proxy.requests(host="ado.internal.invalid")
"""
from __future__ import annotations

import base64
import http.client
import select
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Tuple
from urllib.parse import quote, urlsplit

from tests.emulators.loopback import LoopbackServer

BLOCK_SIZE = 64 * 1024
UPSTREAM_TIMEOUT = 30.0
# Headers that belong to one connection, not to the request: a proxy never passes them on (RFC 9110 7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
                        "te", "trailer", "transfer-encoding", "upgrade"})


@dataclass(frozen=True)
class ProxiedRequest:
    """One request the proxy was asked to relay."""

    method: str
    target: str  # the absolute URL, or host:port for CONNECT
    authorized: bool

    @property
    def host(self) -> str:
        return (urlsplit(self.target).hostname if "://" in self.target else self.target.rsplit(":", 1)[0]) or ""


class ForwardProxy(LoopbackServer):
    """A forward proxy serving on a daemon thread; `hosts` maps the names it may reach to addresses."""

    def __init__(self, hosts: Dict[str, str], credentials: Optional[Tuple[str, str]] = None) -> None:
        self.hosts = {name.lower(): address for name, address in hosts.items()}
        self.credentials = credentials
        self._requests: List[ProxiedRequest] = []
        self._lock = threading.Lock()

    def make_server(self) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.proxy = self
        return server

    @property
    def url(self) -> str:
        """Return the proxy's URL without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, credentials: Tuple[str, str]) -> str:
        """Return the proxy's URL carrying user and password, percent-encoded as proxy URLs need them."""
        user, password = (quote(part, safe="") for part in credentials)
        return f"http://{user}:{password}@127.0.0.1:{self.port}"

    def requests(self, host: Optional[str] = None) -> List[ProxiedRequest]:
        """Return the requests asked of the proxy, optionally only those for one host name."""
        with self._lock:
            return [r for r in self._requests if host is None or r.host.lower() == host.lower()]

    def _record(self, request: ProxiedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _authorized(self, header: Optional[str]) -> bool:
        if self.credentials is None:
            return True
        scheme, _, encoded = (header or "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return False
        return (user, password) == self.credentials

    def _address(self, host: str) -> Optional[str]:
        return self.hosts.get(host.lower())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # the request log replaces stderr chatter
        pass

    @property
    def proxy(self) -> ForwardProxy:
        return self.server.proxy

    def do_CONNECT(self):  # noqa: N802 - the stdlib's naming
        host, _, port = self.path.rpartition(":")
        if not self._admitted(self.path):
            return
        address = self.proxy._address(host)
        if address is None or not port.isdigit():
            self._refuse(502, f"no route to {self.path}")
            return
        try:
            upstream = socket.create_connection((address, int(port)), timeout=UPSTREAM_TIMEOUT)
        except OSError as error:
            self._refuse(502, f"cannot reach {self.path}: {error}")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        _relay(self.connection, upstream)
        self.close_connection = True

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.scheme != "http" or not url.hostname:
            self._refuse(400, "a forward proxy takes absolute http:// URLs")
            return
        if not self._admitted(self.path):
            return
        address = self.proxy._address(url.hostname)
        if address is None:
            self._refuse(502, f"no route to {url.hostname}")
            return
        body = self._request_body()
        upstream = http.client.HTTPConnection(address, url.port or 80, timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.putrequest(self.command, url.path + (f"?{url.query}" if url.query else "") or "/",
                                skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    upstream.putheader(name, value)
            upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body)
            self._pass_back(upstream.getresponse())
        except OSError as error:
            self._refuse(502, f"cannot reach {url.hostname}: {error}")
        finally:
            upstream.close()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def _admitted(self, target: str) -> bool:
        authorized = self.proxy._authorized(self.headers.get("Proxy-Authorization"))
        self.proxy._record(ProxiedRequest(self.command, target, authorized))
        if not authorized:
            self.send_response(407, "Proxy Authentication Required")
            self.send_header("Proxy-Authenticate", 'Basic realm="proxy"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        return authorized

    def _refuse(self, status: int, message: str) -> None:
        payload = message.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _pass_back(self, response: http.client.HTTPResponse) -> None:
        """Send the upstream answer to the client, streaming a body of unknown length as chunks."""
        self.send_response(response.status, response.reason)
        length = response.getheader("Content-Length")
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        if self.command == "HEAD" or response.status in (204, 304):
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            return
        if length is not None:
            self.send_header("Content-Length", length)
            self.end_headers()
            while block := response.read(BLOCK_SIZE):
                self.wfile.write(block)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while block := response.read1(BLOCK_SIZE):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
        self.wfile.write(b"0\r\n\r\n")


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes (the tunnel of a CONNECT)."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, broken = select.select(sockets, [], sockets, UPSTREAM_TIMEOUT)
            if broken or not readable:
                return
            for source in readable:
                data = source.recv(BLOCK_SIZE)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()
