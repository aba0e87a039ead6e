"""Deadline changes on the trail: the event that set or moved a deadline (认领期限, 答复期限,
评价期限) keeps which one and its dates before and after, so that none changes silently.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 14:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deadline', sa.Enum('claim', 'acknowledge', 'response', 'rating', name='deadline', native_enum=False, length=16), nullable=True))
        batch_op.add_column(sa.Column('due_before', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('due_after', sa.Date(), nullable=True))


def downgrade():
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.drop_column('due_after')
        batch_op.drop_column('due_before')
        batch_op.drop_column('deadline')
