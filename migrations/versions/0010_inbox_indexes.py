"""The deputy's inbox at a province's scale: his views (addressed to him, his stations', claimed by
him, escalated by him) each read from an index of its own that also carries what a tab filters on
(status and the deadlines), instead of the single-column indexes these replace.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index('ix_requests_addressed_deputy_id_inbox', ['addressed_deputy_id', 'status', 'claim_due_on', 'due_on', 'id'], unique=False)
        batch_op.create_index('ix_requests_station_id_inbox', ['station_id', 'status', 'claim_due_on', 'due_on', 'id'], unique=False)
        batch_op.create_index('ix_requests_claimant_id_inbox', ['claimant_id', 'status', 'claim_due_on', 'due_on', 'id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_requests_addressed_deputy_id'))
        batch_op.drop_index(batch_op.f('ix_requests_station_id'))
        batch_op.drop_index(batch_op.f('ix_requests_claimant_id'))

    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.create_index('ix_request_events_actor_user_id_action', ['actor_user_id', 'action', 'request_id'], unique=False)
        batch_op.drop_index(batch_op.f('ix_request_events_actor_user_id'))


def downgrade():
    with op.batch_alter_table('request_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_request_events_actor_user_id'), ['actor_user_id'], unique=False)
        batch_op.drop_index('ix_request_events_actor_user_id_action')

    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_requests_claimant_id'), ['claimant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_station_id'), ['station_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_requests_addressed_deputy_id'), ['addressed_deputy_id'], unique=False)
        batch_op.drop_index('ix_requests_claimant_id_inbox')
        batch_op.drop_index('ix_requests_station_id_inbox')
        batch_op.drop_index('ix_requests_addressed_deputy_id_inbox')
