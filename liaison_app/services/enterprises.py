"""Enterprise records: find them, correct them, and merge two records of one company.

Filing creates an enterprise from the name and USCC a worker typed on a phone, so one
company can end up as two records (合并重复企业). A merge keeps one, moves everything that
points at the other onto it, fills the kept record's gaps, and deletes the other, in one
transaction. Each function checks the actor's scope, logs, and commits once; an
EnterpriseError means nothing was written.
"""

import logging
from dataclasses import dataclass, field
from typing import Optional

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Enterprise, Jurisdiction, Pairing, Request, Role, User
from ..models.visits import campaign_targets, visit_enterprises
from ..validators import InvalidValue, normalise_uscc

log = logging.getLogger("liaison.admin")

# What a merge fills in on the kept record when it is empty there.
FILLED_FIELDS = ("uscc", "address", "industry", "jurisdiction_id")


class EnterpriseError(Exception):
    """Refused; `field` names the form field that caused it, when one did."""

    def __init__(self, message, field: Optional[str] = None):
        super().__init__(str(message))
        self.message = message
        self.field = field


class OutOfScope(Exception):
    """The actor does not manage this enterprise; views answer 404, as for an unknown id."""


def _managed_ids(user: User) -> Optional[list[int]]:
    from ..admin.scope import managed_jurisdiction_ids  # late: the admin views import this module

    return managed_jurisdiction_ids(user)


def visible_enterprises(user: User) -> sa.Select:
    """SELECT the enterprises a user manages: admins all; staff those of their subtree, and
    those with no jurisdiction yet that filed a request inside their subtree."""
    query = sa.select(Enterprise)
    ids = _managed_ids(user)
    if ids is None:
        return query
    filed_here = sa.exists().where(Request.enterprise_id == Enterprise.id, Request.jurisdiction_id.in_(ids))
    return query.where(sa.or_(Enterprise.jurisdiction_id.in_(ids),
                              sa.and_(Enterprise.jurisdiction_id.is_(None), filed_here)))


def may_manage(user: User, enterprise: Enterprise) -> bool:
    query = visible_enterprises(user).where(Enterprise.id == enterprise.id)
    return db.session.scalar(sa.select(query.exists())) is True


def matching(query: sa.Select, text: str) -> sa.Select:
    """Narrow an enterprise query to what was typed: part of the name, the start of the USCC,
    or the start of the name's pinyin initials (tchf finds 太仓恒丰精密机械)."""
    text = text.strip()
    if not text:
        return query
    conditions = [Enterprise.name.icontains(text, autoescape=True)]
    compact = "".join(text.split())
    if compact.isascii() and compact.isalnum():
        conditions.append(Enterprise.uscc.startswith(compact.upper(), autoescape=True))
        conditions.append(Enterprise.name_initials.startswith(compact.lower(), autoescape=True))
    return query.where(sa.or_(*conditions))


def update_enterprise(enterprise: Enterprise, *, actor: User, name: str, uscc: str, address: str,
                      jurisdiction: Optional[Jurisdiction], industry: str, park: str = "") -> Enterprise:
    """Correct an enterprise's record. The USCC, when given, must be valid and not another
    record's (that is a duplicate to merge); the jurisdiction must be one the actor manages."""
    _check_manages(actor, enterprise)
    code = None
    if uscc.strip():
        try:
            code = normalise_uscc(uscc)
        except InvalidValue as error:
            raise EnterpriseError(error.message, "uscc") from None
        clash = db.session.scalar(sa.select(Enterprise.id)
                                  .where(Enterprise.uscc == code, Enterprise.id != enterprise.id))
        if clash is not None:
            raise EnterpriseError(_l("Another enterprise record has this code: merge the two records instead."),
                                  "uscc")
    _check_jurisdiction(actor, enterprise, jurisdiction)
    enterprise.name, enterprise.uscc, enterprise.address = name.strip(), code, address.strip()
    enterprise.jurisdiction, enterprise.industry, enterprise.park = jurisdiction, industry.strip(), park.strip()
    db.session.commit()
    log.info("enterprise %s updated by %s", enterprise.id, actor.username)
    return enterprise


def _check_jurisdiction(actor: User, enterprise: Enterprise, jurisdiction: Optional[Jurisdiction]) -> None:
    if jurisdiction is None:
        # Staff may leave it unset only while it is unset: they cannot drop it from their area.
        if actor.role is Role.ADMIN or enterprise.jurisdiction_id is None:
            return
        raise EnterpriseError(_l("Please choose a jurisdiction."), "jurisdiction")
    ids = _managed_ids(actor)
    if ids is not None and jurisdiction.id not in ids:
        raise EnterpriseError(_l("This lies outside your jurisdiction."), "jurisdiction")


