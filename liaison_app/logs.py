"""The app's log lines: UTC times, who and from where, contact details masked, one line each.

`install(app)` (called by create_app) puts one handler on the root logger, so that every
logger's records come out the same way: the app's own ("liaison.*"), werkzeug's, SQLAlchemy's.
Personal information protection (个人信息保护法) asks for both halves: a record of who did
what, and no phone numbers or credit codes in a file many people can read.

- `RequestContextFilter` adds `user` (id:username, or "anonymous") and `ip` (request.remote_addr:
  the client behind the proxy once ProxyFix is configured) to each record; "-" outside a
  request (CLI, jobs).
- `LogFormatter` writes the time as ISO 8601 UTC with a Z, masks Chinese phone numbers and
  unified social credit codes anywhere in the line (tracebacks included), and escapes line
  breaks and other control characters in the message, so that text a user typed can never
  start a line of its own; traceback lines are indented with "  | ".

pytest's caplog keeps working: nothing here removes handlers or stops propagation.
"""

import logging
import re
import sys
import time
from contextlib import contextmanager

from flask import Flask, g, has_request_context, request, session

from .config import ConfigError

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s user=%(user)s ip=%(ip)s %(message)s"

# Mainland mobiles (138 1234 5678, +86-138-1234-5678, 008613812345678) and landlines with their
# area code (0512-53521234, (0512) 5352 1234, +86 512 5352 1234); never inside a longer run of
# letters and digits (a reference number, a token, a USCC).
_SEP = r"[ \-.]?"
_PREFIX = r"\(?(?:\+|00)?86\)?" + _SEP
_AREA = r"(?:10|2\d|[3-9]\d{2})"
_MOBILE = r"(?:" + _PREFIX + r")?1[3-9]\d" + _SEP + r"\d{4}" + _SEP + r"\d{4}"
_LANDLINE = r"(?:\(?0" + _AREA + r"\)?|" + _PREFIX + r"\(?0?" + _AREA + r"\)?)" + _SEP + r"\d{3,4}" + _SEP + r"\d{4}"
PHONE_PATTERN = re.compile(r"(?<![0-9A-Za-z])(?:" + _MOBILE + r"|" + _LANDLINE + r")(?![0-9A-Za-z])")
# 统一社会信用代码 (GB 32100-2015): 18 characters, the 3rd to 8th the division code. An
# 18-character resident ID number has the same shape and is masked too.
USCC_PATTERN = re.compile(r"(?<![0-9A-Za-z])[0-9A-Za-z]{2}\d{6}[0-9A-Za-z]{10}(?![0-9A-Za-z])")
# Line breaks of any kind (\n, \r, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029) and every other
# control character (ESC would drive a terminal).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
# The colours werkzeug gives its own lines (ESC[1m...ESC[0m). It escapes the path a client
# sent before colouring it, so every such code in a werkzeug record is werkzeug's own.
_WERKZEUG_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


def mask_phone_text(number: str) -> str:
    """138****5678 (as validators.mask_phone shows a stored number): the first three digits of
    the national number, then ****, then the last four."""
    digits = "".join(ch for ch in number if ch.isdigit())
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 10:
            digits = digits[len(prefix):]
            if not (digits.startswith("0") or re.match(r"1[3-9]", digits)):
                digits = "0" + digits  # a landline written after +86 drops its trunk 0
            break
    return digits[:3] + "****" + digits[-4:]


def mask_uscc_text(code: str) -> str:
    """9132****001X: the first four and the last four characters."""
    return code[:4] + "****" + code[-4:]


def mask(text: str) -> str:
    """The text with every phone number and USCC masked, typed in full width too."""
    text = sub_folded(USCC_PATTERN, lambda m: mask_uscc_text(m.group()), text)
    return sub_folded(PHONE_PATTERN, lambda m: mask_phone_text(m.group()), text)


# Digits, letters and the signs around a number as a Chinese keyboard types them in full width
# (１３８ １２３４ ５６７８, ＋８６), folded one character for one: what a pattern finds in the
# folded text is at the same place in the text as it was typed.
_FULL_WIDTH = str.maketrans({chr(0xFF01 + i): chr(0x21 + i) for i in range(94)} | {"\u3000": " "})


