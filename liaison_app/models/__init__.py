"""All models, importable from one place (and registered with the metadata for migrations)."""

from .accounts import PasswordReset
from .base import utcnow
from .calendar import CalendarDay
from .notifications import (
    DeadlineNotice, Notification, NotificationChannel, NotificationKind, NotificationPreference, NotificationStatus,
    Robot, RobotProvider, SmsCode,
)
from .people import Deputy, DeputyKind, Department, Enterprise, Role, User, station_deputies
from .places import Grid, Jurisdiction, Level, Station, StationKind
from .qr import Placement, QRCode, QRScanDay, new_qr_token
from .requests import (
    Attachment,
    Category,
    Channel,
    INTAKE_CHANNELS,
    PhoneRating,
    RATING_LABELS,
    Outcome,
    Rating,
    ReferenceCounter,
    Request,
    RequestCase,
    RequestEvent,
    RequestKind,
    title_from,
)
from .snapshots import DashboardSnapshot
from .visits import (
    Activity, ActivityKind, Pairing, ReceptionDay, TargetKind, Visit, VisitCampaign, VisitForm, VisitPhoto,
    reception_duties,
)

__all__ = [
    "RATING_LABELS", "Activity", "ActivityKind", "Attachment", "CalendarDay", "Category", "DashboardSnapshot", "Channel", "Department", "Deputy",
    "DeputyKind", "Enterprise", "Grid", "Jurisdiction", "Level", "Notification", "NotificationKind",
    "NotificationStatus", "Outcome", "Pairing", "PasswordReset", "Placement",
    "ReceptionDay", "TargetKind", "VisitPhoto", "reception_duties",
    "QRCode", "QRScanDay", "Rating", "ReferenceCounter", "Request", "RequestCase", "RequestEvent", "RequestKind", "Role",
    "Station", "StationKind", "User", "Visit", "VisitCampaign", "VisitForm", "new_qr_token", "title_from",
    "station_deputies", "utcnow", "DeadlineNotice", "NotificationChannel", "NotificationPreference", "Robot",
    "RobotProvider", "SmsCode", "INTAKE_CHANNELS", "PhoneRating",
]
