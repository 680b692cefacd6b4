"""Identity before an elder's record: an address alone never takes over a register entry.

Callers import the names below from the package.
"""

from handlers.claims.codes import (
    CODE_DIGITS,
    check_code,
    claim_entries_after_import,
    code_in,
    confirm_claim,
    has_open_claim,
    issue_code,
    refuse_claim,
    settle_register_entry,
)

__all__ = [
    "CODE_DIGITS",
    "check_code",
    "claim_entries_after_import",
    "code_in",
    "confirm_claim",
    "has_open_claim",
    "issue_code",
    "refuse_claim",
    "settle_register_entry",
]
