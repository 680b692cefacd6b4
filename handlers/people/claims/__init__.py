"""Identity before an elder's record: an address alone never takes over a register entry.

Someone who binds the address of a register entry with personal details (see handlers.register.entries.
needs_proof) is bound to the building and room at once, so their messages reach the right worker, and
makes a claim. The entry (name, phone, check-in, family) becomes theirs only when the worker confirms
("确认绑定 N", from the push the claim sends) or they send a six-digit code the worker got with
"绑定码 <address>". Wrong codes are counted per claim and per code, so codes cannot be guessed.

One module per job: opening (the claim made when a resident binds), worker_answers (确认绑定, 拒绝绑定,
绑定码), codes (the resident's code), proof (the entry changes hands; what the others share).
Callers import the names below from the package.
"""

from handlers.people.claims.codes import CODE_DIGITS, check_code, code_in, has_open_claim
from handlers.people.claims.opening import claim_entries_after_import, settle_register_entry
from handlers.people.claims.worker_answers import confirm_claim, issue_code, refuse_claim

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
