"""SQLAlchemy 2.0 typed models: the community, its residents, tickets, messages and the outbox."""

# Importing the package maps every model, so Base.metadata (Alembic's env, autogenerate, the schema
# test) sees every table; importers name the models from here.
from storage.models.audit import AuditEvent
from storage.models.base import Base, UTCDateTime
from storage.models.binding import BindingClaim, WorkerInvite
from storage.models.care import CheckIn, Visit
from storage.models.community import Building, FamilyContact, Grid, Resident, Worker
from storage.models.console import ConsoleLink, ConsoleSession, SigninThrottle, StaffAccount
from storage.models.family import FamilyCode, FamilyFollower
from storage.models.messages import (
    CustomerServiceWindow,
    InboundMessage,
    OutboxMessage,
    StaffSend,
    WebhookNonce,
)
from storage.models.notices import Notice, NoticeDelivery, notice_buildings
from storage.models.shared import AccessToken, AccountCapability, AppSecret, RequestCount, SchedulerLease
from storage.models.street import CommunityRecord
from storage.models.subscriptions import SubscriptionConsent
from storage.models.tickets import Ticket, TicketEvent

__all__ = [
    "AccessToken",
    "AccountCapability",
    "AppSecret",
    "AuditEvent",
    "Base",
    "BindingClaim",
    "Building",
    "CheckIn",
    "CommunityRecord",
    "ConsoleLink",
    "ConsoleSession",
    "CustomerServiceWindow",
    "FamilyCode",
    "FamilyContact",
    "FamilyFollower",
    "Grid",
    "InboundMessage",
    "Notice",
    "NoticeDelivery",
    "OutboxMessage",
    "RequestCount",
    "Resident",
    "SchedulerLease",
    "SigninThrottle",
    "StaffAccount",
    "StaffSend",
    "SubscriptionConsent",
    "Ticket",
    "TicketEvent",
    "UTCDateTime",
    "Visit",
    "WebhookNonce",
    "Worker",
    "WorkerInvite",
    "notice_buildings",
]
