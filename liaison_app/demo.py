"""The demo data set: two real-world setups from the seeds, filled with made-up people.

Taicang (江苏省 > 苏州市 > 太仓市, eight towns and streets, homes, stations and
contact points) and Wan'an (江西省 > 吉安市 > 万安县 with the liaison station
inside the industrial park). Deputies, enterprises and contacts are invented;
the problems are the kinds the seeds report. Every request's trail is built by
applying actions through the workflow table, so the demo never holds a state
the app could not have reached itself.

`seed_demo()` writes everything in one transaction and commits once. The
content comes from `random.Random(2026)`, so it is the same on every install;
dates are relative to the moment of seeding (the last four months) and tokens
are random like real ones.
"""

from __future__ import annotations

import random
import secrets
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from stdnum.cn import uscc

from .extensions import begin_write, db
from .models import (
    QRScanDay,
    Category,
    Channel,
    Department,
    Deputy,
    DeputyKind,
    Enterprise,
    Grid,
    Jurisdiction,
    Level,
    Outcome,
    Pairing,
    Placement,
    QRCode,
    Rating,
    ReceptionDay,
    Request,
    RequestKind,
    Role,
    Station,
    StationKind,
    TargetKind,
    User,
    Visit,
    VisitCampaign,
    VisitForm,
    utcnow,
)
from .services import notify, publication, routing
from .services.requests import record_event, reserve_references
from .services.stats import add_months
from .validators import normalise_phone
from .workdays import CHINA, Deadline, add_working_days, is_working_day
from .workflow import Action, Actor, Status

SEED = 2026
# Wan'an: the handling unit reports in writing within 7 days of the claim list.
EXTENSION_WORKING_DAYS = 5
# The marker of the demo data set: its first jurisdiction.
MARKER_DIVISION_CODE = "320000"


# --- the fixed data set ----------------------------------------------------------------


@dataclass(frozen=True)
class DemoLogin:
    """A published demo account: for trying the app, never for a real install."""

    username: str
    password: str
    role: Role
    display_name: str
    scope: str  # division code (staff), department name (unit) or deputy name (deputy)


LOGINS = (
    DemoLogin("admin", "demo-admin-2026", Role.ADMIN, "系统管理员", ""),
    DemoLogin("staff", "demo-staff-2026", Role.STAFF, "陈晓燕", "320585"),
    DemoLogin("staff-wanan", "demo-wanan-2026", Role.STAFF, "胡晓兰", "360828"),
    # The levels a Taicang request is escalated to (逐级上报): 苏州市, then 江苏省.
    DemoLogin("staff-suzhou", "demo-suzhou-2026", Role.STAFF, "沈建新", "320500"),
    DemoLogin("staff-jiangsu", "demo-jiangsu-2026", Role.STAFF, "王丽华", "320000"),
    DemoLogin("deputy", "demo-deputy-2026", Role.DEPUTY, "周建华", "周建华"),
    DemoLogin("unit", "demo-unit-2026", Role.UNIT, "李卫", "太仓市住建局"),
)
DEMO_USERNAMES = frozenset(login.username for login in LOGINS)

# (division code, name, level, parent code, is_street). The nine-digit township
# codes follow the statistical pattern but are illustrative.
JURISDICTIONS = (
    ("320000", "江苏省", Level.PROVINCE, None, False),
    ("320500", "苏州市", Level.CITY, "320000", False),
    ("320585", "太仓市", Level.COUNTY, "320500", False),
    ("320585001", "娄东街道", Level.TOWNSHIP, "320585", True),
    ("320585002", "陆渡街道", Level.TOWNSHIP, "320585", True),
    ("320585100", "城厢镇", Level.TOWNSHIP, "320585", False),
    ("320585101", "沙溪镇", Level.TOWNSHIP, "320585", False),
    ("320585102", "浏河镇", Level.TOWNSHIP, "320585", False),
    ("320585103", "浮桥镇", Level.TOWNSHIP, "320585", False),
    ("320585104", "璜泾镇", Level.TOWNSHIP, "320585", False),
    ("320585105", "双凤镇", Level.TOWNSHIP, "320585", False),
    ("360000", "江西省", Level.PROVINCE, None, False),
    ("360800", "吉安市", Level.CITY, "360000", False),
    ("360828", "万安县", Level.COUNTY, "360800", False),
    ("360828100", "芙蓉镇", Level.TOWNSHIP, "360828", False),
    ("360828101", "五丰镇", Level.TOWNSHIP, "360828", False),
    ("360828102", "窑头镇", Level.TOWNSHIP, "360828", False),
)
DEMO_DIVISION_CODES = frozenset(row[0] for row in JURISDICTIONS)

PARK_INTRO = (
    "万安县工业园区人大代表联络站设在园区管委会一楼代表接待室，以“企业开创新未来，代表助力同行”为宗旨，"
    "由12名常驻人大代表轮流进站，服务园区企业、监督问题解决、助推园区发展。企业职工可以到站当面反映，"
    "也可以扫描张贴在联络站、园区主干道和企业门口的二维码“码上找代表”。"
)
PARK_RULES = (
    "1. 每月5日、20日为集中接待日，每次不少于3名人大代表进站接待；工作日由县人大机关工作人员值守。\n"
    "2. 站内接待、扫码反映、进企走访收集的问题，统一登记入《问题清单》。\n"
    "3. 承办单位收到《认领清单》后7日内书面报告办理情况。\n"
    "4. 办理结果在公示栏公示；未按期办结或企业不满意的，持续跟踪督办，企业不满意不收兵。"
)
PARK_PROCESS = (
    "问题清单：代表接待、走访和“码上提”收集的问题由联络站汇总，报县人大常委会选联工委。\n"
    "认领清单：选联工委分类研究，交政府相关职能部门承办。\n"
    "办理答复：能解决的立即解决；因政策原因不能解决的，向企业解释说明。\n"
    "公示清单：办结后在联络站公示，选联工委跟踪复核，解决一个销号一个。"
)


@dataclass(frozen=True)
class _StationSeed:
    key: str
    name: str
    kind: StationKind
    division_code: str
    address: str
    reception_days: str
    intro: str = ""
    rules: str = ""
    process: str = ""


# Listed in creation order: a deputy's first station here is their primary station.
STATIONS = (
    _StationSeed("tc_home", "太仓市人大代表之家", StationKind.HOME, "320585", "太仓市城厢镇县府东街68号",
                 "每月10日、25日上午9:00—11:30",
                 intro="太仓市人大代表之家面向全市各级人大代表和街道议政代表开放，常态化开展代表接待、"
                       "代表小组活动和“代表局长面对面”。"),
    _StationSeed("chengxiang", "城厢镇代表联络站", StationKind.STATION, "320585100",
                 "太仓市城厢镇上海东路58号便民服务中心二楼", "每月第一、三个星期三下午"),
    _StationSeed("chengxiang_home", "城厢镇人大代表之家", StationKind.HOME, "320585100",
                 "太仓市城厢镇人民南路12号", "每月15日上午"),
    _StationSeed("shaxi", "沙溪镇庄西村代表联络站", StationKind.STATION, "320585101",
                 "太仓市沙溪镇庄西村村民委员会一楼", "每月15日上午"),
    _StationSeed("liuhe", "浏河镇闸南工业区代表联络站", StationKind.STATION, "320585102",
                 "太仓市浏河镇闸南工业区服务中心一楼", "每月5日、20日"),
    _StationSeed("liuhe_point", "浏河镇新塘工业区代表联系点", StationKind.POINT, "320585102",
                 "太仓市浏河镇新塘工业区新港路8号", "每周四下午"),
    _StationSeed("fuqiao", "浮桥镇人大代表之家", StationKind.HOME, "320585103",
                 "太仓市浮桥镇浮南路6号", "每月8日、22日"),
    _StationSeed("huangjing", "璜泾镇代表联络站", StationKind.STATION, "320585104",
                 "太仓市璜泾镇永乐路28号", "每月12日、26日"),
    _StationSeed("shuangfeng", "双凤镇代表联络站", StationKind.STATION, "320585105",
                 "太仓市双凤镇凤中路16号", "单月20日（选民接待日）"),
    _StationSeed("loudong", "娄东街道代表联络站", StationKind.STATION, "320585001",
                 "太仓市娄东街道北京东路88号", "每周三下午"),
    _StationSeed("hitech_point", "太仓高新区企业代表联系点", StationKind.POINT, "320585001",
                 "太仓市娄东街道高新区科技路21号", "每月第二个星期五下午"),
    _StationSeed("ludu", "陆渡街道代表联络站", StationKind.STATION, "320585002",
                 "太仓市陆渡街道陆渡中路9号", "每月18日"),
    _StationSeed("wanan_park", "万安县工业园区代表联络站", StationKind.STATION, "360828",
                 "万安县工业园区管委会一楼代表接待室", "每月5日、20日（逢节假日顺延）",
                 intro=PARK_INTRO, rules=PARK_RULES, process=PARK_PROCESS),
    _StationSeed("wufeng", "五丰镇代表联络站", StationKind.STATION, "360828101",
                 "万安县五丰镇人民政府一楼", "每月10日"),
    _StationSeed("furong", "芙蓉镇代表之家", StationKind.HOME, "360828100",
                 "万安县芙蓉镇芙蓉大道120号", "每月15日"),
)


@dataclass(frozen=True)
class _DeputySeed:
    key: str
    name: str
    division_code: str  # the congress that elected the deputy
    stations: tuple[str, ...]
    specialties: str
    bio: str
    kind: DeputyKind = DeputyKind.DEPUTY


