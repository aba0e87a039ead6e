"""All models, importable from one place (and registered with the metadata for migrations)."""

from .base import utcnow
from .people import Deputy, DeputyKind, Department, Enterprise, Role, User, station_deputies
from .places import Grid, Jurisdiction, Level, Station, StationKind
from .qr import Placement, QRCode, new_qr_token
from .requests import (
    Attachment,
    Category,
    Channel,
    Outcome,
    Rating,
    ReferenceCounter,
    Request,
    RequestEvent,
    RequestKind,
)
from .visits import Activity, ActivityKind, Pairing, Visit, VisitCampaign, VisitForm

__all__ = [
    "Activity", "ActivityKind", "Attachment", "Category", "Channel", "Department", "Deputy",
    "DeputyKind", "Enterprise", "Grid", "Jurisdiction", "Level", "Outcome", "Pairing", "Placement",
    "QRCode", "Rating", "ReferenceCounter", "Request", "RequestEvent", "RequestKind", "Role",
    "Station", "StationKind", "User", "Visit", "VisitCampaign", "VisitForm", "new_qr_token",
    "station_deputies", "utcnow",
]