def fold(text: str) -> str:
    """The text with what was typed in full width in half width: a match in it is at the same
    place in the text as typed."""
    return text.translate(_FULL_WIDTH)


def sub_folded(pattern: re.Pattern, replace, text: str) -> str:
    """pattern.sub(replace, text), finding also what was typed in full width, and replacing
    only what it finds: the rest of the text keeps its full-width punctuation. A string
    `replace` is put in as it is; a callable one gets the match in the folded (half-width) text."""
    pieces, last = [], 0
    for match in pattern.finditer(fold(text)):
        pieces += [text[last:match.start()], replace(match) if callable(replace) else replace]
        last = match.end()
    pieces.append(text[last:])
    return "".join(pieces)


def escape_controls(text: str) -> str:
    r"""\n, \r, \u2028... written as escapes: one record is one line."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match) -> str:
    char = match.group()
    named = {"\n": "\\n", "\r": "\\r"}
    if char in named:
        return named[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class RequestContextFilter(logging.Filter):
    """Adds `user` and `ip` to every record; never loads anything from the database."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "user"):
            record.user = current_user_label()
        if not hasattr(record, "ip"):
            record.ip = (request.remote_addr or "-") if has_request_context() else "-"
        return True


def current_user_label() -> str:
    """"id:username" of the user of this request, "anonymous", or "-" outside a request.

    Flask-Login keeps the loaded user in g; when nothing has loaded it yet (an early 404),
    the id in the session is enough: a log call must not query the database, which may be
    in the middle of a failed transaction.
    """
    if not has_request_context():
        return "-"
    try:
        user = g.get("_login_user")
        if user is not None and getattr(user, "is_authenticated", False):
            return f"{user.id}:{user.username}"
        if user is None:
            session_id = session.get("_user_id")
            if session_id:
                return str(session_id).partition(":")[0]
    except Exception:  # a broken session must not lose the log line
        return "?"
    return "anonymous"


class LogFormatter(logging.Formatter):
    """ISO 8601 UTC times with a Z; masked, one line per record (tracebacks indented)."""

    converter = time.gmtime

    def __init__(self, fmt: str = DEFAULT_FORMAT):
        super().__init__(fmt)

    def formatTime(self, record, datefmt=None):
        return time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created)) + f".{int(record.msecs):03d}Z"

    def formatMessage(self, record):
        # The message with its args, and any other field: one line.
        return escape_controls(super().formatMessage(record))

    def format(self, record):
        if record.name == "werkzeug":
            return "\n".join(self._format_record(line) for line in _werkzeug_lines(record))
        return self._format_record(record)

    def _format_record(self, record):
        # As logging.Formatter.format, except that the traceback is never taken from
        # record.exc_text, which another handler (caplog's) may have filled unindented.
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:
            line += "\n" + _indented(self.formatException(record.exc_info))
        elif record.exc_text:
            line += "\n" + _indented(record.exc_text)
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        # Masked last, so that whatever part of the line a number came from (message, args,
        # traceback, a field of LOG_FORMAT) it is caught.
        return mask(line)


def _werkzeug_lines(record: logging.LogRecord) -> list[logging.LogRecord]:
    """werkzeug's record without its colours; its start-up notice (lines of its own text, no
    arguments) a record per line, so that " * Running on http://..." reads plainly. Copies:
    other handlers (caplog) see the record as it was."""
    msg = _WERKZEUG_COLOUR.sub("", str(record.msg))
    args = record.args
    if isinstance(args, tuple):
        args = tuple(_WERKZEUG_COLOUR.sub("", arg) if isinstance(arg, str) else arg for arg in args)
    lines = [msg] if args else msg.split("\n")
    copies = []
    for number, line in enumerate(lines, start=1):
        copy = logging.makeLogRecord(record.__dict__)
        copy.msg, copy.args = line, args
        if number < len(lines):  # the traceback, if any, once under the last line
            copy.exc_info = copy.exc_text = copy.stack_info = None
        copies.append(copy)
    return copies


