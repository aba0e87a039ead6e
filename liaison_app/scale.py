"""A province-sized data set for measuring the app (`flask seed-scale`), written in bulk.

The shape follows a large Chinese province: 1 province, 13 cities, 100 counties, 1,300
townships, 5,000 liaison stations with six deputies each, 500,000 enterprises and 2,000,000
requests over two years. `fraction` scales every count (0.1 is the SQLite variant). Counties
differ in size as real ones do: county sizes follow a Zipf curve, so the first county (the
one the benchmarks measure) holds about a tenth of all requests.

Each request lives through the real workflow, step by step, with random but plausible
delays, until the present: filed, claimed by a deputy of its station, sometimes escalated a
level or two, answered by the deputy or assigned to a department that acknowledges and
responds, accepted, rated (an unsatisfied rating reopens it once) or closed unrated. Some
are withdrawn, some refused, some stall and fall overdue and are supervised. Its row and its
trail (request_events) agree: the last event's status is the request's status. Deadlines are
calendar-day approximations of the working-day rules, which is all a benchmark needs.

Rows go in with COPY on PostgreSQL and executemany on SQLite, never through the ORM, with
their ids chosen here; sequences are moved past them at the end. Only an empty database is
filled. Every generated account shares one password (SCALE_PASSWORD): this data is for
measurement, never for a real install.
"""

import random
import secrets
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Callable, Iterable, Optional

import sqlalchemy as sa
from stdnum.cn import uscc as uscc_code

from .extensions import db
from .models import (
    Category, Channel, Department, Deputy, Enterprise, Jurisdiction, Level, Outcome, Placement, QRCode, Rating,
    ReferenceCounter, Request, RequestEvent, Role, Station, User, Visit, VisitForm, station_deputies, title_from,
    utcnow,
)
from .models.people import password_hasher
from .pinyin import initials as pinyin_initials
from .models.visits import visit_deputies, visit_enterprises
from .workflow import Action, Actor, Status

SCALE_PASSWORD = "scale-2026"
CHUNK = 20_000  # requests generated and written per batch

CITY_NAMES = ("南京市", "无锡市", "徐州市", "常州市", "苏州市", "南通市", "连云港市", "淮安市", "盐城市",
              "扬州市", "镇江市", "泰州市", "宿迁市")
INDUSTRIES = ("机械", "电子", "纺织", "化工", "物流", "食品", "新材料", "医药", "建材", "软件")
PARKS = ("高新区", "经济开发区", "工业园", "物流园", "")
PROBLEMS = {
    Category.LABOUR: "招工难，熟练技工流失严重，希望协调职业学校定向培养。",
    Category.FINANCE: "流动资金紧张，申请的技改贷款迟迟没有审批，希望帮助对接银行。",
    Category.LOGISTICS: "园区道路限高，大型货车无法进出，影响发货，希望调整限行措施。",
    Category.PROCEDURES: "厂房扩建的施工许可审批材料反复补正，希望明确办理清单。",
    Category.POLICY_BENEFITS: "去年申报的稳岗补贴至今未到账，不清楚卡在哪个环节。",
    Category.LAND_PLANT: "二期用地指标迟迟没有落实，项目无法开工。",
    Category.INFRASTRUCTURE: "厂区门口道路塌陷，货车无法通行，希望尽快修复。",
    Category.HOUSING_SCHOOLING: "外地骨干员工子女入学难，希望协调学位。",
    Category.MARKET_ACCESS: "参加政府采购招标时被要求提供本地业绩，希望清理不合理门槛。",
    Category.SAFETY: "相邻企业堆放危化品，存在安全隐患，希望执法部门检查。",
    Category.LEGAL: "被拖欠货款两年，诉讼执行难，希望给予法律援助指导。",
    Category.OTHER: "园区公交班次太少，员工通勤不便。",
}
DEPARTMENT_NAMES = ("发展和改革委员会", "工业和信息化局", "人力资源和社会保障局", "自然资源和规划局",
                    "住房和城乡建设局", "交通运输局", "市场监督管理局", "行政审批局", "财政局", "应急管理局",
                    "生态环境局", "税务局")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰建国志红文斌宇浩凯鹏"


