"""State every process shares: access tokens, scheduler leases, generated secrets, request counts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class AccessToken(Base):
    """A WeChat or WeCom access token shared by every process, and who may refresh it right now."""

    __tablename__ = "access_tokens"

    # e.g. "mp:<appid>" or "wecom:<corp_id>:<agent_id>".
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    token: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    # Only the process whose lease this is may fetch a new token; the others wait and read it.
    refresh_owner: Mapped[str | None] = mapped_column(String(64))
    refresh_until: Mapped[datetime | None]
    fetched_at: Mapped[datetime | None]
    fetches: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SchedulerLease(Base):
    """Which scheduler process runs a job right now: a lease that runs out on its own if the process dies."""

    __tablename__ = "scheduler_leases"

    # The job's id, e.g. "deadline-sweep".
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    lease_until: Mapped[datetime]


class AppSecret(Base):
    """A secret generated once and shared by every process, e.g. the console's session key."""

    __tablename__ = "app_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class RequestCount(Base):
    """Requests one client made in its current one-minute window, shared by every web process."""

    __tablename__ = "request_counts"

    # "open311:<client>".
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_started_at: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer, default=0)


class AccountCapability(Base):
    """What the Official Account may do, as WeChat's answers showed (48001: no permission for that API)."""

    __tablename__ = "account_capabilities"

    # "customer_service", "template" or "subscription"; "template:<id>" for one template WeChat does not know.
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    available: Mapped[bool] = mapped_column(Boolean)
    errcode: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(200))
    discovered_at: Mapped[datetime]
