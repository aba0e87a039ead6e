"""Plain factory functions: make_thing(**overrides) saves and returns one row."""

import io
import itertools

from PIL import Image
from stdnum.cn import uscc

from liaison_app.extensions import db
from liaison_app.models import (
    Department,
    Deputy,
    Enterprise,
    Jurisdiction,
    Level,
    Placement,
    QRCode,
    Role,
    Station,
    User,
)

_seq = itertools.count(1)


def _save(obj):
    db.session.add(obj)
    db.session.commit()
    return obj


def valid_uscc(serial: int | None = None) -> str:
    """A USCC with a correct check character (GB 32100-2015)."""
    body = f"91320585{(serial or next(_seq)):09d}"
    return body + uscc.calc_check_digit(body)


def make_jurisdiction(**overrides) -> Jurisdiction:
    n = next(_seq)
    values = dict(name=f"测试县{n}", level=Level.COUNTY, division_code=f"{900000 + n}")
    values.update(overrides)
    return _save(Jurisdiction(**values))


def make_station(**overrides) -> Station:
    n = next(_seq)
    if "jurisdiction" not in overrides and "jurisdiction_id" not in overrides:
        overrides["jurisdiction"] = make_jurisdiction()
    values = dict(name=f"测试联络站{n}", address="工业园区一路1号", reception_days="每月5日、20日")
    values.update(overrides)
    return _save(Station(**values))


def make_deputy(station: Station | None = None, **overrides) -> Deputy:
    n = next(_seq)
    station = station or make_station()
    values = dict(name=f"代表{n}", congress_jurisdiction=station.jurisdiction, specialties="用工、融资")
    values.update(overrides)
    deputy = Deputy(**values)
    deputy.stations.append(station)
    return _save(deputy)


def make_qr_code(*, deputy: Deputy | None = None, station: Station | None = None, **overrides) -> QRCode:
    if deputy is None and station is None:
        deputy = make_deputy()
    values = dict(deputy=deputy, station=station, placement=Placement.STATION)
    values.update(overrides)
    return _save(QRCode(**values))


def make_department(**overrides) -> Department:
    n = next(_seq)
    if "jurisdiction" not in overrides and "jurisdiction_id" not in overrides:
        overrides["jurisdiction"] = make_jurisdiction()
    values = dict(name=f"测试局{n}")
    values.update(overrides)
    return _save(Department(**values))


def make_enterprise(**overrides) -> Enterprise:
    n = next(_seq)
    values = dict(name=f"测试精密机械有限公司{n}", uscc=valid_uscc(n))
    values.update(overrides)
    return _save(Enterprise(**values))


def make_user(role: Role = Role.ADMIN, password: str = "correct horse battery", **overrides) -> User:
    n = next(_seq)
    values = dict(username=f"user{n}", role=role)
    if role is Role.STAFF and "jurisdiction" not in overrides:
        values["jurisdiction"] = make_jurisdiction()
    if role is Role.UNIT and "department" not in overrides:
        values["department"] = make_department()
    if role is Role.DEPUTY and "deputy" not in overrides:
        values["deputy"] = make_deputy()
    values.update(overrides)
    user = User(**values)
    # argon2 is slow on purpose; hash each test password once per run.
    if password not in _password_hashes:
        user.set_password(password)
        _password_hashes[password] = user.password_hash
    user.password_hash = _password_hashes[password]
    return _save(user)


_password_hashes: dict[str, str] = {}


def image_bytes(fmt: str = "JPEG", size=(64, 48), color=(200, 30, 30), exif=None) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    kwargs = {"exif": exif} if exif is not None else {}
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def make_request(*, station: Station | None = None, deputy: Deputy | None = None, **overrides):
    """A request filed at a station (addressed to `deputy` when given), with its FILE event."""
    import secrets
    import uuid

    from liaison_app.models import Category, Channel, Request
    from liaison_app.services.requests import record_event, reserve_references
    from liaison_app.workdays import add_working_days, today_local
    from liaison_app.workflow import Action, Actor

    station = station or (deputy.stations[0] if deputy else make_station())
    values = dict(
        reference=reserve_references(today_local().year, 1)[0],
        tracking_token=secrets.token_urlsafe(24),
        idempotency_key=uuid.uuid4().hex,
        category=Category.FINANCE,
        title="过桥资金紧张",
        description="银行贷款到期续贷需要过桥资金，希望协调政策性转贷基金。",
        enterprise=make_enterprise(),
        contact_name="张明",
        contact_phone="+8613912345678",
        channel=Channel.QR_DEPUTY if deputy else Channel.QR_STATION,
        station=station,
        addressed_deputy=deputy,
        jurisdiction=station.jurisdiction,
        filed_jurisdiction=station.jurisdiction,
        claim_due_on=add_working_days(today_local(), 1),
        return_count=0,
        extension_used=False,
        is_supervised=False,
        is_key_supervision=False,
    )
    values.update(overrides)
    req = Request(**values)
    record_event(req, Action.FILE, Actor.ENTERPRISE)
    return _save(req)