_SR = DeputyKind.STREET_REPRESENTATIVE
DEPUTIES = (
    _DeputySeed("zhou", "周建华", "320585", ("tc_home", "chengxiang"), "企业融资、惠企政策",
                "在城厢镇一家农商银行支行从事小微企业信贷工作二十余年，熟悉无还本续贷和信用贷款政策。"),
    _DeputySeed("shen", "沈丽娟", "320585", ("tc_home", "chengxiang"), "法律服务、劳动用工",
                "执业律师，代表专业小组组长，为企业免费提供合同和劳动争议法律咨询。"),
    _DeputySeed("lu", "陆晓峰", "320500", ("tc_home", "loudong"), "科技创新、智改数转",
                "智能装备企业董事长，关注制造业数字化转型和对德合作。"),
    _DeputySeed("gu", "顾海明", "320585100", ("chengxiang",), "子女入学、教育",
                "小学校长，协助解决企业外地员工子女入学问题。"),
    _DeputySeed("han", "韩丽君", "320585100", ("chengxiang_home",), "矛盾调解、法律服务",
                "人民调解员，长期参与企业劳动纠纷和邻里矛盾调解。"),
    _DeputySeed("qian", "钱卫东", "320585", ("shaxi",), "市场准入、食品安全",
                "庄西村党委书记，推动村里黄酒小作坊标准化、规范化发展。"),
    _DeputySeed("zhu", "朱秀英", "320585101", ("shaxi",), "农副产品、电商销售",
                "经营农副产品网店，帮助本地小作坊拓展线上销路。"),
    _DeputySeed("wang", "王志刚", "320585", ("liuhe",), "物流运输、供应链",
                "物流企业负责人，熟悉港口物流和货车通行政策。"),
    _DeputySeed("wu", "吴建新", "320585102", ("liuhe", "liuhe_point"), "劳动用工、职业培训",
                "镇商会副会长，牵头对接职业技术学院为企业招工。"),
    _DeputySeed("xu", "徐国平", "320585102", ("liuhe_point",), "安全生产",
                "注册安全工程师，为中小企业排查安全生产隐患。"),
    _DeputySeed("zhang", "张红梅", "320585", ("fuqiao",), "工会建设、劳动关系",
                "镇总工会干部，推动非公企业和中小企业建立工会。"),
    _DeputySeed("sun", "孙卫国", "320585103", ("fuqiao",), "智改数转、设备更新",
                "机械企业技术总监，帮助企业申报智能化改造项目。"),
    _DeputySeed("huang", "黄永康", "320585", ("huangjing",), "员工集宿、纺织化纤",
                "化纤企业总经理，关注企业员工住宿和人才公寓建设。"),
    _DeputySeed("yang", "杨静", "320585104", ("huangjing",), "人才政策、招聘",
                "企业人力资源经理，熟悉人才引进和技能等级认定政策。"),
    _DeputySeed("jiang", "蒋志勇", "320585105", ("shuangfeng",), "道路水电、村庄建设",
                "村党总支书记，参加“民生夜话”板凳会收集群众意见。"),
    _DeputySeed("chen", "陈振华", "320585001", ("loudong", "hitech_point"), "拆迁安置、规划建设",
                "参与娄江新城片区征收工作，熟悉企业搬迁政策。", _SR),
    _DeputySeed("liu", "刘佳", "320585001", ("loudong",), "科技服务、知识产权",
                "科技服务机构负责人，帮助企业申报高新技术企业。", _SR),
    _DeputySeed("ma", "马建军", "320585", ("ludu",), "企业搬迁、拆迁补偿",
                "街道企业服务中心主任，协助企业对接搬迁规划。"),
    _DeputySeed("luo", "罗文华", "360828", ("wanan_park",), "营商环境、重点督办",
                "县人大常委会副主任，联络站联络员，牵头“企业融资难”重点督办。"),
    _DeputySeed("guo", "郭晓红", "360828", ("wanan_park",), "产权办证、不动产登记",
                "驻站代表，熟悉工程建设和不动产登记手续。"),
    _DeputySeed("peng", "彭志远", "360800", ("wanan_park",), "富硒产业、惠企政策",
                "驻站代表，关注农业龙头企业扶持政策兑现。"),
    _DeputySeed("zeng", "曾庆华", "360828", ("wanan_park",), "园区建设、企业服务",
                "园区管委会干部，负责园区基础设施和企业服务。"),
    _DeputySeed("xiao", "肖丽萍", "360828", ("wanan_park",), "招商引资、劳动用工",
                "园区管委会干部，负责园区企业用工服务。"),
    _DeputySeed("kang", "康建平", "360828", ("wanan_park",), "电子信息、智能制造",
                "园区电子企业负责人。"),
    _DeputySeed("liu_cs", "刘春生", "360828", ("wanan_park",), "粮油加工、食品安全",
                "粮油企业总经理，熟悉富硒农产品认证。"),
    _DeputySeed("xie", "谢美华", "360828", ("wanan_park",), "劳动用工、女职工权益",
                "服饰企业负责人。"),
    _DeputySeed("zhong", "钟永福", "360828101", ("wanan_park", "wufeng"), "土地流转、矛盾调解",
                "村党支部书记，协调企业与周边村民的矛盾。"),
    _DeputySeed("zou", "邹小军", "360828101", ("wanan_park", "wufeng"), "道路水电、环境卫生",
                "村委会主任，熟悉园区周边道路和供水供电。"),
    _DeputySeed("yin", "尹桂兰", "360828100", ("wanan_park", "furong"), "安全生产、应急管理",
                "社区党支部书记，参与园区安全生产检查。"),
    _DeputySeed("duan", "段志明", "360828102", ("wanan_park",), "农业生产、村民诉求",
                "村民代表，反映园区周边村民和企业职工的诉求。"),
)
DEMO_DEPUTY_KEY = "zhou"  # the deputy whose account is the demo's deputy login

DEPARTMENTS = (
    ("320585", "太仓市住建局"),
    ("320585", "太仓市人社局"),
    ("320585", "太仓市卫健委"),
    ("320585", "太仓市自然资源和规划局"),
    ("320585", "太仓市市场监管局"),
    ("320585", "太仓市应急管理局"),
    ("360828", "万安县工信局"),
    ("360828", "万安县人社局"),
    ("360828", "万安县住建局"),
    ("360828", "万安县卫健委"),
)

# Enterprises: (name suffix, industry).
TAICANG_TRADES = (
    ("精密机械有限公司", "通用设备制造"), ("智能装备有限公司", "专用设备制造"),
    ("新材料科技有限公司", "新材料"), ("汽车零部件有限公司", "汽车零部件"),
    ("电子科技有限公司", "电子元器件"), ("纺织有限公司", "纺织"), ("化纤有限公司", "化学纤维"),
    ("物流有限公司", "道路货运与仓储"), ("食品有限公司", "食品加工"),
    ("塑胶制品有限公司", "橡胶和塑料制品"), ("模具有限公司", "模具制造"),
    ("包装材料有限公司", "包装"), ("生物医药科技有限公司", "生物医药"),
)
WANAN_TRADES = (
    ("电子有限公司", "电子元器件"), ("粮油有限公司", "粮油加工"), ("饲料有限公司", "饲料"),
    ("实业有限公司", "综合制造"), ("电杆制造有限公司", "水泥制品"), ("智能科技有限公司", "智能终端"),
    ("服饰有限公司", "服装"), ("富硒农业开发有限公司", "农产品加工"), ("线路板有限公司", "印制电路板"),
)
TAICANG_BRANDS = (
    "恒拓", "锦润", "博远", "鼎盛", "瑞丰", "嘉禾", "华祥", "联成", "新程", "康达", "润泽", "宏昇",
    "汇通", "东信", "永顺", "丰源", "天衡", "远航", "众诚", "金桥", "佳豪", "德诺", "凯瑞", "盛达",
    "海德", "卓越", "精工", "泰和", "安捷", "鑫源", "荣昌", "科瑞", "旭升", "长风", "同创", "诚远",
)
WANAN_BRANDS = (
    "赣丰", "禾盛", "江鸿", "恒昌", "万和", "绿源", "鑫达", "华星", "锦江", "瑞康", "同心", "兴赣",
    "金穗", "宏图", "博华", "椿源",
)
# Where each township's firms sit (industrial areas from the seeds, roads invented).
TAICANG_AREAS = {
    "320585100": "城厢工业园", "320585101": "沙溪工业园", "320585102": "闸南工业区",
    "320585103": "浮桥工业园", "320585104": "璜泾工业区", "320585105": "双凤工业区",
    "320585001": "高新区", "320585002": "陆渡工业区",
}
ROADS = ("兴业路", "通港路", "创业路", "发展路", "科技路", "宏业路", "富达路", "长江路", "新港路", "工业大道")
WANAN_ROADS = ("创业大道", "工业大道", "芙蓉大道", "富硒路", "电子产业园一路", "园区三路")

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁沈姚卢姜钟陆汪范金石廖贾夏方邹熊孟秦邱尹薛段雷龙陶顾毛龚邵钱严"
GIVEN_NAMES = (
    "建国", "伟", "芳", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超",
    "秀兰", "霞", "平", "刚", "桂英", "文", "辉", "玉兰", "海燕", "志强", "春梅", "晓东", "卫东",
    "国庆", "红霞", "永红", "立新", "振宇", "子涵", "雨欣", "浩然", "俊杰", "思远",
)
MOBILE_PREFIXES = ("139", "138", "137", "136", "135", "150", "151", "158", "159", "187", "188", "177", "180", "189")


@dataclass(frozen=True)
class _Template:
    """One kind of problem from the seeds, with the answer that usually came back."""

    category: Category
    title: str
    description: str
    reply: str
    unit: Optional[str] = None  # the handling unit by short name; None: settled by the deputy or station
    outcome: Outcome = Outcome.SOLVED
    region: Optional[str] = None  # "320585", "360828" or None for both counties
    kind: RequestKind = RequestKind.REQUEST
    typical: str = ""  # a typical case (典型案例) when it ends well
    firms: tuple[str, ...] = ()  # words of the industry or name of the enterprises that have this problem
    towns: tuple[str, ...] = ()  # division codes of the only townships where it arises


_C = Category
_EXPLAINED = Outcome.EXPLAINED
_SUGGESTION = RequestKind.SUGGESTION
TEMPLATES = (
    _Template(_C.LABOUR, "招工难：一线操作工缺口大",
              "公司订单增加，车间一线操作工缺口约{n}人，在招聘网站和劳务市场招了两个月仍招不满，"
              "希望帮助对接职业技术学院和劳务基地。",
              "人社局将企业用工需求纳入本月专场招聘会，并对接职业技术学院安排{k}名实习生进厂，企业已陆续招到{n}人。",
              unit="人社局"),
    _Template(_C.LABOUR, "技术工人流失严重",
              "公司数控、焊接等技术工人流动性大，培训好的员工一年内流失近三成，希望了解职业技能提升补贴和技能等级认定政策。",
              "人社局派员上门讲解职业技能提升补贴申领流程，企业已备案为技能等级自主评价单位，首批{k}人参加认定。",
              unit="人社局"),
    _Template(_C.LABOUR, "旺季临时用工难",
              "公司生产季节性强，旺季需要临时用工{n}人左右，希望有共享用工的对接渠道。",
              "人社局将企业纳入共享用工对接平台，已与淡旺季相反的企业对接，调剂员工{k}名。",
              unit="人社局"),
    _Template(_C.LABOUR, "希望指导企业建立工会",
              "公司员工一百多人还没有建立工会，希望指导建会，丰富员工活动，帮助留住人才。",
              "代表联系镇总工会上门指导，公司已完成工会组建并开展了首次职工活动。",
              region="320585"),
    _Template(_C.FINANCE, "贷款到期需要过桥资金",
              "公司一笔{amount}万元流动资金贷款下月到期，银行要求先还后贷，自有资金周转不过来，希望协调过桥资金。",
              "县工信局协调政府性融资担保公司为企业提供过桥资金{amount}万元，银行已完成续贷。",
              unit="工信局", region="360828", typical="过桥资金及时到位，企业续贷未受影响。"),
    _Template(_C.FINANCE, "贷款担保费率偏高",
              "公司向银行申请贷款需要担保，担保费率偏高，希望了解政府性融资担保降费和贴息政策。",
              "县工信局介绍了政府性融资担保降费政策，担保费率降至0.5%，企业已获担保贷款{amount}万元。",
              unit="工信局", region="360828"),
    _Template(_C.FINANCE, "续贷资金周转困难",
              "公司有{amount}万元贷款即将到期，想了解能否办理无还本续贷，避免借高息过桥资金。",
              "代表联系合作银行上门评估，企业符合条件，已办理无还本续贷。",
              region="320585"),
    _Template(_C.FINANCE, "想了解小微企业信用贷款",
              "公司没有可抵押的厂房，想了解有没有适合小微企业的信用贷款产品。",
              "代表现场指导企业注册“苏商通”并使用“政策计算器”，匹配到两项信用贷款产品，企业已提交申请。",
              region="320585"),
    _Template(_C.LOGISTICS, "锂电池出口危包证办不下来",
              "公司产品中的锂电池出口需要危包证，不了解标准和办理流程，产品出口受阻。",
              "代表联系海关，海关派员多次上门指导，帮助准备实验室检测资料，危包证已办理完毕，产品顺利出口。",
              region="320585", typical="代表牵线海关“对症”指导，企业危包证办结，产品恢复出口。",
              firms=("电子", "设备")),
    _Template(_C.LOGISTICS, "货车通行证办理时间长",
              "公司货车进出城区需要通行证，每次办理时间长，影响按期交货，希望简化办理。",
              "代表联系交警部门，企业已办理年度货车通行证，今后可在网上续办。"),
    _Template(_C.LOGISTICS, "园区物流成本高",
              "园区离高速路口较远，零担货运要到县城中转，企业物流成本高，希望开通园区物流专线。",
              "县工信局已将物流专线纳入园区物流集散点规划，近期由园区管委会组织企业与物流公司拼单运输。",
              unit="工信局", region="360828", outcome=_EXPLAINED),
    _Template(_C.PROCEDURES, "厂房产权证迟迟办不下来",
              "公司{k}栋厂房建成多年，产权证一直办不下来，无法向银行抵押贷款，扩产资金缺口{amount}万元。",
              "住建局召开协调会，采取容缺办理方式，{k}栋厂房的产权证已全部办出，企业已凭证申请抵押贷款。",
              unit="住建局", region="360828", typical="容缺办理，久拖不决的厂房产权证一个多月办结。"),
    _Template(_C.PROCEDURES, "不动产登记材料反复补正",
              "公司厂房办理不动产登记，材料被退回补正两次，不清楚还缺什么，影响抵押贷款。",
              "自然资源和规划局安排专人一次性告知所需材料，登记已办结，不动产权证已发放。",
              unit="自然资源和规划局"),
    _Template(_C.PROCEDURES, "新建厂房消防验收排队久",
              "新建厂房已完工一个多月，消防验收一直在排队，迟迟不能投产。",
              "住建局安排专人提前介入指导，消防验收已通过，企业已投产。",
              unit="住建局"),
    _Template(_C.PROCEDURES, "仓库施工许可环节多",
              "厂区内准备新建一座仓库，施工许可办理环节多，希望能并联审批。",
              "住建局实行并联审批，施工许可证已核发。",
              unit="住建局", region="320585"),
    _Template(_C.PROCEDURES, "扩建项目环评材料多次退回",
              "扩建项目的环评材料多次退回补正，企业不清楚具体要求。",
              "代表协调生态环境部门召开现场辅导会，一次性告知补正要求，环评已获批复。"),
    _Template(_C.POLICY_BENEFITS, "核酸检测点板房费用未拨付",
              "疫情防控期间，公司响应政府倡议建设了{k}个移动板房作为职工核酸检测点，总费用{amount}万元，至今没有拨付。",
              "卫健委已启动拨付流程，报政府审批后，{amount}万元已拨付到企业账户。",
              unit="卫健委", typical="代表督促卫健委拨付企业垫付的核酸检测点建设费用，企业非常满意。"),
    _Template(_C.POLICY_BENEFITS, "稳岗返还补贴未到账",
              "去年申报的稳岗返还补贴至今没有到账，不知道卡在哪个环节。",
              "人社局核查发现企业银行账户信息有误，更正后补贴已发放。",
              unit="人社局"),
    _Template(_C.POLICY_BENEFITS, "富硒产品奖补迟迟不兑现",
              "公司参加了富硒产品展示展销并通过产品认证，按县里的政策应当给予奖补，但一直没有兑现。",
              "县工信局会同农业部门按现代农业发展奖补办法核定，已给予企业奖补{amount}万元。",
              unit="工信局", region="360828", typical="惠企政策兑现到位，企业获得奖补。",
              firms=("粮油", "农产品")),
    _Template(_C.POLICY_BENEFITS, "智改数转奖补资金未拨付",
              "公司实施了智能化改造，申报的智改数转奖补资金公示后一直没有拨付。",
              "代表向主管部门了解，奖补资金已列入本季度拨付批次，企业已收到。",
              region="320585"),
    _Template(_C.POLICY_BENEFITS, "不了解今年的惠企政策",
              "公司想了解今年的惠企政策清单和申报时间节点，担心错过申报。",
              "代表送去《企业服务项目汇编》和政策清单目录，并指导企业使用“政策计算器”，企业匹配到可申报政策{k}项。"),
    _Template(_C.LAND_PLANT, "厂房在拆迁范围内，搬迁时间不明",
              "因娄江新城开发建设，公司厂房在规划拆迁范围内，希望了解搬迁时间和补偿政策，以便提前安排生产。",
              "自然资源和规划局介绍了片区规划和征收计划，搬迁时间以征收公告为准，补偿按现行标准执行，并推荐了可租赁的标准厂房。",
              unit="自然资源和规划局", outcome=_EXPLAINED, towns=("320585001", "320585002")),
    _Template(_C.LAND_PLANT, "扩产需要新增工业用地",
              "公司订单增长需要扩大生产，希望在园区内申请约{k}亩工业用地。",
              "已将企业用地需求纳入年度供地计划，待用地指标下达后按程序挂牌出让，届时通知企业。",
              unit="自然资源和规划局", outcome=_EXPLAINED),
    _Template(_C.LAND_PLANT, "厂房旁空地想竞拍建仓库",
              "公司厂房隔壁有一块空地，公司想竞拍用于建仓库，希望了解拍卖程序和时间。",
              "代表协调自然资源部门现场说明，该地块已列入拍卖计划，企业可按公告报名竞买。",
              region="360828"),
    _Template(_C.LAND_PLANT, "建议减免小微企业标准厂房租金",
              "建议园区对入驻标准厂房的小微企业给予前两年租金减免，帮助企业渡过起步期。",
              "县工信局答复：已在修订园区标准厂房租赁办法，拟对新入驻的小微企业给予首年租金减半。",
              unit="工信局", region="360828", kind=_SUGGESTION, outcome=_EXPLAINED),
    _Template(_C.INFRASTRUCTURE, "厂区西门地面塌陷，地缆裸露",
              "厂区西门地面塌陷，有一条地缆线裸露在外，存在安全隐患，需要尽快修复。",
              "住建局当天设置围挡，一周内完成路面修复和线缆保护。",
              unit="住建局"),
    _Template(_C.INFRASTRUCTURE, "工业垃圾清运收费不明确",
              "园区对生活垃圾和工业垃圾的界定不清晰，工业垃圾清运没有收费标准，存在随意收费的问题。",
              "园区出台垃圾处理方案，明确生活垃圾与工业垃圾的界定和工业垃圾收费标准，并选址建设工业垃圾消纳处理点。",
              unit="住建局", region="360828", typical="明确园区垃圾界定和收费标准，企业不再被随意收费。"),
    _Template(_C.INFRASTRUCTURE, "线路频繁停电",
              "近期厂区所在线路多次突然停电，造成设备停机和产品报废，希望排查线路。",
              "代表联系供电所，供电所排查更换了老化线路，并承诺计划检修提前通知企业。"),
    _Template(_C.INFRASTRUCTURE, "企业门前路段没有路灯",
              "企业门前{road}路段没有路灯，夜班员工上下班不安全。",
              "住建局已在该路段新装路灯{k}盏。",
              unit="住建局"),
    _Template(_C.INFRASTRUCTURE, "雨季厂门口积水严重",
              "雨季厂区门口积水严重，货车进出困难，希望疏通改造雨水管网。",
              "住建局已疏通并改造该路段雨水管网，积水问题已解决。",
              unit="住建局"),
    _Template(_C.HOUSING_SCHOOLING, "员工宿舍紧张、租房成本高",
              "公司员工宿舍紧张，外面租房成本较高，希望了解人才公寓和集宿楼的租赁条件。",
              "镇人大协调相关部门，告知企业人才公寓和集宿楼的收费标准和租赁条件，企业已租用集宿房{k}套。",
              region="320585"),
    _Template(_C.HOUSING_SCHOOLING, "外地员工子女入学",
              "公司有{k}名外地骨干员工的子女明年要上小学，不清楚积分入学政策和报名时间。",
              "教师代表上门讲解积分入学政策和报名时间，并协助企业为员工准备材料。",
              outcome=_EXPLAINED),
    _Template(_C.HOUSING_SCHOOLING, "建议开通园区通勤公交",
              "园区到县城没有公交，员工上下班不便，建议开通早晚通勤公交线路。",
              "县住建局答复：已会同交通部门调研客流，拟在早晚高峰开通园区至县城的通勤线路。",
              unit="住建局", region="360828", kind=_SUGGESTION, outcome=_EXPLAINED),
    _Template(_C.MARKET_ACCESS, "黄酒不在小作坊目录，办不了证",
              "村里传统黄酒作坊因“酒类”不在食品小作坊生产加工食品目录内，办不了小作坊证，产品进不了商场和电商平台。",
              "市场监管局修改食品小作坊生产加工食品目录，增加“黄酒（原酒）”类别，作坊已办理登记证。",
              unit="市场监管局", typical="小作坊目录增补“酒类”，传统黄酒作坊走上规范化发展。",
              firms=("黄酒",)),
    _Template(_C.MARKET_ACCESS, "建议建设小作坊共享快检室",
              "小作坊产品送检费用高、周期长，建议在村里建设共享快检室。",
              "市场监管局已在村里建设黄酒检验检测共享快检室，小作坊可就近送检。",
              unit="市场监管局", kind=_SUGGESTION, firms=("黄酒",)),
    _Template(_C.MARKET_ACCESS, "新产品认证流程不清楚",
              "公司新产品需要办理产品质量认证，不清楚流程和所需材料。",
              "市场监管局上门辅导认证流程，企业已提交认证申请。",
              unit="市场监管局"),
    _Template(_C.SAFETY, "外包人员流动大，安全培训跟不上",
              "厂区内第三方服务外包人员流动性大，安全培训跟不上，存在安全生产隐患，希望加强对外包单位的监管。",
              "应急管理局对第三方服务机构开展安全生产警示教育，并指导企业建立外包人员入场培训制度。",
              unit="应急管理局"),
    _Template(_C.SAFETY, "危化品仓库整改需要专家指导",
              "公司的危险化学品仓库需要整改，希望专家上门指导整改方案。",
              "应急管理局组织专家上门，出具整改指导意见，企业已完成整改。",
              unit="应急管理局", firms=("化", "新材料", "医药")),
    _Template(_C.SAFETY, "园区消防通道被货车占用",
              "园区主干道两侧停满货车，消防通道被占用，存在安全隐患。",
              "代表协调园区管委会划定货车临时停车区，并安排人员定时巡查。",
              region="360828"),
    _Template(_C.LEGAL, "订单延期交付被要求赔偿",
              "因物流受阻，订单延期交付，客户要求赔偿违约金{amount}万元，希望得到法律咨询。",
              "律师代表审阅了合同条款，指导企业收集不可抗力证据并与客户协商，双方已达成延期交付协议。"),
    _Template(_C.LEGAL, "下游客户拖欠货款",
              "一家下游客户拖欠货款{amount}万元一年多，希望了解诉讼和调解途径。",
              "代表联系人民调解委员会组织调解，客户已签订分期还款协议。"),
    _Template(_C.LEGAL, "离职员工申请劳动仲裁",
              "一名离职员工就加班费申请劳动仲裁，公司对相关规定不清楚，希望有律师指导。",
              "律师代表查阅了考勤和工资记录，讲解加班费计算规定，双方已在调解员主持下和解。",
              region="320585"),
    _Template(_C.OTHER, "建议定期举办政银企对接会",
              "建议每季度组织一次政银企对接会，让企业和银行、部门面对面沟通。",
              "代表将建议提交常委会，已纳入明年代表活动计划，首场对接会定于下季度举办。",
              kind=_SUGGESTION, outcome=_EXPLAINED),
    _Template(_C.OTHER, "厂区手机信号差",
              "厂区手机信号差，影响生产调度和员工通话。",
              "代表联系通信运营商，运营商已在厂区附近新增基站。"),
)

