"""`make run` for a phone: `make run HOST=0.0.0.0 PORT=8080` sets FLASK_RUN_HOST and
FLASK_RUN_PORT, the dev server listens there, the QR and tracking links follow at the
machine's LAN address, and the server's start line reads plainly in the app's log."""

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import get_interface_ip

from liaison_app import create_app
from liaison_app.config import lan_address
from liaison_app.extensions import db

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def environment(monkeypatch, tmp_path):
    """Settings as on a developer's machine, without instance/config.py or a PUBLIC_BASE_URL."""
    for name in ("PUBLIC_BASE_URL", "FLASK_RUN_HOST", "FLASK_RUN_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "dev-server-test")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/dev.sqlite")
    monkeypatch.setenv("UPLOAD_FOLDER", str(tmp_path / "uploads"))
    monkeypatch.setattr("flask.Config.from_pyfile", lambda self, *a, **k: False)  # ignore instance/config.py
    return monkeypatch


@pytest.mark.parametrize("host,port,expected", [
    (None, None, "http://127.0.0.1:5000"),
    ("127.0.0.1", "8080", "http://127.0.0.1:8080"),
    ("0.0.0.0", "8080", "http://{lan}:8080"),
])
def test_the_links_follow_where_make_run_serves(environment, host, port, expected):
    for name, value in (("FLASK_RUN_HOST", host), ("FLASK_RUN_PORT", port)):
        if value:
            environment.setenv(name, value)

    app = create_app()

    # werkzeug prints the same address beside "Running on" for 0.0.0.0.
    assert app.config["PUBLIC_BASE_URL"] == expected.format(lan=get_interface_ip(socket.AF_INET))


def test_the_lan_address_is_one_a_phone_can_reach():
    address = lan_address()
    assert address == get_interface_ip(socket.AF_INET)
    assert address != "0.0.0.0"


def test_a_public_base_url_that_is_set_wins(environment):
    environment.setenv("FLASK_RUN_HOST", "0.0.0.0")
    environment.setenv("PUBLIC_BASE_URL", "https://mszdb.taicang.gov.cn")

    assert create_app().config["PUBLIC_BASE_URL"] == "https://mszdb.taicang.gov.cn"


def test_the_demo_prints_qr_links_a_phone_on_the_wifi_can_open(environment):
    environment.setenv("FLASK_RUN_HOST", "0.0.0.0")
    environment.setenv("FLASK_RUN_PORT", "8080")
    app = create_app()
    with app.app_context():
        db.create_all()

    result = app.test_cli_runner().invoke(args=["seed-demo", "--json"])

    assert result.exit_code == 0, result.output
    urls = json.loads(result.output)["qr_urls"]
    assert urls and all(url.startswith(f"http://{lan_address()}:8080/q/") for url in urls)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_dev_server_says_where_it_runs_in_plain_words(tmp_path):
    """flask run as `make run` starts it; werkzeug's colours used to come out as \\x1b[31m."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in ("PUBLIC_BASE_URL", "CI")}
    env.update(FLASK_APP="wsgi", FLASK_RUN_HOST="127.0.0.1", FLASK_RUN_PORT=str(port), SECRET_KEY="dev-server-test",
               DATABASE_URL=f"sqlite:///{tmp_path}/dev.sqlite", UPLOAD_FOLDER=str(tmp_path / "uploads"))
    flask = [sys.executable, "-m", "flask", "run"]
    server = subprocess.Popen(flask, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        output = lines_of(server.stderr)
        lines = read_until(output, re.compile(r"Press CTRL\+C to quit"))
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/no-such-page", timeout=10)
        except urllib.error.HTTPError:
            pass  # 404: werkzeug colours its line yellow
        lines += read_until(output, re.compile(r'"GET /no-such-page HTTP/1.1" 404'))
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert any(line.endswith(f"INFO werkzeug user=- ip=-  * Running on http://127.0.0.1:{port}") for line in lines), lines
    assert not [line for line in lines if "\x1b" in line or "\\x1b" in line or "\\n" in line]


def read_until(lines: "queue.Queue[str]", pattern, timeout=30) -> list[str]:
    """The server's log lines up to the first that matches."""
    seen, deadline = [], time.monotonic() + timeout
    while not seen or not pattern.search(seen[-1]):
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no {pattern.pattern!r} in {timeout} s: {seen}")
        if line is None:
            pytest.fail(f"the server stopped: {seen}")
        seen.append(line.rstrip("\n"))
    return seen


def lines_of(stream) -> "queue.Queue[str]":
    """A stream's lines as they come (None at its end), read by a thread of their own."""
    lines = queue.Queue()

    def read():
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines
