"""gunicorn settings for 码上找代表: `gunicorn -c deploy/gunicorn.conf.py wsgi:app`, behind nginx.

Every value can be changed from the environment (the systemd unit sets them), so one file
serves every app server. Command-line options given after `-c` win over this file.
"""

import multiprocessing
import os
import re

from gunicorn.glogging import Logger

# nginx proxies to this address; keep it on loopback (or a private interface) only.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers: a request is short apart from photo re-encoding, which is CPU work, so
# processes (not threads) use the cores. WEB_CONCURRENCY is the name PaaS hosts use.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"

# Re-encoding three 8 MB photos takes a few seconds on a slow core: 60 s leaves room and
# still frees a stuck worker. nginx buffers the upload, so a slow phone never holds a worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5  # longer than nginx keeps an idle upstream connection open

# A worker is replaced after about a thousand requests: a slow leak never grows for weeks.
max_requests = 1000
max_requests_jitter = 100

# The heartbeat file in memory, not on a disk that may stall under backup I/O.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# No preload: each worker imports the app and opens its own database connections after
# the fork (a pool must never be shared across processes), and `systemctl reload` (HUP)
# starts workers on the newly deployed code without dropping connections.
preload_app = False

# Trust X-Forwarded-* only from nginx. The app itself reads them through ProxyFix
# (PROXY_FIX_* settings in README), which must agree with this list and with nginx.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# gunicorn's own control socket (gunicornc) is not used: signals and systemd do the job.
control_socket_disable = True

# Access log: method, path, status, size and time; no query string, no referrer and no
# user agent. Tracking links (/t/<token>) and password reset links (/reset/<token>) are
# capabilities, so their token is cut to its first 4 characters.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = os.environ.get("GUNICORN_ERROR_LOG", "-")
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'

_CAPABILITY = re.compile(r"^/(t|reset)/([^/]{4})[^/]*")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["U"] = _CAPABILITY.sub(r"/\1/\2…", atoms["U"] or "")
        return atoms


logger_class = RedactingLogger