@dataclass(frozen=True)
class Shape:
    cities: int = 13
    counties: int = 100
    townships: int = 1300
    stations: int = 5000
    deputies_per_station: int = 6
    enterprises: int = 500_000
    requests: int = 2_000_000
    years: int = 2

    def scaled(self, fraction: float) -> "Shape":
        def part(value: int, least: int = 1) -> int:
            return max(least, round(value * fraction))

        cities = part(self.cities)
        counties = part(self.counties, cities)
        townships = part(self.townships, counties)
        return replace(self, cities=cities, counties=counties, townships=townships,
                       stations=part(self.stations, townships), enterprises=part(self.enterprises, townships),
                       requests=part(self.requests, 0))

    @property
    def deputies(self) -> int:
        return self.stations * self.deputies_per_station


class ScaleError(Exception):
    """The data set could not be written (nothing was)."""


@dataclass
class ScaleSummary:
    shape: Shape
    counts: dict[str, int]
    seconds: float
    county_id: int  # the largest county: what the benchmarks measure
    county_staff: str  # a staff login of that county
    province_staff: str


# --- writing rows in bulk --------------------------------------------------------------------


class _Writer:
    """Appends rows to a table with COPY (PostgreSQL) or executemany (SQLite). Columns that
    are not given take the model's scalar default; `created_at`-like defaults take `now`."""

    def __init__(self, connection: sa.Connection, now: datetime):
        self.connection = connection
        self.dialect = connection.dialect.name
        self.now = now
        self.counts: dict[str, int] = {}

    def write(self, table: sa.Table, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        extra_names, extra_values = self._defaults(table, columns)
        names = columns + extra_names
        raw = self.connection.connection.driver_connection
        count = 0
        if self.dialect == "postgresql":
            with raw.cursor() as cursor, cursor.copy(
                    f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + extra_values)
                    count += 1
        else:
            convert = _sqlite_value
            statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            batch = []
            for row in rows:
                batch.append(tuple(convert(value) for value in row + extra_values))
                if len(batch) == 5000:
                    raw.executemany(statement, batch)
                    count += len(batch)
                    batch = []
            raw.executemany(statement, batch)
            count += len(batch)
        self.counts[table.name] = self.counts.get(table.name, 0) + count

    def _defaults(self, table: sa.Table, given: tuple[str, ...]) -> tuple[tuple[str, ...], tuple]:
        names, values = [], []
        for column in table.columns:
            if column.name in given or column.default is None:
                continue
            default = column.default
            if default.is_scalar:
                value = default.arg
                names.append(column.name)
                values.append(value.value if hasattr(value, "value") else value)
            elif default.is_callable:
                names.append(column.name)
                values.append(self.now)
        return tuple(names), tuple(values)

    def finish(self) -> None:
        """Move every id sequence past the ids written here; gather planner statistics."""
        if self.dialect == "postgresql":
            for table in db.metadata.sorted_tables:
                if "id" in table.columns and table.name in self.counts:
                    self.connection.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))")
        self.connection.exec_driver_sql("ANALYZE")


def _sqlite_value(value):
    """SQLite takes text for dates, in the format SQLAlchemy reads back."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# --- the generator ---------------------------------------------------------------------------


def seed_scale(shape: Shape, *, seed: int = 2026, progress: Callable[[str], None] = lambda _line: None
               ) -> ScaleSummary:
    """Write the data set into the app's (empty) database, in one transaction."""
    started = time.perf_counter()
    if db.session.scalar(sa.select(sa.func.count()).select_from(Jurisdiction)):
        raise ScaleError("seed-scale fills an empty database; this one already holds jurisdictions.")
    db.session.close()
    now = utcnow().replace(microsecond=0)
    with db.engine.begin() as connection:
        writer = _Writer(connection, now)
        builder = _Builder(shape, writer, random.Random(seed), now, progress)
        builder.places()
        builder.people()
        builder.enterprises()
        builder.visits()
        # Indexes are built once after the load rather than kept up to date row by row.
        bulky = [index for table in (Request.__table__, RequestEvent.__table__) for index in table.indexes]
        for index in bulky:
            index.drop(connection)
        builder.requests()
        progress("indexes")
        for index in bulky:
            index.create(connection)
        progress("statistics (ANALYZE)")
        writer.finish()
    if db.engine.dialect.name == "postgresql":
        # Mark the new pages all-visible, as autovacuum would in time: index-only scans need it.
        progress("VACUUM")
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    return ScaleSummary(shape=shape, counts=writer.counts, seconds=time.perf_counter() - started,
                        county_id=builder.county_ids[0], county_staff=builder.staff_login[builder.county_ids[0]],
                        province_staff=builder.staff_login[builder.province_id])


