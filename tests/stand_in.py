"""A local HTTP server that plays an outside service (an SMS provider, a group robot, a webhook).

It listens on 127.0.0.1 on a free port, records every request it gets and answers as the test
tells it, so a test can check what our code really sent and how it copes with each answer:

    with StandIn({"errcode": 0, "errmsg": "ok"}) as robot:
        app.config["NOTIFY_WEBHOOK_URL"] = robot.url("/cgi-bin/webhook/send?key=k")
        ...
        assert robot.last.json["msgtype"] == "text"

Each answer is a (status, body): a body that is bytes goes as it is, anything else as JSON.
The next answer is the first of `answers` (a queue the test fills), else `verdict(received)`
when set (a provider that checks a signature), else `status` and `body`, which a test may
change at any time (`answer()` sets both). `delay` holds every answer back; `hang()` makes the
server never answer, as a provider that times out.

Plain Python without pytest, so that a benchmark can use it too.
"""

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

Answer = tuple[int, Any]


@dataclass
class Received:
    """One request as the stand-in got it."""

    method: str
    path: str  # without the query
    query: dict[str, str]  # one value per name, blank values kept
    headers: dict[str, str]  # names lowercased
    body: bytes
    json: Any  # the body parsed, or None when it is not JSON
    client: tuple = ()  # the sender's address and port: one per connection it opened


class StandIn:
    def __init__(self, body: Any = None, *, status: int = 200, content_type: str = "application/json",
                 port: int = 0):
        """`body` and `status` are the answer by default; `port` 0 picks a free one (a test that
        brings a service back on an address it could not reach earlier passes that port)."""
        self.received: list[Received] = []
        self.answers: list[Answer] = []
        self.verdict: Callable[[Received], Answer] | None = None
        self.delay = 0.0
        self.status, self.body, self.content_type = status, {} if body is None else body, content_type
        self._release = threading.Event()
        self._hanging = False
        self._connections: set[socket.socket] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        # A short poll: close() waits for it at each test's end.
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def url(self, path: str = "") -> str:
        """The address of `path` (with its query, if any) on this server."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, body: Any, status: int = 200, content_type: str = "application/json") -> None:
        """Answer every later request with this, until told otherwise."""
        self.status, self.body, self.content_type = status, body, content_type

    def hang(self) -> None:
        """Keep every later client waiting without an answer, until close()."""
        self._hanging = True

    @property
    def last(self) -> Received:
        return self.received[-1]

    def json_bodies(self) -> list[Any]:
        """The parsed JSON body of each request, in the order they came."""
        return [received.json for received in self.received]

    def close(self) -> None:
        """Stop, and end the connections clients kept open, as a service that goes away does."""
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "StandIn":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _next_answer(self, received: Received) -> tuple[int, bytes]:
        if self.answers:
            status, body = self.answers.pop(0)
        elif self.verdict is not None:
            status, body = self.verdict(received)
        else:
            status, body = self.status, self.body
        return status, body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # a client may keep its connection, as real providers let it
            disable_nagle_algorithm = True  # headers and body go out at once, as a real server's do

            def setup(self):
                super().setup()
                stand_in._connections.add(self.connection)

            def finish(self):
                stand_in._connections.discard(self.connection)
                super().finish()

            def serve(self):
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                received = Received(
                    method=self.command, path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body, json=parsed, client=tuple(self.client_address))
                stand_in.received.append(received)
                if stand_in._hanging:
                    stand_in._release.wait(10)
                    return
                if stand_in.delay:
                    stand_in._release.wait(stand_in.delay)
                status, data = stand_in._next_answer(received)
                self.send_response(status)
                self.send_header("Content-Type", stand_in.content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = serve

            def log_message(self, *_args):
                pass

        return Handler