# Requests that are not accepted (不予受理): closed with a note saying where to go instead.
REJECTED = (
    (_C.LEGAL, "股东之间分红有争议",
     "公司两位股东对分红方案有争议，希望人大代表出面裁决。",
     "股东之间的分红争议属于公司内部事务和民事纠纷，不属于代表职责范围；已告知可协商、仲裁或诉讼解决，律师代表可提供免费咨询。"),
    (_C.OTHER, "个人社保转移咨询",
     "我想咨询个人社保关系怎么从外省转过来。",
     "属于个人事务，已告知拨打12333或到人社窗口办理。"),
    (_C.INFRASTRUCTURE, "门前道路破损（重复反映）",
     "企业门前道路破损，希望修复。",
     "与本企业此前提交的诉求内容相同，已合并到原诉求办理。"),
)

CLAIM_NOTES = ("已认领，已电话联系企业负责人了解详细情况。", "已认领，约定到企业现场查看。",
               "已认领，正在核实情况。")
ACCEPT_NOTES = ("办理结果已核实，已电话回访企业。", "已到企业现场核实办理结果。")
SATISFIED_COMMENTS = ("问题解决得很快，感谢代表！", "部门上门服务，非常满意。", "感谢人大代表帮企业办实事。", "")
MOSTLY_COMMENTS = ("问题基本解决，希望后续进度再快一些。", "答复清楚，但办理时间有点长。")
UNSATISFIED_COMMENTS = ("答复只是解释政策，问题没有实际解决。", "现场情况没有变化，希望再督促一下。")
ADD_INFO_NOTES = ("补充：联系人白天在车间，请优先发短信，或下午四点后来电。",
                  "补充：情况比上次反映时更严重了，希望尽快处理。",
                  "补充：相关材料已准备好，可以随时提供。")
WITHDRAW_NOTES = ("问题已经自行解决，撤回。", "已通过12345热线反映，撤回。", "")


# --- what seeding reports ------------------------------------------------------------


@dataclass(frozen=True)
class DemoCode:
    """A QR code worth trying, with whose it is."""

    target: str  # "deputy" or "station"
    name: str
    place: str
    token: str


@dataclass
class DemoSummary:
    created: bool  # False: the demo was already there and nothing was written
    logins: list[DemoLogin]
    codes: list[DemoCode]  # live codes; the first a deputy's, the second a station's
    retired_code: Optional[DemoCode]
    counts: dict[str, int] = field(default_factory=dict)


class DemoConflict(Exception):
    """The database holds rows that collide with the demo's; nothing was written."""


# --- public API ------------------------------------------------------------------------


def demo_present() -> bool:
    """The demo data set is in the database (its marker jurisdiction, 江苏省, exists)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Jurisdiction).where(Jurisdiction.division_code == MARKER_DIVISION_CODE)
    ) > 0


def holds_other_data() -> bool:
    """The database belongs to a real install: a jurisdiction that is not the demo's,
    or, before the demo is loaded, any user account."""
    foreign = db.session.scalar(
        sa.select(sa.func.count()).select_from(Jurisdiction)
        .where(Jurisdiction.division_code.not_in(sorted(DEMO_DIVISION_CODES)))
    )
    if foreign:
        return True
    return not demo_present() and db.session.scalar(sa.select(sa.func.count()).select_from(User)) > 0


def seed_demo(*, now: Optional[datetime] = None) -> DemoSummary:
    """Load the demo data set in one transaction; when it is already there, write nothing."""
    begin_write()
    if demo_present():
        summary = load_summary()
        db.session.rollback()
        return summary
    try:
        _check_no_collisions()
        _Builder(random.Random(SEED), now or utcnow()).build()
        summary = load_summary(created=True)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return summary


def load_summary(*, created: bool = False) -> DemoSummary:
    """The logins, QR codes and counts of the demo data set as the database holds it."""
    demo_users = db.session.scalars(sa.select(User).where(User.username.in_(sorted(DEMO_USERNAMES))))
    users = {user.username: user for user in demo_users}
    logins = [login for login in LOGINS if login.username in users]
    codes: list[DemoCode] = []
    retired = None

    deputy_user = users.get("deputy")
    deputy = deputy_user.deputy if deputy_user else None
    park = _station_named("万安县工业园区代表联络站")
    home = _station_named("太仓市人大代表之家")
    if deputy is not None:
        codes += _codes(QRCode.deputy_id == deputy.id, Placement.STATION, limit=1)
    if park is not None:
        codes += _codes(QRCode.station_id == park.id, Placement.STATION, limit=1)
    if home is not None:
        codes += _codes(QRCode.station_id == home.id, Placement.STATION, limit=1)
    if park is not None:
        codes += _codes(QRCode.station_id == park.id, Placement.PARK_ROAD, limit=1)
    if deputy is not None:
        revoked = db.session.scalar(
            sa.select(QRCode).where(QRCode.deputy_id == deputy.id, QRCode.revoked_at.is_not(None))
            .order_by(QRCode.id).limit(1)
        )
        retired = _demo_code(revoked) if revoked is not None else None

    def count(model) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))

    counts = {
        "jurisdictions": count(Jurisdiction), "stations": count(Station), "deputies": count(Deputy),
        "departments": count(Department), "enterprises": count(Enterprise), "qr_codes": count(QRCode),
        "requests": count(Request), "users": count(User),
    }
    return DemoSummary(created=created, logins=logins, codes=codes, retired_code=retired, counts=counts)


def _station_named(name: str) -> Optional[Station]:
    return db.session.scalar(sa.select(Station).where(Station.name == name).order_by(Station.id).limit(1))


def _codes(owner, placement: Placement, *, limit: int) -> list[DemoCode]:
    rows = db.session.scalars(
        sa.select(QRCode).where(owner, QRCode.placement == placement, QRCode.revoked_at.is_(None))
        .order_by(QRCode.id).limit(limit)
    )
    return [_demo_code(code) for code in rows]


def _demo_code(code: QRCode) -> DemoCode:
    if code.deputy is not None:
        station = code.deputy.primary_station
        return DemoCode("deputy", code.deputy.name, code.label or (station.name if station else ""), code.token)
    return DemoCode("station", code.station.name, code.label or code.station.address, code.token)


def _check_no_collisions() -> None:
    """Refuse, before writing, when rows with the demo's unique keys already exist."""
    taken = db.session.scalars(
        sa.select(Jurisdiction.division_code).where(Jurisdiction.division_code.in_(sorted(DEMO_DIVISION_CODES)))
    ).all()
    if taken:
        raise DemoConflict(
            "The database already holds division code(s) " + ", ".join(sorted(taken))
            + " that the demo data set would create; the demo was not loaded."
        )
    names = db.session.scalars(sa.select(User.username).where(User.username.in_(sorted(DEMO_USERNAMES)))).all()
    if names:
        raise DemoConflict(
            "The database already has user(s) " + ", ".join(sorted(names))
            + " with the demo's usernames; the demo was not loaded."
        )


# --- building ------------------------------------------------------------------------


def _to_local(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc).astimezone(CHINA)


def _to_utc(local: datetime) -> datetime:
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def _local_date(moment: datetime) -> date:
    return _to_local(moment).date()


