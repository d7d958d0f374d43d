"""What every emulator shares: an HTTP server on 127.0.0.1, served from a daemon thread, used as a context."""
from __future__ import annotations

import ssl
import threading
from http.server import ThreadingHTTPServer
from typing import Optional


class LoopbackServer:
    """Serve `make_server()` on a background thread between `start()` and `stop()` (or as a `with` block).

    A subclass builds its server in `make_server`; `tls`, when it holds a context, wraps the listening socket.
    """

    tls: Optional[ssl.SSLContext] = None
    _server: Optional[ThreadingHTTPServer] = None
    _thread: Optional[threading.Thread] = None

    def make_server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def start(self):
        """Bind and serve on a daemon thread; return self."""
        server = self.make_server()
        server.daemon_threads = True
        if self.tls is not None:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """Return the bound port."""
        return self._server.server_address[1]