class Tree:
    """江苏省 > 苏州市 > 太仓市 > 沙溪镇, with a station, deputies, staff and a department at each level."""

    def __init__(self):
        n = next(_seq)
        self.province = make_jurisdiction(name="江苏省", level=Level.PROVINCE, division_code=f"p{n}")
        self.city = make_jurisdiction(name="苏州市", level=Level.CITY, division_code=f"c{n}", parent=self.province)
        self.county = make_jurisdiction(name="太仓市", level=Level.COUNTY, division_code=f"x{n}", parent=self.city)
        self.township = make_jurisdiction(name="沙溪镇", level=Level.TOWNSHIP, division_code=f"t{n}", parent=self.county)
        self.station = make_station(name="沙溪镇代表联络站", jurisdiction=self.township)
        self.other_station = make_station(name="浏河镇代表联络站", jurisdiction=self.township)
        self.deputy = make_deputy(self.station, name="顾振华")
        self.colleague = make_deputy(self.station, name="刘春梅")
        self.outsider = make_deputy(self.other_station, name="陈立新")
        self.deputy_user = make_user(Role.DEPUTY, deputy=self.deputy, display_name="顾振华")
        self.colleague_user = make_user(Role.DEPUTY, deputy=self.colleague, display_name="刘春梅")
        self.outsider_user = make_user(Role.DEPUTY, deputy=self.outsider, display_name="陈立新")
        self.staff = {level: make_user(Role.STAFF, jurisdiction=j, display_name=f"{j.name}工作人员")
                      for level, j in self.levels.items()}
        self.departments = {level: make_department(name=f"{j.name}住建局", jurisdiction=j)
                            for level, j in self.levels.items()}
        self.officers = {level: make_user(Role.UNIT, department=d, display_name=f"{d.name}经办人")
                         for level, d in self.departments.items()}
        self.admin = make_user(Role.ADMIN)

    @property
    def levels(self):
        return {"province": self.province, "city": self.city, "county": self.county, "township": self.township}


def make_robot(*, webhook_url: str = "http://127.0.0.1:9/cgi-bin/webhook/send?key=factory-robot-key",
               secret: str | None = None, **overrides):
    """A group robot (WeCom unless `provider` says otherwise) of a station (a new one unless a
    place is given); its address and secret stored encrypted, as the admin page stores them.
    The default address refuses connections at once (port 9)."""
    from liaison_app.models import Robot, RobotProvider
    from liaison_app.services.secrets import encrypt

    n = next(_seq)
    places = {"jurisdiction", "station", "department", "jurisdiction_id", "station_id", "department_id"}
    if not places & overrides.keys():
        overrides["station"] = make_station()
    values = dict(name=f"测试群机器人{n}", provider=RobotProvider.WECOM, webhook_url_encrypted=encrypt(webhook_url),
                  secret_encrypted=encrypt(secret) if secret else None)
    values.update(overrides)
    return _save(Robot(**values))


def make_message(user: User, req=None, **overrides):
    """A message in `user`'s 消息 list, as services/notify.py writes one: about `req` (its
    reference, masked title and desk link) or, without one, a bare assignment notice."""
    from liaison_app.models import Notification, NotificationChannel, NotificationKind, NotificationStatus, utcnow

    kind = overrides.pop("kind", NotificationKind.ASSIGNED)
    payload = dict(kind=kind.value, reference=req.reference if req else "TC-0000", title=req.title if req else "过桥资金紧张",
                   category="finance", status="assigned", jurisdiction="沙溪镇", recipient=user.display_name,
                   link=f"https://liaison.example.cn/desk/requests/{req.id if req else 0}", note="")
    payload.update(overrides.pop("payload", {}))
    values = dict(kind=kind, channel=NotificationChannel.INBOX, recipient_user_id=user.id,
                  request_id=req.id if req else None, payload=payload, status=NotificationStatus.SENT,
                  sent_at=utcnow())
    values.update(overrides)
    return _save(Notification(**values))
