"""One-time codes people type (family codes, worker invites): the database keeps only a slow hash.

A code is 8 characters of 32 (about 10^12 of them). SHA-256 alone could be searched through on a GPU
within a code's 24 hours by whoever read a copy of the database or a backup, and an unused invite makes
its finder staff. scrypt over the SHA-256 makes every guess cost 16 MiB and tens of milliseconds; its salt
is fixed because a code is looked up by its hash, and its secrecy is not the point: the cost is.
"""

from __future__ import annotations

import hashlib

# scrypt's cost (N 2**14, r 8: 16 MiB a guess); tests/conftest.py lowers N for the test session.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SALT = b"griddesk one-time code"


def sha256_of(code: str) -> str:
    """SHA-256 of a code upper-cased (codes are typed in either case): what was stored before 0025."""
    return hashlib.sha256(code.upper().encode()).hexdigest()


def slow_hash(digest: str) -> str:
    """scrypt over a code's SHA-256 (migration 0025 applies it to the hashes stored before it)."""
    derived = hashlib.scrypt(
        digest.encode(), salt=SALT, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=64 * 1024 * 1024, dklen=32
    )
    return derived.hex()


def hash_code(code: str) -> str:
    """The stored form of a one-time code."""
    return slow_hash(sha256_of(code))