def _zipf_weights(count: int, exponent: float = 0.8) -> list[float]:
    weights = [1 / (rank + 1) ** exponent for rank in range(count)]
    total = sum(weights)
    return [weight / total for weight in weights]


def _blocks(items: int, groups: int) -> list[range]:
    """Split range(items) into `groups` contiguous, nearly equal blocks."""
    return [range(items * g // groups, items * (g + 1) // groups) for g in range(groups)]


class _Builder:
    def __init__(self, shape: Shape, writer: _Writer, rng: random.Random, now: datetime,
                 progress: Callable[[str], None]):
        self.shape, self.writer, self.rng, self.now, self.progress = shape, writer, rng, now, progress
        self.staff_login: dict[int, str] = {}

    # places: jurisdictions, departments, stations -------------------------------------------

    def places(self) -> None:
        shape, rows = self.shape, []
        self.parent: dict[int, int] = {}
        self.level: dict[int, Level] = {}
        next_id = iter(range(1, 10**9))

        def add(name: str, level: Level, code: str, parent: Optional[int]) -> int:
            jid = next(next_id)
            rows.append((jid, name, level.value, code, parent))
            self.parent[jid], self.level[jid] = parent, level
            return jid

        self.province_id = add("江苏省", Level.PROVINCE, "320000", None)
        city_ids = [add(CITY_NAMES[c % len(CITY_NAMES)] + ("" if c < len(CITY_NAMES) else str(c)), Level.CITY,
                        f"32{c + 1:02d}00", self.province_id) for c in range(shape.cities)]
        self.county_ids = []
        for c, block in enumerate(_blocks(shape.counties, shape.cities)):
            for k, _ in enumerate(block):
                self.county_ids.append(add(f"{CITY_NAMES[c % 13][:-1]}{k + 1}区", Level.COUNTY,
                                           f"32{c + 1:02d}{k + 1:02d}", city_ids[c]))
        self.township_ids = []
        self.townships_of: dict[int, list[int]] = {}
        for c, block in enumerate(_blocks(shape.townships, shape.counties)):
            county = self.county_ids[c]
            code = rows[county - 1][3]
            self.townships_of[county] = [add(f"{rows[county - 1][1]}{k + 1}镇", Level.TOWNSHIP, f"{code}{k + 1:03d}",
                                             county) for k, _ in enumerate(block)]
            self.township_ids.extend(self.townships_of[county])
        self.writer.write(Jurisdiction.__table__, ("id", "name", "level", "division_code", "parent_id"), rows)

        per_level = {Level.PROVINCE: 6, Level.CITY: 8, Level.COUNTY: 12, Level.TOWNSHIP: 3}
        self.departments_of: dict[int, list[int]] = {}
        departments = []
        for jid, level in self.level.items():
            ids = []
            for k in range(per_level[level]):
                ids.append(len(departments) + 1)
                departments.append((ids[-1], DEPARTMENT_NAMES[k], jid))
            self.departments_of[jid] = ids
        self.writer.write(Department.__table__, ("id", "name", "jurisdiction_id"), departments)

        # Stations go round the townships, so every township has one before any has two.
        self.station_township = [self.township_ids[s % len(self.township_ids)] for s in range(shape.stations)]
        self.stations_of: dict[int, list[int]] = {}
        for s, township in enumerate(self.station_township):
            self.stations_of.setdefault(township, []).append(s + 1)
        self.writer.write(Station.__table__, ("id", "name", "jurisdiction_id", "address", "reception_days"), (
            (s + 1, f"{rows[t - 1][1]}代表联络站{s + 1}", t, f"{rows[t - 1][1]}人民路{s % 200 + 1}号", "每月5日、20日")
            for s, t in enumerate(self.station_township)))
        self.names = {row[0]: row[1] for row in rows}
        self.progress(f"places: {len(rows)} jurisdictions, {len(departments)} departments, {shape.stations} stations")

    # people: deputies, their QR codes, users --------------------------------------------------

    def people(self) -> None:
        shape, rng = self.shape, self.rng
        per = shape.deputies_per_station
        deputies, links, codes = [], [], []
        self.deputies_of_station: dict[int, range] = {}
        for s in range(1, shape.stations + 1):
            township = self.station_township[s - 1]
            first = (s - 1) * per + 1
            self.deputies_of_station[s] = range(first, first + per)
            for d in self.deputies_of_station[s]:
                # Most sit in their township's congress; some in the county's or the city's.
                roll = rng.random()
                congress = township if roll < 0.7 else self.parent[township] if roll < 0.95 \
                    else self.parent[self.parent[township]]
                deputies.append((d, rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), congress))
                links.append((s, d))
                codes.append((d, secrets.token_urlsafe(8), d, None, Placement.ENTERPRISE_GATE.value))
        self.writer.write(Deputy.__table__, ("id", "name", "congress_jurisdiction_id"), deputies)
        self.writer.write(station_deputies, ("station_id", "deputy_id"), links)
        first_station_code = len(codes) + 1
        codes += [(first_station_code + s - 1, secrets.token_urlsafe(8), None, s, Placement.STATION.value)
                  for s in range(1, shape.stations + 1)]
        self.writer.write(QRCode.__table__, ("id", "token", "deputy_id", "station_id", "placement"), codes)
        self.deputy_code = lambda d: d
        self.station_code = lambda s: first_station_code + s - 1

        password = password_hasher.hash(SCALE_PASSWORD)
        users = []
        self.staff_user: dict[int, int] = {}
        for jid in self.level:
            users.append((len(users) + 1, f"staff-{jid}", Role.STAFF.value, jid, None, None, password))
            self.staff_user[jid] = len(users)
            self.staff_login[jid] = f"staff-{jid}"
        self.deputy_user_offset = len(users)
        users += [(self.deputy_user_offset + d, f"deputy-{d}", Role.DEPUTY.value, None, None, d, password)
                  for d in range(1, shape.deputies + 1)]
        self.unit_user_offset = len(users)
        department_count = sum(len(ids) for ids in self.departments_of.values())
        users += [(self.unit_user_offset + k, f"unit-{k}", Role.UNIT.value, None, k, None, password)
                  for k in range(1, department_count + 1)]
        self.writer.write(User.__table__, ("id", "username", "role", "jurisdiction_id", "department_id", "deputy_id",
                                           "password_hash"), users)
        self.progress(f"people: {len(deputies)} deputies, {len(codes)} QR codes, {len(users)} users")

    # enterprises ------------------------------------------------------------------------------

    def enterprises(self) -> None:
        shape, rng = self.shape, self.rng
        self.enterprises_of: dict[int, range] = {}
        for township, block in zip(self.township_ids, _blocks(shape.enterprises, len(self.township_ids))):
            self.enterprises_of[township] = range(block.start + 1, block.stop + 1)
        initials = {}

        def rows():
            for township, ids in self.enterprises_of.items():
                place = self.names[township]
                for e in ids:
                    industry = INDUSTRIES[e % len(INDUSTRIES)]
                    name = f"{place}{industry}{e}有限公司"
                    key = (township, industry)
                    if key not in initials:
                        initials[key] = (pinyin_initials(place), pinyin_initials(industry))
                    head, middle = initials[key]
                    base = f"91320{e:012d}"
                    yield (e, name, f"{head}{middle}{e}yxgs"[:60], base + uscc_code.calc_check_digit(base),
                           f"{place}工业路{e % 300 + 1}号", township, industry, rng.choice(PARKS))

        self.writer.write(Enterprise.__table__, ("id", "name", "name_initials", "uscc", "address", "jurisdiction_id",
                                                 "industry", "park"), rows())
        self.progress(f"enterprises: {shape.enterprises}")

    # visits (the monthly report's activity columns) --------------------------------------------

    def visits(self) -> None:
        """A visit a year per deputy, each with one or two deputies of the station."""
        shape, rng, span = self.shape, self.rng, self.shape.years * 365
        count = shape.deputies * shape.years
        visits, together, visited = [], [], []
        for v in range(1, count + 1):
            station = rng.randrange(1, shape.stations + 1)
            township = self.station_township[station - 1]
            held = (self.now - timedelta(days=rng.randrange(span))).date()
            visits.append((v, VisitForm.VISIT.value, held, township, station, "走访企业，了解生产经营情况。"))
            for d in rng.sample(self.deputies_of_station[station], rng.choice((1, 2))):
                together.append((v, d))
            visited.append((v, rng.choice(self.enterprises_of[township])))
        self.writer.write(Visit.__table__, ("id", "form", "held_on", "jurisdiction_id", "station_id", "notes"), visits)
        self.writer.write(visit_deputies, ("visit_id", "deputy_id"), together)
        self.writer.write(visit_enterprises, ("visit_id", "enterprise_id"), visited)
        self.progress(f"visits: {count}")

    # requests and their trails ------------------------------------------------------------------

    def requests(self) -> None:
        shape = self.shape
        county_weights = _zipf_weights(len(self.county_ids))
        start = self.now - timedelta(days=shape.years * 365)
        step = (self.now - start) / max(shape.requests, 1)
        self.next_event = 1
        self.counters: dict[int, int] = {}
        request_columns = (
            "id", "reference", "tracking_token", "version", "kind", "category", "title", "description",
            "enterprise_id", "contact_name", "contact_phone", "channel", "qr_code_id", "addressed_deputy_id",
            "station_id", "jurisdiction_id", "filed_jurisdiction_id", "status", "claimant_id", "department_id",
            "claim_due_on", "due_on", "rating_due_on", "is_supervised", "is_typical_case", "typical_case_note",
            "public_consent", "public_summary", "public_summary_approved_at", "public_summary_approved_by_id",
            "outcome", "rating", "rating_comment", "created_at", "updated_at",
            "claimed_at", "assigned_at", "replied_at", "closed_at")
        event_columns = ("id", "request_id", "action", "from_status", "to_status", "actor_kind", "actor_user_id",
                         "note", "is_public", "jurisdiction_id", "department_id", "created_at")
        counties = self.rng.choices(self.county_ids, county_weights, k=shape.requests)
        done = 0
        while done < shape.requests:
            size = min(CHUNK, shape.requests - done)
            requests, events = [], []
            for i in range(done, done + size):
                created = start + step * i + timedelta(seconds=self.rng.random() * 60)
                self._live(i + 1, created, counties[i], requests, events)
            self.writer.write(Request.__table__, request_columns, requests)
            self.writer.write(RequestEvent.__table__, event_columns, events)
            done += size
            if done % 200_000 == 0 or done == shape.requests:
                self.progress(f"requests: {done}, events: {self.next_event - 1}")
        self.writer.write(ReferenceCounter.__table__, ("year", "last_value"), sorted(self.counters.items()))

    def _live(self, rid: int, created: datetime, county: int, requests: list, events: list) -> None:
        """One request's life from `created` until now: appends its row and its events."""
        rng, now = self.rng, self.now
        township = rng.choice(self.townships_of[county])
        station = rng.choice(self.stations_of.get(township) or [None])
        if station is None:  # a township without a station: file at the county's first that has one
            township = next(t for t in self.townships_of[county] if t in self.stations_of)
            station = self.stations_of[township][0]
        deputies = self.deputies_of_station[station]
        category = rng.choice(_CATEGORIES)
        roll = rng.random()
        addressed = None
        if roll < 0.3:
            channel, addressed = Channel.QR_DEPUTY, rng.choice(deputies)
            code = self.deputy_code(addressed)
        elif roll < 0.75:
            channel, code = Channel.QR_STATION, self.station_code(station)
        else:
            channel, code = (Channel.VISIT if roll < 0.92 else Channel.RECEPTION), None
        year = created.year
        self.counters[year] = self.counters.get(year, 0) + 1
        row = {
            "status": Status.SUBMITTED, "jurisdiction_id": township, "claimant_id": None, "department_id": None,
            "due_on": None, "rating_due_on": None, "is_supervised": False, "is_typical_case": False,
            "typical_case_note": "", "public_consent": rng.random() < 0.6, "public_summary": "",
            "public_summary_approved_at": None, "public_summary_approved_by_id": None, "outcome": None,
            "rating": None, "rating_comment": "", "claimed_at": None, "assigned_at": None, "replied_at": None,
            "closed_at": None, "updated_at": created, "claim_due_on": (created + timedelta(days=1)).date(),
        }
        trail = []

        def event(action: Action, to: Status, when: datetime, actor: Actor, user: Optional[int] = None,
                  note: str = "", department: Optional[int] = None, public: bool = True) -> None:
            trail.append((self.next_event, rid, action.value, row["status"].value if trail else None, to.value,
                          actor.value, user, note, public, row["jurisdiction_id"], department, when))
            self.next_event += 1
            row["status"], row["updated_at"] = to, when

        def later(mean_days: float, stall: float = 0.0) -> Optional[datetime]:
            """When the next step happens, or None if that is still in the future."""
            days = rng.expovariate(1 / mean_days)
            if stall and rng.random() < stall:
                days += 20 + rng.random() * 60
            moment = row["updated_at"] + timedelta(days=days)
            return moment if moment <= now else None

        event(Action.FILE, Status.SUBMITTED, created, Actor.ENTERPRISE)
        claimant = self.deputy_user_offset + (addressed or rng.choice(deputies))
        self._progress(rng, event, later, row, claimant)
        if row["status"] in _OPEN_STATUSES and self._is_overdue(row, now) and rng.random() < 0.4:
            when = now - timedelta(hours=rng.random() * 48)
            staff = self.staff_user[self.parent.get(row["jurisdiction_id"]) or row["jurisdiction_id"]]
            event(Action.SUPERVISE, row["status"], when, Actor.STAFF, staff, "请加快办理。", public=False)
            event(Action.REMIND, row["status"], when, Actor.STAFF, staff, "已超期，请尽快答复。", public=False)
            row["is_supervised"] = True
        if row["status"] is Status.CLOSED and row["outcome"] is Outcome.SOLVED:
            if row["public_consent"]:  # 公示: written and approved by its claimant a day after closing
                row["public_summary"] = f"{category_summary(category)}\n已协调解决。"
                row["public_summary_approved_at"] = min(row["closed_at"] + timedelta(days=1), now)
                row["public_summary_approved_by_id"] = row["claimant_id"]
                is_deputy = self.deputy_user_offset < row["claimant_id"] <= self.unit_user_offset
                event(Action.APPROVE_PUBLIC_SUMMARY, Status.CLOSED, row["public_summary_approved_at"],
                      Actor.DEPUTY if is_deputy else Actor.STAFF, row["claimant_id"], row["public_summary"],
                      public=False)
            if rng.random() < 0.003:
                row["is_typical_case"] = True
                row["typical_case_note"] = "代表认领后跟踪督办，问题得到解决，企业满意。"
                event(Action.MARK_TYPICAL, Status.CLOSED, row["closed_at"] + timedelta(days=2), Actor.STAFF,
                      self.staff_user[county], public=False)
        description = PROBLEMS[category]
        requests.append((
            rid, f"{year}-{self.counters[year]:06d}", secrets.token_urlsafe(24), len(trail), "request", category.value,
            title_from(description), description,
            rng.choice(self.enterprises_of[township]), rng.choice(SURNAMES) + rng.choice(GIVEN),
            f"+86139{rng.randrange(10**8):08d}", channel.value, code, addressed, station, row["jurisdiction_id"],
            township, row["status"].value, row["claimant_id"], row["department_id"], row["claim_due_on"],
            row["due_on"], row["rating_due_on"], row["is_supervised"], row["is_typical_case"],
            row["typical_case_note"], row["public_consent"], row["public_summary"],
            row["public_summary_approved_at"], row["public_summary_approved_by_id"],
            row["outcome"].value if row["outcome"] else None, row["rating"].value if row["rating"] else None,
            row["rating_comment"], created, row["updated_at"], row["claimed_at"], row["assigned_at"],
            row["replied_at"], row["closed_at"]))
        events.extend(trail)

    def _progress(self, rng, event, later, row, claimant: int) -> None:
        """The workflow after filing, step by step until a step lies in the future."""
        if rng.random() < 0.03:
            if when := later(0.3):
                event(Action.WITHDRAW, Status.WITHDRAWN, when, Actor.ENTERPRISE, note="问题已自行解决。")
            return
        if not (when := later(0.6, stall=0.02)):
            return
        if rng.random() < 0.02:
            event(Action.REJECT, Status.CLOSED, when, Actor.DEPUTY, claimant, "不属于代表联络站受理范围，已告知企业。")
            row["closed_at"] = when
            return
        event(Action.CLAIM, Status.CLAIMED, when, Actor.DEPUTY, claimant)
        row["claimant_id"], row["claimed_at"] = claimant, when
        if rng.random() < 0.06:  # beyond the township: escalated, perhaps on to the city
            for _ in range(2 if rng.random() < 0.25 else 1):
                if not (when := later(1.0)):
                    return
                row["jurisdiction_id"] = self.parent[row["jurisdiction_id"]]
                event(Action.ESCALATE, Status.SUBMITTED, when, Actor.DEPUTY, row["claimant_id"], "需上级协调。")
                if not (when := later(1.0)):
                    return
                row["claimant_id"] = self.staff_user[row["jurisdiction_id"]]
                event(Action.CLAIM, Status.CLAIMED, when, Actor.STAFF, row["claimant_id"])
        handler = row["claimant_id"]
        while True:
            if rng.random() < 0.25:  # the deputy answers directly
                if not (when := later(3.0)):
                    return
                event(Action.ANSWER, Status.REPLIED, when, Actor.DEPUTY, handler, "已向企业解释相关政策并协调。")
            else:
                if not row["department_id"]:
                    if not (when := later(0.5)):
                        return
                    department = rng.choice(self.departments_of[row["jurisdiction_id"]])
                    row["department_id"], row["assigned_at"] = department, when
                    row["due_on"] = (when + timedelta(days=10)).date()
                    event(Action.ASSIGN, Status.ASSIGNED, when, Actor.STAFF, handler, department=department)
                    if not (when := later(0.5, stall=0.01)):
                        return
                    event(Action.ACKNOWLEDGE, Status.IN_PROGRESS, when, Actor.UNIT,
                          self.unit_user_offset + row["department_id"])
                if not (when := later(5.0, stall=0.04)):
                    return
                event(Action.RESPOND, Status.REPLIED, when, Actor.UNIT, self.unit_user_offset + row["department_id"],
                      "已现场核实并制定解决方案，限期整改完成。", department=row["department_id"])
            row["replied_at"] = when
            row["outcome"] = Outcome.SOLVED if rng.random() < 0.85 else Outcome.EXPLAINED
            if not (when := later(0.5)):
                return
            event(Action.ACCEPT, Status.AWAITING_RATING, when, Actor.DEPUTY, handler)
            row["rating_due_on"] = (when + timedelta(days=7)).date()
            if rng.random() < 0.15:  # no rating: closed as 未评价 when the seven days are up
                when = when + timedelta(days=7, hours=1)
                if when > self.now:
                    return
                event(Action.AUTO_CLOSE, Status.CLOSED, when, Actor.SYSTEM)
                row["rating"], row["closed_at"] = Rating.UNRATED, when
                return
            if not (when := later(1.5)):
                return
            rating = rng.choices(_RATINGS, (70, 20, 10))[0]
            if rating is Rating.UNSATISFIED and row["rating"] is None:  # reopened once
                back = Status.IN_PROGRESS if row["department_id"] else Status.CLAIMED
                action = Action.REOPEN_UNSATISFIED if row["department_id"] else Action.REOPEN_TO_CLAIMANT
                event(action, back, when, Actor.ENTERPRISE, note="问题没有解决。")
                row["rating"], row["rating_comment"] = Rating.UNSATISFIED, "问题没有解决。"
                continue
            if rating is Rating.UNSATISFIED:
                rating = Rating.MOSTLY_SATISFIED
            event(Action.RATE, Status.CLOSED, when, Actor.ENTERPRISE)
            row["rating"], row["rating_comment"], row["closed_at"] = rating, "", when
            return

    @staticmethod
    def _is_overdue(row: dict, now: datetime) -> bool:
        today = now.date()
        if row["status"] is Status.SUBMITTED:
            return today > row["claim_due_on"]
        if row["status"] in (Status.ASSIGNED, Status.IN_PROGRESS) and row["due_on"]:
            return today > row["due_on"]
        return False


_CATEGORIES = list(Category)
_RATINGS = (Rating.SATISFIED, Rating.MOSTLY_SATISFIED, Rating.UNSATISFIED)
_OPEN_STATUSES = {Status.SUBMITTED, Status.CLAIMED, Status.ASSIGNED, Status.IN_PROGRESS, Status.REPLIED,
                  Status.AWAITING_RATING}


def category_summary(category: Category) -> str:
    return PROBLEMS[category].split("，")[0]


def default_fraction(dialect: str) -> float:
    """The full province on PostgreSQL; a tenth of it on SQLite."""
    return 1.0 if dialect == "postgresql" else 0.1


def describe(shape: Shape) -> str:
    return (f"{shape.cities} cities, {shape.counties} counties, {shape.townships} townships, {shape.stations} stations, "
            f"{shape.deputies} deputies, {shape.enterprises} enterprises, {shape.requests} requests")