def _indented(text: str) -> str:
    """Every line of a traceback behind "  | ": a line break in an exception's message (from
    user input) cannot pass for a record of its own."""
    return "\n".join("  | " + escape_controls(line) for line in text.splitlines())


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (test runners and CLIs swap it)."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def make_handler(stream=None, fmt: str = DEFAULT_FORMAT) -> logging.Handler:
    """A handler writing the app's lines (to `stream`, default: the current stderr)."""
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.setFormatter(LogFormatter(fmt))
    handler.addFilter(RequestContextFilter())
    return handler


def install(app: Flask) -> None:
    """Set the app's log level and put the one handler on the root logger (replacing the one
    an earlier create_app put there, so that the tests' many apps do not stack handlers);
    log every committed workflow event."""
    _listen_once()
    level = str(app.config["LOG_LEVEL"]).upper()
    if not isinstance(logging.getLevelName(level), int):
        raise ConfigError(f"LOG_LEVEL {app.config['LOG_LEVEL']!r} is not a logging level (DEBUG, INFO, WARNING, ERROR).")
    logging.getLogger("liaison").setLevel(level)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "liaison_handler", False)]:
        root.removeHandler(old)
    to_stderr = app.config["LOG_TO_STDERR"]
    if to_stderr is None:
        to_stderr = not app.testing  # pytest captures the records itself (caplog)
    if to_stderr:
        handler = make_handler(fmt=app.config["LOG_FORMAT"] or DEFAULT_FORMAT)
        handler.liaison_handler = True
        # The root logger's own level does not matter: the "liaison" logger decides, and
        # its records reach the root's handlers whatever the root's level is.
        root.addHandler(handler)


# --- what the app writes to the log ---------------------------------------------------------

workflow_log = logging.getLogger("liaison.workflow")
access_log = logging.getLogger("liaison.access")
privacy_log = logging.getLogger("liaison.privacy")

_PENDING_EVENTS = "liaison_logged_events"
_DENIALS = {403: logging.WARNING, 404: logging.WARNING, 409: logging.INFO}


def register(app: Flask) -> None:
    """After the blueprints: log denials (an after_request hook)."""
    app.after_request(log_denial)


def log_denial(response):
    """after_request: 403 (not this person), 409 (not now) and, for a logged-in user, 404
    (what access.py answers for a request or record outside their view)."""
    level = _DENIALS.get(response.status_code)
    if level is not None and (response.status_code != 404 or current_user_label() not in ("anonymous", "-")):
        access_log.log(level, "denied %d %s %s", response.status_code, request.method, request.path)
    return response


@contextmanager
def quiet(name: str, level: int = logging.WARNING):
    """Raise a logger's level for the duration of a block."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def contact_shown(req, user) -> None:
    """个人信息 seen by someone who supervises rather than handles the request (staff, admins)."""
    privacy_log.info("contact of request %s (id %s) shown to %s %s:%s",
                     req.reference, req.id, user.role.value, user.id, user.username)


def _remember_events(session, _flush_context) -> None:
    """after_flush: note each new event while its request and actor are at hand; the lines
    are written only once the transaction commits (a rolled-back change never happened)."""
    from .models import RequestEvent

    for obj in session.new:
        if isinstance(obj, RequestEvent):
            req, actor = obj.request, obj.actor
            who = obj.actor_kind.value
            if actor is not None:
                who += f" {actor.id}:{actor.username}"
            elif obj.actor_user_id is not None:
                who += f" {obj.actor_user_id}"
            from_status = obj.from_status.value if obj.from_status else "-"
            session.info.setdefault(_PENDING_EVENTS, []).append(
                (req.reference if req is not None else "-", obj.request_id, obj.action.value, from_status,
                 obj.to_status.value, who))


def _write_events(session) -> None:
    for entry in session.info.pop(_PENDING_EVENTS, ()):
        workflow_log.info("request %s (id %s) %s %s -> %s by %s", *entry)


def _forget_events(session, *_args) -> None:
    session.info.pop(_PENDING_EVENTS, None)


def _listen_once() -> None:
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    if not event.contains(Session, "after_flush", _remember_events):
        event.listen(Session, "after_flush", _remember_events)
        event.listen(Session, "after_commit", _write_events)
        event.listen(Session, "after_rollback", _forget_events)
