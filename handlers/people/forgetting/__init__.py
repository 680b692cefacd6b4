"""Forgetting a resident on request (PIPL's right to deletion): unbound, their personal data erased.

One module per job: finding (whom to forget, or that they were forgotten before), their_data (what
is theirs, as SQL conditions), erasing (the preview, and forgetting them, leaving a tombstone).
Callers import the names below from the package.
"""

from handlers.people.forgetting.erasing import forget, preview
from handlers.people.forgetting.finding import AlreadyForgotten, ForgetError, find_resident

__all__ = ["AlreadyForgotten", "ForgetError", "find_resident", "forget", "preview"]
