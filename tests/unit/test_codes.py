"""One-time codes are kept as scrypt over their SHA-256: searching a copied database's codes costs a guess
16 MiB and tens of milliseconds, and a hash stored before 0025 is turned into today's without the code."""

from __future__ import annotations

import hashlib

from storage import codes
from tests.conftest import PRODUCTION_SCRYPT_N, TEST_SCRYPT_N


def test_production_hashes_codes_with_scrypt_at_16_mib_a_guess() -> None:
    assert (PRODUCTION_SCRYPT_N, codes.SCRYPT_R) == (2**14, 8)  # 128 * N * r bytes = 16 MiB
    assert codes.SCRYPT_N == TEST_SCRYPT_N  # the tests' session runs cheaper (tests/conftest.py)


def test_a_code_s_hash_is_neither_its_sha256_nor_case_sensitive() -> None:
    stored = codes.hash_code("k7m2q9px")
    assert stored == codes.hash_code("K7M2Q9PX")
    assert stored != hashlib.sha256(b"K7M2Q9PX").hexdigest()
    assert len(stored) == 64  # the columns' width


def test_a_hash_stored_before_the_upgrade_becomes_today_s_without_the_code() -> None:
    before = hashlib.sha256(b"K7M2Q9PX").hexdigest()  # what 0017 and 0023 stored
    assert codes.slow_hash(before) == codes.hash_code("k7m2q9px")
