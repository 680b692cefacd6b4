"""The Open311 GeoReport v2 API (/open311/v2): our public categories as services, tickets as requests."""

from bot.open311.api import make_open311

__all__ = ["make_open311"]
