"""Column helpers shared by the model modules."""

import enum
from datetime import datetime, timezone

import sqlalchemy as sa


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL, shown in Asia/Shanghai."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


StrEnum = enum.StrEnum  # members compare equal to, and print as, their stored value


def enum_type(enum_cls: type[enum.Enum], length: int = 24) -> sa.Enum:
    """A portable enum column: VARCHAR holding the member's value, checked by the ORM."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
