"""The custom menu (自定义菜单): read from config/menu.toml, checked, and published with menu/create."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from bot.wechat_api import OfficialAccountClient, call_with_fresh_token
from handlers.messages.events import MENU_KEYS

# WeChat's limits (bytes of UTF-8): a Chinese character is 3 bytes.
MAX_BUTTONS, MAX_SUB_BUTTONS = 3, 5
MAX_NAME_BYTES, MAX_SUB_NAME_BYTES = 16, 60
MAX_URL_BYTES = 1024
FIELDS = frozenset({"type", "name", "key", "url", "sub_button"})

Menu = dict[str, list[dict[str, Any]]]


class MenuError(ValueError):
    """The menu file is missing, not TOML, or breaks WeChat's or the router's rules."""


def load_menu(path: Path) -> Menu:
    """The menu in `path` as menu/create's JSON; MenuError for anything WeChat or the router would refuse."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise MenuError(f"menu file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MenuError(f"{path} is not valid TOML: {exc}") from exc
    buttons = data.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= MAX_BUTTONS:
        raise MenuError(f"{path}: the menu needs 1 to {MAX_BUTTONS} [[button]] entries")
    return {"button": [_button(entry, f"button {n}", MAX_NAME_BYTES) for n, entry in enumerate(buttons, 1)]}


def click_keys(menu: Menu) -> Iterator[str]:
    """Every CLICK key in the menu, sub-buttons included."""
    for button in menu["button"]:
        for item in [button, *button.get("sub_button", [])]:
            if item.get("type") == "click":
                yield item["key"]


def publish_menu(client: OfficialAccountClient, menu: Menu) -> None:
    """Replace the Official Account's menu (POST /cgi-bin/menu/create)."""
    call_with_fresh_token(client, lambda: client.menu.create(menu))


def _button(entry: Any, where: str, max_name_bytes: int) -> dict[str, Any]:
    """One checked button (with its checked sub-buttons)."""
    if not isinstance(entry, Mapping):
        raise MenuError(f"{where}: expected a table")
    unknown = set(entry) - FIELDS
    if unknown:
        raise MenuError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name or len(name.encode()) > max_name_bytes:
        raise MenuError(f"{where}: name must be 1 to {max_name_bytes} bytes, got {name!r}")
    where = f"{where} ({name})"
    if "sub_button" in entry:
        return {"name": name, "sub_button": _sub_buttons(entry, where)}
    return {"name": name, **_action(entry, where)}


def _sub_buttons(entry: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    subs = entry["sub_button"]
    if "type" in entry:
        raise MenuError(f"{where}: a button opens sub-buttons or has a type, not both")
    if not isinstance(subs, list) or not 1 <= len(subs) <= MAX_SUB_BUTTONS:
        raise MenuError(f"{where}: 1 to {MAX_SUB_BUTTONS} sub-buttons")
    checked = [_button(sub, f"{where} sub-button {n}", MAX_SUB_NAME_BYTES) for n, sub in enumerate(subs, 1)]
    if any("sub_button" in sub for sub in checked):
        raise MenuError(f"{where}: sub-buttons cannot open sub-buttons")
    return checked


def _action(entry: Mapping[str, Any], where: str) -> dict[str, str]:
    """What a button does: a CLICK key the router handles, or a web page to open."""
    kind = entry.get("type")
    if kind == "click":
        key = entry.get("key")
        if not isinstance(key, str) or key not in MENU_KEYS:
            known = ", ".join(sorted(MENU_KEYS))
            raise MenuError(f"{where}: key {key!r} is not one GridDesk handles ({known})")
        return {"type": "click", "key": key}
    if kind == "view":
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MenuError(f"{where}: a view button needs an http(s) url")
        if len(url.encode()) > MAX_URL_BYTES:
            raise MenuError(f"{where}: url longer than {MAX_URL_BYTES} bytes")
        return {"type": "view", "url": url}
    raise MenuError(f"{where}: type must be 'click' or 'view', got {kind!r}")