class _Builder:
    """Creates the rows in dependency order, drawing every choice from one seeded RNG."""

    def __init__(self, rng: random.Random, now: datetime):
        self.rng = rng
        self.now = now
        self.jurisdictions: dict[str, Jurisdiction] = {}
        self.stations: dict[str, Station] = {}
        self.deputies: dict[str, Deputy] = {}
        self.departments: dict[str, Department] = {}
        self.enterprises: list[Enterprise] = []
        self.contacts: dict[int, tuple[str, str]] = {}  # enterprise id -> the person who files for it
        self.users: dict[str, User] = {}
        self.deputy_codes: dict[int, QRCode] = {}
        self.station_codes: dict[int, QRCode] = {}
        self.all_codes: list[QRCode] = []
        self.scan_days: dict[tuple[int, date], int] = {}
        self.phones: set[str] = set()

    def build(self) -> None:
        self.places()
        self.people()
        self.firms()
        db.session.flush()  # ids for the requests' foreign keys and the events
        self.accounts()
        self.codes()
        db.session.flush()
        RequestFactory(self).create_all(100)
        self.visit_month()

    # places and people

    def places(self) -> None:
        for code, name, level, parent, is_street in JURISDICTIONS:
            jurisdiction = Jurisdiction(name=name, level=level, division_code=code, is_street=is_street,
                                        parent=self.jurisdictions.get(parent))
            self.jurisdictions[code] = jurisdiction
            db.session.add(jurisdiction)
        for seed in STATIONS:
            station = Station(name=seed.name, kind=seed.kind, jurisdiction=self.jurisdictions[seed.division_code],
                              address=seed.address, reception_days=seed.reception_days,
                              intro=seed.intro, rules=seed.rules, process=seed.process)
            self.stations[seed.key] = station
            db.session.add(station)
        for division_code, name in DEPARTMENTS:
            department = Department(name=name, jurisdiction=self.jurisdictions[division_code])
            self.departments[name] = department
            db.session.add(department)

    def people(self) -> None:
        order = {seed.key: index for index, seed in enumerate(STATIONS)}
        grid_numbers = self.rng.sample(range(1, 90), len(DEPUTIES))
        for seed, grid_number in zip(DEPUTIES, grid_numbers):
            stations = [self.stations[key] for key in sorted(seed.stations, key=order.__getitem__)]
            deputy = Deputy(name=seed.name, kind=seed.kind, specialties=seed.specialties, bio=seed.bio,
                            congress_jurisdiction=self.jurisdictions[seed.division_code], stations=stations)
            if seed.division_code.startswith("3205"):
                # Taicang: one deputy per social-governance grid (一代表一网格).
                town = next((s.jurisdiction for s in stations if s.jurisdiction.level is Level.TOWNSHIP),
                            self.jurisdictions["320585100"])
                deputy.grid = Grid(name=f"{town.name}第{grid_number}网格", jurisdiction=town)
            self.deputies[seed.key] = deputy
            db.session.add(deputy)

    def firms(self) -> None:
        taicang_towns = [code for code in TAICANG_AREAS]
        brands = self.rng.sample(TAICANG_BRANDS, 33)
        for index, brand in enumerate(brands):
            suffix, industry = TAICANG_TRADES[index % len(TAICANG_TRADES)]
            town = taicang_towns[index % len(taicang_towns)]
            prefix = "太仓市" if index % 3 == 0 else "太仓"
            address = (f"太仓市{self.jurisdictions[town].name}{TAICANG_AREAS[town]}"
                       f"{self.rng.choice(ROADS)}{self.rng.randint(1, 199)}号")
            self._firm(f"{prefix}{brand}{suffix}", "91320585", town, industry, address)
        for surname in self.rng.sample("沈顾陆钱", 2):
            self._firm(f"太仓市沙溪镇庄西{surname}记黄酒作坊", "92320585", "320585101", "黄酒酿造",
                       f"太仓市沙溪镇庄西村{self.rng.randint(1, 30)}组", individual=True)
        for index, brand in enumerate(self.rng.sample(WANAN_BRANDS, 15)):
            suffix, industry = WANAN_TRADES[index % len(WANAN_TRADES)]
            prefix = "江西" if index % 4 == 0 else "万安"
            if index % 5 == 4:
                town, address = "360828101", f"万安县五丰镇{self.rng.choice(WANAN_ROADS)}{self.rng.randint(1, 99)}号"
            else:
                town, address = "360828", f"万安县工业园区{self.rng.choice(WANAN_ROADS)}{self.rng.randint(1, 199)}号"
            self._firm(f"{prefix}{brand}{suffix}", "91360828", town, industry, address)

    def _firm(self, name: str, prefix: str, division_code: str, industry: str, address: str,
              individual: bool = False) -> None:
        alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        if individual or self.rng.random() < 0.5:
            middle = "MA" + "".join(self.rng.choice(alphabet) for _ in range(7))  # codes issued since 2015
        else:
            middle = "".join(self.rng.choice("0123456789") for _ in range(8)) + self.rng.choice(alphabet)
        body = prefix + middle
        park = TAICANG_AREAS.get(division_code, "") if prefix.startswith("9132") and not individual else (
            "万安县工业园区" if "工业园区" in address else "")
        enterprise = Enterprise(name=name, uscc=body + uscc.calc_check_digit(body), address=address,
                                jurisdiction=self.jurisdictions[division_code], industry=industry, park=park)
        self.enterprises.append(enterprise)
        db.session.add(enterprise)

    def person(self) -> tuple[str, str]:
        """A made-up contact: a name and a valid mobile in E.164."""
        name = self.rng.choice(SURNAMES) + self.rng.choice(GIVEN_NAMES)
        while True:
            number = self.rng.choice(MOBILE_PREFIXES) + "".join(self.rng.choice("0123456789") for _ in range(8))
            phone = normalise_phone(number)
            if phone not in self.phones:
                self.phones.add(phone)
                return name, phone

    def contact_for(self, enterprise: Enterprise) -> tuple[str, str]:
        if enterprise.id not in self.contacts:
            self.contacts[enterprise.id] = self.person()
        return self.contacts[enterprise.id]

    def accounts(self) -> None:
        for login in LOGINS:
            user = User(username=login.username, role=login.role, display_name=login.display_name)
            if login.role is Role.STAFF:
                user.jurisdiction = self.jurisdictions[login.scope]
            elif login.role is Role.UNIT:
                user.department = self.departments[login.scope]
            elif login.role is Role.DEPUTY:
                user.deputy = self.deputies[DEMO_DEPUTY_KEY]
            user.set_password(login.password)
            self.users[login.username] = user
            db.session.add(user)

    def codes(self) -> None:
        """A code per station and per deputy, more on park roads and at factory gates,
        and one reprinted poster whose old code was revoked."""
        for station in self.stations.values():
            self.station_codes[id(station)] = self._code(station=station)
        for deputy in self.deputies.values():
            self.deputy_codes[id(deputy)] = self._code(deputy=deputy, label=f"{deputy.primary_station.name}代表墙")
        park = self.stations["wanan_park"]
        self._code(station=park, placement=Placement.PARK_ROAD, label="园区创业大道与工业大道交叉口宣传栏")
        for key in ("luo", "guo"):
            self._code(deputy=self.deputies[key], placement=Placement.PARK_ROAD, label="园区主干道宣传栏")
        gates = [e for e in self.enterprises if e.jurisdiction.division_code.startswith("360828")][:3]
        for deputy_key, enterprise in zip(("kang", "liu_cs", "peng"), gates):
            self._code(deputy=self.deputies[deputy_key], placement=Placement.ENTERPRISE_GATE,
                       label=f"{enterprise.name}门口")
        zhou = self.deputies[DEMO_DEPUTY_KEY]
        gate = next(e for e in self.enterprises if e.jurisdiction.division_code == "320585100")
        reissued = self._code(deputy=zhou, placement=Placement.ENTERPRISE_GATE, label=f"{gate.name}门口")
        old = self._code(deputy=zhou, placement=Placement.ENTERPRISE_GATE, label=f"{gate.name}门口")
        old.created_at = self.now - timedelta(days=110)
        old.revoked_at = self.now - timedelta(days=21)  # the poster was torn and reprinted
        old.replaced_by = reissued
        reissued.created_at = old.revoked_at
        self.scan_history()

    def scan_history(self) -> None:
        """Scans per day over the last 30 days for the statistics page, within each code's
        lifetime count (no personal data: a count per code and day)."""
        db.session.flush()
        today = _local_date(self.now)
        for code in self.all_codes:
            if code.revoked_at is not None:
                continue
            recent = self.rng.randint(0, code.scan_count // 2)
            for _ in range(recent):
                day = today - timedelta(days=self.rng.randint(0, 29))
                self.scan_days[(code.id, day)] = self.scan_days.get((code.id, day), 0) + 1
        db.session.add_all(QRScanDay(qr_code_id=code_id, day=day, count=count)
                           for (code_id, day), count in sorted(self.scan_days.items()))

    # the visit month: campaigns, 1+N pairings, visits, reception days

    def visit_month(self) -> None:
        """Taicang runs a visit campaign now (so a visit logged today counts in it), with every
        enterprise paired to a deputy of its township's stations; Wan'an's visit week in the
        last week of August is over. Stations hold reception days on the 5th and the 20th."""
        today = _local_date(self.now)
        staff = self.users["staff"]
        taicang = self.jurisdictions["320585"]
        running = VisitCampaign(name=f"{today.year}年太仓市代表进企业走访活动", jurisdiction=taicang,
                                starts_on=today - timedelta(days=14), ends_on=today + timedelta(days=16),
                                target_kind=TargetKind.ALL, created_by=staff, created_at=self.now)
        wanan = self.jurisdictions["360828"]
        week = VisitCampaign(name=f"{today.year}年万安县代表集中走访周", jurisdiction=wanan,
                             starts_on=date(today.year, 8, 25), ends_on=date(today.year, 8, 31),
                             target_kind=TargetKind.PARK, park="万安县工业园区", created_by=self.users["staff-wanan"],
                             created_at=self.now)
        db.session.add_all([running, week])
        for campaign, county in ((running, "3205"), (week, "3608")):
            targets = [e for e in self.enterprises if e.jurisdiction.division_code.startswith(county)
                       and (campaign.target_kind is TargetKind.ALL or e.park == campaign.park)]
            campaign.targets = targets
            self._pair(campaign, targets)
        db.session.flush()
        # Wan'an's week is over: most of the park was visited, a few problems came of it.
        for index, enterprise in enumerate(week.targets):
            if index % 4 == 3:
                continue
            lead = next(p.deputy for p in self.pairings if p.campaign is week and p.enterprise is enterprise)
            self._visit(VisitForm.VISIT, week.starts_on + timedelta(days=index % 7), lead, [enterprise], week)
        # Taicang's is under way: the demo deputy has visited one of his enterprises already.
        zhou = self.deputies[DEMO_DEPUTY_KEY]
        mine = [p.enterprise for p in self.pairings if p.campaign is running and p.deputy is zhou]
        if mine:
            self._visit(VisitForm.VISIT, today - timedelta(days=3), zhou, mine[:1], running,
                        notes="了解企业订单和用工情况，企业反映运行平稳。")
        self._visit(VisitForm.SYMPOSIUM, today - timedelta(days=7), zhou,
                    [e for e in running.targets if e.jurisdiction.division_code == "320585100"][:4], running,
                    notes="城厢镇民营企业座谈会：融资、用工、物流三方面问题。",
                    others=[d for d in self.stations["chengxiang"].deputies if d is not zhou][:2])
        self.reception_days(today)

    def _pair(self, campaign: VisitCampaign, targets: list[Enterprise]) -> None:
        """A lead per enterprise from its township's stations in turn (as 一键均分 does)."""
        if not hasattr(self, "pairings"):
            self.pairings: list[Pairing] = []
        turn: Counter = Counter()
        for enterprise in targets:
            pool = [d for station in self.stations.values() if station.jurisdiction is enterprise.jurisdiction
                    for d in station.deputies]
            pool = pool or [d for station in self.stations.values()
                            if station.jurisdiction is enterprise.jurisdiction.parent for d in station.deputies]
            if not pool:
                continue
            key = enterprise.jurisdiction.division_code
            deputy = pool[turn[key] % len(pool)]
            turn[key] += 1
            pairing = Pairing(campaign=campaign, deputy=deputy, enterprise=enterprise, is_lead=True,
                              created_at=self.now)
            self.pairings.append(pairing)
            db.session.add(pairing)

    def _visit(self, form: VisitForm, held_on: date, deputy: Deputy, enterprises: list[Enterprise],
               campaign: Optional[VisitCampaign], *, notes: str = "走访企业，了解生产经营情况。",
               others: Optional[list[Deputy]] = None, station: Optional[Station] = None) -> Visit:
        station = station or deputy.primary_station
        visit = Visit(form=form, held_on=held_on, jurisdiction=station.jurisdiction, station=station,
                      campaign=campaign, notes=notes, deputies=[deputy, *(others or [])], enterprises=enterprises,
                      idempotency_key=uuid.uuid4().hex, created_at=_to_utc(datetime.combine(held_on, time(17, 0))))
        if deputy is self.deputies[DEMO_DEPUTY_KEY]:
            visit.logged_by = self.users["deputy"]
        db.session.add(visit)
        return visit

    def reception_days(self, today: date) -> None:
        """The 5th and the 20th (the next working day when that is not one) of last month, this
        month and the next two, at two stations, three deputies on duty in turn; the past ones
        held and logged as receptions."""
        month = today.replace(day=1)
        first = (month - timedelta(days=1)).replace(day=1)
        for key in ("chengxiang", "wanan_park"):
            station = self.stations[key]
            deputies = station.deputies
            turn = 0
            for offset in range(4):
                start = add_months(first, offset)
                for day_of_month in (5, 20):
                    day = start.replace(day=day_of_month)
                    while not is_working_day(day):
                        day += timedelta(days=1)
                    on_duty = [deputies[(turn + k) % len(deputies)] for k in range(min(3, len(deputies)))]
                    turn += 3
                    reception = ReceptionDay(station=station, held_on=day, starts_at=time(9, 0), ends_at=time(11, 30),
                                             deputies=on_duty, created_by=self.users["staff"], created_at=self.now)
                    if day < today:
                        reception.visit = self._visit(VisitForm.RECEPTION, day, on_duty[0], [], None,
                                                      notes="接待日：接待企业和群众来访。", others=on_duty[1:],
                                                      station=station)
                    db.session.add(reception)


    def _code(self, *, deputy: Optional[Deputy] = None, station: Optional[Station] = None,
              placement: Placement = Placement.STATION, label: str = "") -> QRCode:
        code = QRCode(deputy=deputy, station=station, placement=placement, label=label,
                      created_at=self.now - timedelta(days=130), scan_count=self.rng.randint(3, 120),
                      last_scanned_at=self.now - timedelta(hours=self.rng.uniform(1, 240)))
        db.session.add(code)
        self.all_codes.append(code)
        return code


# --- requests and their trails ---------------------------------------------------------

# (target status, how it got there, how many)
STATUS_MIX = (
    (Status.SUBMITTED, "new", 6), (Status.SUBMITTED, "late_claim", 2),
    (Status.SUBMITTED, "escalated", 1), (Status.SUBMITTED, "more_info", 1),
    (Status.CLAIMED, "plain", 6), (Status.CLAIMED, "returned", 1), (Status.CLAIMED, "escalated", 1),
    (Status.ASSIGNED, "plain", 6), (Status.ASSIGNED, "overdue", 2),
    (Status.IN_PROGRESS, "plain", 6), (Status.IN_PROGRESS, "overdue", 2), (Status.IN_PROGRESS, "key", 1),
    (Status.IN_PROGRESS, "reopened", 2), (Status.IN_PROGRESS, "extension", 1),
    (Status.REPLIED, "unit", 4), (Status.REPLIED, "answered", 2),
    (Status.AWAITING_RATING, "unit", 6), (Status.AWAITING_RATING, "answered", 2),
    (Status.CLOSED, "satisfied", 18), (Status.CLOSED, "mostly", 7), (Status.CLOSED, "unrated", 5),
    (Status.CLOSED, "answered", 6), (Status.CLOSED, "rejected", 4), (Status.CLOSED, "sent_back", 2),
    (Status.WITHDRAWN, "withdrawn", 6),
)
# Variants whose trail goes through a handling unit (besides every assigned or in-progress one),
# and those settled by the deputy or station itself.
UNIT_VARIANTS = {"returned", "unit", "satisfied", "mostly", "unrated", "sent_back"}
ANSWER_VARIANTS = {"answered"}


# The event that last asked someone to act on a request in this status ("": its filing).
_LATEST_ROUTE = {Status.SUBMITTED: "", Status.ASSIGNED: "assigned", Status.REPLIED: "responded"}


def _through_unit(status: Status, variant: str) -> bool:
    return status in (Status.ASSIGNED, Status.IN_PROGRESS) or variant in UNIT_VARIANTS

# Hours since the trail's last event, by (status, variant) or status.
TAILS = {
    Status.SUBMITTED: (0.3, 20), (Status.SUBMITTED, "late_claim"): (1, 10),
    Status.CLAIMED: (2, 60), Status.ASSIGNED: (1, 40), (Status.ASSIGNED, "overdue"): (2, 20),
    Status.IN_PROGRESS: (2, 100), Status.REPLIED: (1, 40), Status.AWAITING_RATING: (2, 130),
    Status.CLOSED: (24, 2200), Status.WITHDRAWN: (24, 2000),
}
# Hours between one event and the next, by action (the first matching override wins).
GAPS = {
    Action.FILE: (0, 0), Action.ADD_INFO: (1, 30), Action.CLAIM: (0.5, 20), Action.ESCALATE: (2, 30),
    Action.ASSIGN: (2, 40), Action.RETURN: (4, 48), Action.ACKNOWLEDGE: (1, 24),
    Action.REQUEST_EXTENSION: (48, 120), Action.DECIDE_EXTENSION: (2, 24), Action.RESPOND: (48, 220),
    Action.ANSWER: (24, 120), Action.ACCEPT: (2, 40), Action.SEND_BACK: (4, 30), Action.RATE: (1, 96),
    Action.AUTO_CLOSE: (168, 168.5), Action.REOPEN_UNSATISFIED: (2, 72), Action.REMIND: (30, 60),
    Action.SUPERVISE: (0.2, 4), Action.REJECT: (2, 30), Action.WITHDRAW: (1, 30),
}
OVERDUE_REMIND_GAP = (230, 330)  # long enough for the 7 working days to run out


@dataclass
class _Step:
    """One action on a request's trail, with its sampled delay and its effect."""

    action: Action
    actor: Actor
    user: Optional[User]
    gap_hours: float
    jitter_minutes: int
    note: str = ""
    public: bool = True
    effect: dict = field(default_factory=dict)
    at: Optional[datetime] = None


@dataclass
class _Draft:
    """A request being planned: where it came from and the steps it went through."""

    status: Status
    variant: str
    county: Jurisdiction
    jurisdiction: Jurisdiction
    channel: Channel
    station: Station
    deputy: Optional[Deputy]
    qr_code: Optional[QRCode]
    template: Optional[_Template]
    rejected: Optional[tuple]
    enterprise: Enterprise
    params: dict
    consent: bool
    steps: list[_Step] = field(default_factory=list)


class RequestFactory:
    """Plans 100 requests across every status, then writes them with their trails."""

    def __init__(self, builder: _Builder):
        self.b = builder
        self.rng = builder.rng
        self.config = current_app.config
        self.response_days = self.config["RESPONSE_DUE_WORKING_DAYS"]

    def create_all(self, total: int) -> None:
        mix = [(status, variant) for status, variant, count in STATUS_MIX for _ in range(count)]
        assert len(mix) == total, "STATUS_MIX must add up to the advertised number of requests"
        self.rng.shuffle(mix)
        drafts = [self.draft(status, variant) for status, variant in mix]
        for draft in drafts:
            self.schedule(draft)
        drafts.sort(key=lambda d: d.steps[0].at)
        references = self.reserve_references(Counter(_local_date(d.steps[0].at).year for d in drafts))
        written = []
        for draft in drafts:
            year = _local_date(draft.steps[0].at).year
            written.append(self.write(draft, references[year].pop(0)))
            db.session.add(written[-1])
        db.session.flush()
        self.tell(written)

    def tell(self, requests: list[Request]) -> None:
        """Each open request's latest event in the 消息 lists of those who must act on it now,
        as the app would have written them (only there: the demo sends nobody anything)."""
        with routing.memo(), notify.batch():
            for request in requests:
                route = _LATEST_ROUTE.get(request.status)
                if request.status is Status.IN_PROGRESS and request.rating is Rating.UNSATISFIED:
                    route = "unsatisfied"
                if route is not None:
                    notify.announce(route or routing.route_for_filing(request), request, inbox_only=True)

    # choosing what and where

    def draft(self, status: Status, variant: str) -> _Draft:
        """Choose what the problem is, which enterprise has it, and where it was raised."""
        rng, b = self.rng, self.b
        county = b.jurisdictions["360828" if rng.random() < 0.3 else "320585"]
        if variant == "escalated":
            county = b.jurisdictions["320585"]  # a town's matter that only the county can settle
        elif variant == "key":
            county = b.jurisdictions["360828"]  # Wan'an's key supervised problem: 企业融资难
        template = rejected = None
        if variant == "rejected":
            rejected = rng.choice(REJECTED)
        else:
            template = self.pick_template(county, status, variant)
        enterprise = self.pick_enterprise(county, template)
        channel = rng.choices(
            (Channel.QR_DEPUTY, Channel.QR_STATION, Channel.VISIT, Channel.RECEPTION), (35, 25, 25, 15)
        )[0]
        deputy, station = self.pick_place(county, enterprise, channel, needs_township=variant == "escalated")
        qr_code = None
        if channel is Channel.QR_DEPUTY:
            qr_code = b.deputy_codes[id(deputy)]
        elif channel is Channel.QR_STATION:
            qr_code = b.station_codes[id(station)]
        params = dict(n=rng.randint(15, 80), k=rng.randint(2, 12), road=rng.choice(ROADS),
                      amount=rng.choice((50, 80, 120, 200, 300, 500, 800, 1200)))
        draft = _Draft(status, variant, county, station.jurisdiction, channel, station, deputy, qr_code, template,
                       rejected, enterprise, params, consent=rng.random() < 0.7)
        draft.steps = self.plan(draft)
        return draft

    def pick_template(self, county: Jurisdiction, status: Status, variant: str) -> _Template:
        """A category first, then one of its problems, so that every category shows up."""
        usable = self.templates_for(county, status, variant)
        if variant == "key":
            usable = [t for t in usable if t.category is Category.FINANCE]
        categories = sorted({t.category for t in usable}, key=list(Category).index)
        category = self.rng.choice(categories)
        return self.rng.choice([t for t in usable if t.category is category])

    def pick_enterprise(self, county: Jurisdiction, template: Optional[_Template]) -> Enterprise:
        in_county = [e for e in self.b.enterprises if county in (e.jurisdiction, e.jurisdiction.parent)]
        fitting = in_county
        if template is not None and template.firms:
            fitting = [e for e in fitting if any(w in e.industry or w in e.name for w in template.firms)]
        if template is not None and template.towns:
            fitting = [e for e in fitting if e.jurisdiction.division_code in template.towns]
        return self.rng.choice(fitting or in_county)

    def pick_place(self, county: Jurisdiction, enterprise: Enterprise, channel: Channel, *, needs_township: bool):
        """The deputy or station the request reached: near the enterprise, or the county's own."""
        rng, b = self.rng, self.b
        stations = [s for s in b.stations.values() if s.jurisdiction in (county, enterprise.jurisdiction)]
        if needs_township:
            stations = [s for s in stations if s.jurisdiction.level is Level.TOWNSHIP]
        if channel in (Channel.QR_DEPUTY, Channel.VISIT):
            deputies = [d for d in b.deputies.values() if d.primary_station in stations]
            zhou = b.deputies[DEMO_DEPUTY_KEY]
            if zhou in deputies and rng.random() < 0.35:
                deputy = zhou  # the demo deputy gets a good share of the requests addressed to deputies
            else:
                deputy = rng.choice(deputies)
            return deputy, deputy.primary_station
        park = b.stations["wanan_park"]
        if park in stations and rng.random() < 0.7:
            return None, park  # the seeds' park station takes most of Wan'an's traffic
        return None, rng.choice(stations)

    def templates_for(self, county: Jurisdiction, status: Status, variant: str) -> list[_Template]:
        def available(t: _Template) -> bool:
            if t.region and t.region != county.division_code:
                return False
            return t.unit is None or f"{county.name}{t.unit}" in self.b.departments

        usable = [t for t in TEMPLATES if available(t)]
        if _through_unit(status, variant):
            return [t for t in usable if t.unit]
        if variant in ANSWER_VARIANTS:
            return [t for t in usable if not t.unit]
        return usable

    # planning the trail

    def handler(self, draft: _Draft, at_county: bool) -> tuple[Actor, User]:
        """Who claims and steers it: the demo deputy for what is addressed to him or his
        home station, otherwise the liaison staff of the county."""
        zhou = self.b.deputies[DEMO_DEPUTY_KEY]
        if draft.deputy is zhou or (at_county and draft.station is zhou.primary_station and draft.deputy is None):
            return Actor.DEPUTY, self.b.users["deputy"]
        return Actor.STAFF, self.staff(draft)

    def staff(self, draft: _Draft) -> User:
        return self.b.users["staff" if draft.county.division_code == "320585" else "staff-wanan"]

    def step(self, action: Action, actor: Actor, user: Optional[User] = None, note: str = "", *,
             public: bool = True, gap: Optional[tuple[float, float]] = None, **effect) -> _Step:
        low, high = gap or GAPS[action]
        return _Step(action, actor, user, self.rng.uniform(low, high), self.rng.randint(0, 90),
                     note=note, public=public, effect=effect)

    def plan(self, d: _Draft) -> list[_Step]:
        rng, variant, status = self.rng, d.variant, d.status
        steps = [self.filing_step(d)]
        through_unit = _through_unit(status, variant)
        if variant in ("more_info", "withdrawn") or (through_unit and rng.random() < 0.15):
            steps.append(self.step(Action.ADD_INFO, Actor.ENTERPRISE, note=rng.choice(ADD_INFO_NOTES)))
        if status is Status.SUBMITTED and variant in ("new", "more_info"):
            return steps
        if variant == "late_claim":
            steps.append(self.step(Action.REMIND, Actor.STAFF, self.staff(d), public=False,
                                   note="超过1个工作日未认领，已提醒站内代表及时认领。"))
            return steps
        if variant == "withdrawn":
            steps.append(self.step(Action.WITHDRAW, Actor.ENTERPRISE, note=rng.choice(WITHDRAW_NOTES)))
            return steps
        if variant == "rejected":
            actor, user = self.handler(d, at_county=d.jurisdiction.level is not Level.TOWNSHIP)
            steps.append(self.step(Action.REJECT, actor, user, d.rejected[3]))
            return steps

        needs_county = through_unit or variant == "escalated"
        steps += self.claiming_steps(d, escalate=needs_county and d.jurisdiction.level is Level.TOWNSHIP)
        if status is Status.SUBMITTED or (status is Status.CLAIMED and variant in ("plain", "escalated")):
            return steps
        actor, user = self.handler(d, at_county=True)

        if variant in ANSWER_VARIANTS:
            steps.append(self.step(Action.ANSWER, actor, user, self.reply(d), outcome=d.template.outcome))
            if status is Status.REPLIED:
                return steps
            staff = self.staff(d)
            steps.append(self.step(Action.ACCEPT, Actor.STAFF, staff, rng.choice(ACCEPT_NOTES)))
            if status is Status.AWAITING_RATING:
                return steps
            rating = rng.choice((Rating.SATISFIED, Rating.SATISFIED, Rating.MOSTLY_SATISFIED))
            return steps + [self.rating_step(d, rating)]

        department = self.b.departments[f"{d.county.name}{d.template.unit}"]
        if variant == "returned" or (status is Status.CLOSED and rng.random() < 0.12):
            others = [x for x in self.b.departments.values()
                      if x.jurisdiction is d.county and x is not department]
            wrong = rng.choice(others)
            steps.append(self.assign_step(actor, user, wrong))
            steps.append(self.step(Action.RETURN, Actor.UNIT, self.unit_user(wrong),
                                   f"经核实，该事项不属于本单位职责，建议交{department.name}办理。",
                                   public=False, department_id=None))
            if variant == "returned":
                return steps
        steps.append(self.assign_step(actor, user, department))
        if status is Status.ASSIGNED:
            if variant == "overdue":
                steps += self.supervision_steps(d)
            return steps
        unit_user = self.unit_user(department)
        steps.append(self.step(Action.ACKNOWLEDGE, Actor.UNIT, unit_user, "已签收，安排专人办理。"))
        if variant == "extension" or (status is Status.CLOSED and rng.random() < 0.1):
            steps.append(self.step(Action.REQUEST_EXTENSION, Actor.UNIT, unit_user,
                                   "涉及多个部门会商，申请延期5个工作日。", extension=True))
            if variant == "extension":
                return steps
            steps.append(self.step(Action.DECIDE_EXTENSION, Actor.STAFF, self.staff(d),
                                   "同意延期5个工作日。", extension=False))
        if status is Status.IN_PROGRESS and variant in ("plain", "overdue", "key"):
            if variant in ("overdue", "key"):
                steps += self.supervision_steps(d)
            return steps
        if variant == "sent_back":
            steps.append(self.step(Action.RESPOND, Actor.UNIT, unit_user, "已与企业沟通，正在研究解决办法。",
                                   outcome=Outcome.EXPLAINED))
            steps.append(self.step(Action.SEND_BACK, actor, user, "答复没有回应企业的具体诉求，请重新办理。"))
        steps.append(self.step(Action.RESPOND, Actor.UNIT, unit_user, self.reply(d), outcome=d.template.outcome))
        if status is Status.REPLIED:
            return steps
        steps.append(self.step(Action.ACCEPT, actor, user, rng.choice(ACCEPT_NOTES)))
        if status is Status.AWAITING_RATING:
            return steps
        if variant == "reopened":
            steps.append(self.step(Action.REOPEN_UNSATISFIED, Actor.ENTERPRISE, note=rng.choice(UNSATISFIED_COMMENTS)))
            steps.append(self.step(Action.SUPERVISE, Actor.STAFF, self.staff(d), "企业对办理结果不满意，列入督办，跟踪重新办理。",
                                   public=False, gap=(1, 20), supervised=True))
            return steps
        if variant == "unrated":
            steps.append(self.step(Action.AUTO_CLOSE, Actor.SYSTEM, note="7日内未评价，系统自动办结。",
                                   rating=Rating.UNRATED))
            return steps
        rating = Rating.MOSTLY_SATISFIED if variant == "mostly" else Rating.SATISFIED
        return steps + [self.rating_step(d, rating)]

    def filing_step(self, d: _Draft) -> _Step:
        if d.channel in (Channel.QR_DEPUTY, Channel.QR_STATION):
            return self.step(Action.FILE, Actor.ENTERPRISE)
        collector = d.deputy.name if d.deputy else "值班代表"
        where = "走访企业时收集" if d.channel is Channel.VISIT else f"在{d.station.name}接待日收集"
        if d.deputy is self.b.deputies[DEMO_DEPUTY_KEY]:
            return self.step(Action.FILE, Actor.DEPUTY, self.b.users["deputy"], f"{where}，代企业登记。")
        return self.step(Action.FILE, Actor.STAFF, self.staff(d), f"{collector}{where}，联络站登记入问题清单。")

    def claiming_steps(self, d: _Draft, *, escalate: bool) -> list[_Step]:
        rng = self.rng
        if not escalate:
            actor, user = self.handler(d, at_county=d.jurisdiction.level is not Level.TOWNSHIP)
            return [self.step(Action.CLAIM, actor, user, rng.choice(CLAIM_NOTES))]
        staff = self.staff(d)
        steps = [
            self.step(Action.CLAIM, Actor.STAFF, staff, rng.choice(CLAIM_NOTES)),
            self.step(Action.ESCALATE, Actor.STAFF, staff,
                      f"该事项超出{d.jurisdiction.name}事权，逐级上报{d.county.congress_name}。",
                      jurisdiction=d.county),
        ]
        if not (d.status is Status.SUBMITTED):
            steps.append(self.step(Action.CLAIM, Actor.STAFF, staff, f"{d.county.congress_name}认领，研究交办。"))
        return steps

    def assign_step(self, actor: Actor, user: User, department: Department) -> _Step:
        return self.step(Action.ASSIGN, actor, user, f"交{department.name}办理，请按期书面报告办理情况。",
                         department_id=department.id)

    def supervision_steps(self, d: _Draft) -> list[_Step]:
        """催办 and 督办 of an item whose deadline has run out."""
        staff = self.staff(d)
        key = d.variant == "key"
        note = "列入县人大常委会“企业融资难”重点督办。" if key else "列入督办，跟踪办理进度。"
        return [
            self.step(Action.REMIND, Actor.STAFF, staff, "已超过办理期限，请加快办理并报告进度。", public=False,
                      gap=OVERDUE_REMIND_GAP),
            self.step(Action.SUPERVISE, Actor.STAFF, staff, note, public=False, supervised=True, key_supervision=key),
        ]

    def rating_step(self, d: _Draft, rating: Rating) -> _Step:
        comments = SATISFIED_COMMENTS if rating is Rating.SATISFIED else MOSTLY_COMMENTS
        comment = self.rng.choice(comments)
        return self.step(Action.RATE, Actor.ENTERPRISE, note=comment, rating=rating, comment=comment)

    def unit_user(self, department: Department) -> Optional[User]:
        """The demo's unit officer signs for 太仓市住建局; other units report in writing."""
        unit = self.b.users["unit"]
        return unit if unit.department is department else None

    def reply(self, d: _Draft) -> str:
        return d.template.reply.format(**d.params)

    # timing

    def schedule(self, d: _Draft) -> None:
        """Give every step a time: filed far enough back that the trail ends `tail`
        hours ago; handlers and units act in office hours."""
        low, high = TAILS.get((d.status, d.variant), TAILS[d.status])
        tail = timedelta(hours=self.rng.uniform(low, high))
        latest = self.b.now - tail
        start = latest - timedelta(hours=sum(s.gap_hours for s in d.steps))
        for attempt in range(20):
            times = self.times(d, start, office_hours=True)
            overshoot = times[-1] - latest
            if overshoot <= timedelta(0):
                break
            start -= overshoot + timedelta(hours=attempt)  # a shift can land a step in another night
        else:
            times = self.times(d, start, office_hours=False)
        for step, at in zip(d.steps, times):
            step.at = at

    def times(self, d: _Draft, start: datetime, *, office_hours: bool) -> list[datetime]:
        times, at = [], start
        for step in d.steps:
            at = at + timedelta(hours=step.gap_hours)
            if office_hours:
                at = self.in_office_hours(at, step)
            times.append(at)
        return times

    @staticmethod
    def in_office_hours(at: datetime, step: _Step) -> datetime:
        local = _to_local(at)
        if step.actor in (Actor.STAFF, Actor.UNIT):
            opens, closes, working_days_only = time(8, 30), time(17, 30), True
        elif step.actor is Actor.DEPUTY:
            opens, closes, working_days_only = time(7, 30), time(21, 0), False
        elif step.actor is Actor.ENTERPRISE:
            opens, closes, working_days_only = time(6, 30), time(23, 30), False
        else:
            return at
        day = local.date()
        if local.time() >= closes:
            day += timedelta(days=1)
        elif opens <= local.time() and (not working_days_only or is_working_day(day)):
            return at
        while working_days_only and not is_working_day(day):
            day += timedelta(days=1)
        opened = datetime.combine(day, opens, tzinfo=CHINA) + timedelta(minutes=step.jitter_minutes)
        return max(_to_utc(opened), at)

    # writing

    def reserve_references(self, per_year: Counter) -> dict[int, list[str]]:
        """Take a block of numbers per year from the app's own counter, so that the
        next real filing continues after the demo's."""
        return {year: reserve_references(year, count) for year, count in sorted(per_year.items())}

    def write(self, d: _Draft, reference: str) -> Request:
        if d.template is not None:
            category, title = d.template.category, d.template.title
            description, kind = d.template.description.format(**d.params), d.template.kind
        else:
            category, title, description, _note = d.rejected
            kind = RequestKind.REQUEST
        contact_name, contact_phone = self.b.contact_for(d.enterprise)
        filed_at = d.steps[0].at
        request = Request(
            reference=reference,
            tracking_token=secrets.token_urlsafe(24),
            idempotency_key=uuid.uuid4().hex,
            kind=kind,
            category=category,
            title=title,
            description=description,
            enterprise_id=d.enterprise.id,
            contact_name=contact_name,
            contact_phone=contact_phone,
            channel=d.channel,
            qr_code_id=d.qr_code.id if d.qr_code else None,
            addressed_deputy_id=d.deputy.id if d.deputy else None,
            station_id=d.station.id,
            jurisdiction_id=d.jurisdiction.id,
            filed_jurisdiction_id=d.jurisdiction.id,
            public_consent=d.consent,
            # Column defaults apply only at INSERT; the trail below reads these before that.
            return_count=0,
            extension_used=False,
            is_supervised=False,
            is_key_supervision=False,
            created_at=filed_at,
        )
        for step in d.steps:
            self.apply(request, step)
        request.updated_at = d.steps[-1].at
        if request.status is Status.CLOSED and request.outcome is not None and d.consent:
            self.publish(request, d, title)
        if request.status is Status.CLOSED and request.outcome is Outcome.SOLVED:
            if d.template.typical and request.rating is Rating.SATISFIED:
                request.is_typical_case = True
                request.typical_case_note = d.template.typical
        return request

    def publish(self, request: Request, d: _Draft, title: str) -> None:
        """公示: its claimant wrote the summary (the problem and the answer) and approved it for
        the public board soon after it closed, personal details removed (services/publication.py)."""
        claimant = next(step.user for step in reversed(d.steps) if step.action is Action.CLAIM)
        actor = Actor.DEPUTY if claimant.role is Role.DEPUTY else Actor.STAFF
        request.enterprise = d.enterprise  # what the detector looks for
        request.public_summary = publication.for_the_board(request, publication.compose(title, self.reply(d)))
        at = self.in_office_hours(request.closed_at + timedelta(hours=1), _Step(
            Action.APPROVE_PUBLIC_SUMMARY, actor, claimant, 0, 0))
        at = min(at, self.b.now)
        request.public_summary_approved_at = at
        request.public_summary_approved_by = claimant
        event = record_event(request, Action.APPROVE_PUBLIC_SUMMARY, actor, actor_user=claimant,
                             note=request.public_summary, public=False)
        event.created_at = at
        request.updated_at = max(request.updated_at, at)

    def apply(self, request: Request, step: _Step) -> None:
        """Change the request as the step's action does, then record it through the workflow, with
        the deadline it sets or moves (the trail shows it, as the services record it)."""
        at, effect = step.at, step.effect
        day = _local_date(at)
        deadline = None
        if step.action is Action.FILE or "jurisdiction" in effect:  # filed, or waiting at the level above
            deadline = (Deadline.CLAIM, add_working_days(day, self.config["CLAIM_DUE_WORKING_DAYS"]))
        if "jurisdiction" in effect:
            request.jurisdiction_id = effect["jurisdiction"].id
            request.claimant_id = request.claimed_at = None
        if effect.get("department_id"):
            request.department_id = effect["department_id"]
        elif "department_id" in effect:  # returned as not theirs (cleared below: the event names who)
            request.return_count += 1
            request.assigned_at = None
            deadline = (Deadline.RESPONSE, None)
        if step.action is Action.CLAIM:
            request.claimant_id = step.user.id
            request.claimed_at = at
        elif step.action is Action.ASSIGN:
            request.assigned_at = at
            deadline = (Deadline.RESPONSE, add_working_days(day, self.response_days))
        elif step.action in (Action.RESPOND, Action.ANSWER):
            request.outcome = effect["outcome"]
            request.replied_at = at
        elif step.action is Action.SEND_BACK:
            request.outcome = request.replied_at = None
        elif step.action is Action.REOPEN_UNSATISFIED:  # 企业不满意不收兵: back to the unit, a new deadline
            request.outcome = request.replied_at = None
            deadline = (Deadline.RESPONSE, max(add_working_days(day, self.response_days), request.due_on))
            request.rating = Rating.UNSATISFIED
            request.rating_comment = step.note
        elif step.action in (Action.RATE, Action.AUTO_CLOSE):
            request.rating = effect["rating"]
            request.rating_comment = effect.get("comment", "")
            request.closed_at = at
        elif step.action in (Action.REJECT, Action.WITHDRAW):
            request.closed_at = at
        elif step.action is Action.ACCEPT:
            deadline = (Deadline.RATING, day + timedelta(days=self.config["RATING_DAYS"]))
        elif step.action is Action.DECIDE_EXTENSION:
            deadline = (Deadline.RESPONSE, request.extension_due_on)
        if "extension" in effect:
            if effect["extension"]:  # asked for: the proposed later due date waits for staff
                request.extension_due_on = add_working_days(request.due_on, EXTENSION_WORKING_DAYS)
            else:  # decided: the one extension is used
                request.extension_due_on = None
                request.extension_used = True
        if effect.get("supervised"):
            request.is_supervised = True
            request.is_key_supervision = request.is_key_supervision or effect.get("key_supervision", False)
        event = record_event(request, step.action, step.actor, actor_user=step.user, note=step.note,
                             public=step.public, deadline=deadline)
        event.created_at = at
        if "department_id" in effect and effect["department_id"] is None:
            request.department_id = None
