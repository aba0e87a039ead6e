"""The deployment files in deploy/ agree with the app."""

import importlib.util
import re
from datetime import timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def gunicorn_conf(monkeypatch):
    def load(**env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        spec = importlib.util.spec_from_file_location("gunicorn_conf", ROOT / "deploy/gunicorn.conf.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


def access_line(conf, path: str, query: str = "") -> str:
    from gunicorn.config import Config

    config = Config()
    config.set("access_log_format", conf.access_log_format)
    logger = conf.RedactingLogger(config)

    class Response:
        status, sent, headers = "303 SEE OTHER", 0, []

    environ = {"REQUEST_METHOD": "GET", "RAW_URI": f"{path}?{query}", "PATH_INFO": path, "QUERY_STRING": query,
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.5", "HTTP_REFERER": f"https://x.cn{path}"}
    atoms = logger.atoms(Response(), [], environ, timedelta(milliseconds=12))
    return conf.access_log_format % atoms


def test_the_access_log_keeps_no_query_string_referrer_or_capability_token(gunicorn_conf):
    conf = gunicorn_conf()

    tracking = access_line(conf, "/t/Abcdefghijklmnopqrstuvwx/photos/3", "lang=en&token=secret")
    reset = access_line(conf, "/reset/Zyxwvutsrqponml")
    landing = access_line(conf, "/q/QRtoken123")

    assert '"GET /t/Abcd…/photos/3" 303' in tracking
    assert "Abcdefghijkl" not in tracking and "secret" not in tracking and "x.cn" not in tracking
    assert '"GET /reset/Zyxw…"' in reset and "Zyxwvut" not in reset
    assert '"GET /q/QRtoken123"' in landing  # a poster's code is printed on a wall: not a secret


def test_workers_come_from_web_concurrency_or_the_cores(gunicorn_conf, monkeypatch):
    assert gunicorn_conf(WEB_CONCURRENCY="7").workers == 7
    monkeypatch.delenv("WEB_CONCURRENCY")
    monkeypatch.setattr("multiprocessing.cpu_count", lambda: 4)
    assert gunicorn_conf().workers == 9
    conf = gunicorn_conf(FORWARDED_ALLOW_IPS="10.0.0.2")
    assert conf.forwarded_allow_ips == "10.0.0.2" and conf.preload_app is False


def test_nginx_accepts_the_largest_body_the_app_accepts_and_never_serves_uploads(app):
    nginx = (ROOT / "deploy/nginx.conf.example").read_text()

    (size,) = re.findall(r"client_max_body_size (\d+)m;", nginx)
    assert app.config["MAX_CONTENT_LENGTH"] <= int(size) * 1024 * 1024 < app.config["MAX_CONTENT_LENGTH"] + 2**20
    assert "uploads" not in "".join(re.findall(r"(?m)^\s*(?:alias|root) .*$", nginx))
    assert "X-Forwarded-Proto $scheme" in nginx and "X-Forwarded-For $proxy_add_x_forwarded_for" in nginx



def test_every_name_in_the_gunicorn_conf_is_a_gunicorn_setting(gunicorn_conf):
    """gunicorn ignores unknown names in a config file: a misspelt setting would do nothing."""
    from gunicorn.config import Config

    conf = gunicorn_conf()
    settings = {name for name, value in vars(conf).items()
                if not name.startswith("_") and not isinstance(value, type(re)) and not isinstance(value, type)}

    assert settings - set(Config().settings) == set()
    assert {"workers", "timeout", "forwarded_allow_ips", "access_log_format", "preload_app"} <= settings
