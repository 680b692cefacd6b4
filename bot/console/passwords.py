"""What makes a console password acceptable: long, not a common one, not digits only, not the login."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MIN_DISTINCT = 5
COMMON = Path(__file__).with_name("common_passwords.txt")
_EDGES = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def password_problem(password: str, login: str) -> str | None:
    """Why this password is refused (Chinese, then English), or None when it is fine."""
    lowered = password.lower()
    if len(password) < MIN_LENGTH:
        return f"密码至少需要{MIN_LENGTH}个字符 / the password needs at least {MIN_LENGTH} characters"
    if password.isdigit():
        return "密码不能只有数字(电话、生日很容易被猜到)/ the password cannot be digits only"
    if len(set(lowered)) < MIN_DISTINCT:
        return (
            f"密码里至少要有{MIN_DISTINCT}个不同的字符 / "
            f"the password needs at least {MIN_DISTINCT} different characters"
        )
    login = login.strip().lower()
    if login and login in lowered:
        return "密码不能包含登录名 / the password cannot contain the login name"
    common = common_passwords()
    if lowered in common or _EDGES.sub("", lowered) in common | {""}:
        return "这个密码太常见,很容易被猜到 / the password is too common and easy to guess"
    return None


@cache
def common_passwords() -> frozenset[str]:
    """The refused passwords and words of common_passwords.txt (read once)."""
    lines = (line.strip() for line in COMMON.read_text(encoding="utf-8").splitlines())
    return frozenset(line for line in lines if line and not line.startswith("#"))
