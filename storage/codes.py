"""One-time codes people type (family codes, worker invites): the database keeps only their hash."""

from __future__ import annotations

import hashlib


def hash_code(code: str) -> str:
    """The stored form of a one-time code: SHA-256 of it upper-cased, as codes are typed in either case."""
    return hashlib.sha256(code.upper().encode()).hexdigest()
