"""Forgetting a resident on request (PIPL's right to deletion): unbound, their personal data erased.

Callers import the names below from the package.
"""

from handlers.forgetting.erasing import AlreadyForgotten, ForgetError, find_resident, forget, preview

__all__ = ["AlreadyForgotten", "ForgetError", "find_resident", "forget", "preview"]