@dataclass
class MergePlan:
    """What a merge of `duplicate` into `kept` moves and fills, shown before it is confirmed."""

    kept: Enterprise
    duplicate: Enterprise
    requests: int = 0
    pairings: int = 0
    visits: int = 0
    campaign_targets: int = 0
    filled: list[str] = field(default_factory=list)  # FILLED_FIELDS taken from the duplicate


def plan_merge(kept: Enterprise, duplicate: Enterprise, *, actor: User) -> MergePlan:
    """Check that the two records may be merged and count what would move."""
    _check_manages(actor, kept)
    _check_manages(actor, duplicate)
    if kept.id == duplicate.id:
        raise EnterpriseError(_l("A record cannot be merged into itself."))
    if kept.uscc and duplicate.uscc and kept.uscc != duplicate.uscc:
        raise EnterpriseError(_l("The two records have different unified social credit codes: "
                                 "they are not the same company."))

    def count(column) -> int:
        return db.session.scalar(sa.select(sa.func.count(column)).where(column == duplicate.id))

    return MergePlan(
        kept=kept, duplicate=duplicate,
        requests=count(Request.enterprise_id), pairings=count(Pairing.enterprise_id),
        visits=count(visit_enterprises.c.enterprise_id), campaign_targets=count(campaign_targets.c.enterprise_id),
        filled=[name for name in FILLED_FIELDS if not getattr(kept, name) and getattr(duplicate, name)],
    )


def merge_enterprises(kept: Enterprise, duplicate: Enterprise, *, actor: User) -> MergePlan:
    """合并: one company's two records become one. Requests (their tracking links keep
    working), pairings, visits and campaign targets move to `kept`; its empty fields take the
    duplicate's values; the duplicate is deleted. One transaction: all of it or nothing."""
    plan = plan_merge(kept, duplicate, actor=actor)
    kept_id, duplicate_id = kept.id, duplicate.id
    db.session.execute(sa.update(Request).where(Request.enterprise_id == duplicate_id)
                       .values(enterprise_id=kept_id).execution_options(synchronize_session=False))
    _move_pairings(kept_id, duplicate_id)
    for table in (visit_enterprises, campaign_targets):
        _move_links(table, kept_id, duplicate_id)
    filled = {name: getattr(duplicate, name) for name in plan.filled}
    # The duplicate goes first: its USCC is unique and is about to be the kept record's.
    db.session.delete(duplicate)
    db.session.flush()
    for name, value in filled.items():
        setattr(kept, name, value)
    db.session.commit()
    log.info("enterprise %s (%s) merged into %s by %s: %d requests, %d pairings, %d visits, %d campaign targets "
             "moved; filled %s", duplicate_id, plan.duplicate.name, kept_id, actor.username, plan.requests,
             plan.pairings, plan.visits, plan.campaign_targets, ", ".join(plan.filled) or "nothing")
    return plan


def _move_pairings(kept_id: int, duplicate_id: int) -> None:
    """A deputy paired with both records in one campaign keeps one pairing; the kept record's
    lead stays the only lead of its campaign."""
    mine = aliased(Pairing)
    same_pair = sa.exists().where(mine.enterprise_id == kept_id, mine.campaign_id == Pairing.campaign_id,
                                  mine.deputy_id == Pairing.deputy_id)
    db.session.execute(sa.delete(Pairing).where(Pairing.enterprise_id == duplicate_id, same_pair)
                       .execution_options(synchronize_session=False))
    has_lead = sa.exists().where(mine.enterprise_id == kept_id, mine.campaign_id == Pairing.campaign_id, mine.is_lead)
    db.session.execute(sa.update(Pairing).where(Pairing.enterprise_id == duplicate_id, has_lead)
                       .values(is_lead=False).execution_options(synchronize_session=False))
    db.session.execute(sa.update(Pairing).where(Pairing.enterprise_id == duplicate_id)
                       .values(enterprise_id=kept_id).execution_options(synchronize_session=False))


def _move_links(table: sa.Table, kept_id: int, duplicate_id: int) -> None:
    """Re-point an association table's rows (visit or campaign, enterprise); a row the kept
    record already has is dropped instead of doubled."""
    other = next(column.name for column in table.primary_key.columns if column.name != "enterprise_id")
    kept_rows = table.alias("kept_rows")
    already = sa.select(kept_rows.c[other]).where(kept_rows.c.enterprise_id == kept_id)
    db.session.execute(sa.update(table).where(table.c.enterprise_id == duplicate_id, table.c[other].not_in(already))
                       .values(enterprise_id=kept_id))
    db.session.execute(sa.delete(table).where(table.c.enterprise_id == duplicate_id))


def _check_manages(actor: User, enterprise: Enterprise) -> None:
    if not may_manage(actor, enterprise):
        raise OutOfScope(enterprise.id)
