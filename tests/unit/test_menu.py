"""config/menu.toml: WeChat's limits, and only CLICK keys the router handles."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.menu import MenuError, click_keys, load_menu
from config.settings import load_settings
from handlers.messages.events import MENU_KEYS

SHIPPED = load_settings(environ={}).menu_path


def test_the_shipped_menu_uses_only_keys_the_router_handles() -> None:
    menu = load_menu(SHIPPED)
    keys = list(click_keys(menu))
    assert set(keys) <= MENU_KEYS
    assert {"MENU_REPAIR", "MENU_BILL", "MENU_MEDICINE", "MENU_SOS", "MENU_MY_TICKETS"} <= set(keys)
    assert len(keys) == len(set(keys))


def test_the_shipped_menu_is_what_wechat_expects() -> None:
    menu = load_menu(SHIPPED)
    assert [button["name"] for button in menu["button"]] == ["我要办事", "紧急求助", "更多"]
    assert menu["button"][1] == {"name": "紧急求助", "type": "click", "key": "MENU_SOS"}
    assert [sub["name"] for sub in menu["button"][0]["sub_button"]] == ["报修", "缴费", "买药"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "menu.toml"
    path.write_text(text, encoding="utf-8")
    return path


CLICK = '[[button]]\ntype = "click"\nname = "报修"\nkey = "MENU_REPAIR"\n'


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ('[[button]]\ntype = "click"\nname = "报修"\nkey = "MENU_REPAIR_TYPO"\n', "MENU_REPAIR_TYPO"),
        (CLICK * 4, "1 to 3"),
        ("", "1 to 3"),
        ('[[button]]\ntype = "click"\nname = "报修报修报修"\nkey = "MENU_REPAIR"\n', "16 bytes"),
        ('[[button]]\nname = "更多"\ntype = "click"\nkey = "MENU_HELP"\nsub_button = []\n', "not both"),
        ('[[button]]\nname = "更多"\nsub_button = []\n', "1 to 5"),
        ('[[button]]\ntype = "view"\nname = "官网"\nurl = "ftp://x"\n', "http"),
        ('[[button]]\ntype = "miniprogram"\nname = "小程序"\n', "'click' or 'view'"),
        ('[[button]]\ntype = "click"\nname = "报修"\nkey = "MENU_REPAIR"\nkye = "x"\n', "kye"),
        ("[[button]\n", "not valid TOML"),
    ],
)
def test_mistakes_are_refused_before_anything_is_sent(tmp_path, text, complaint) -> None:
    with pytest.raises(MenuError, match=complaint.replace("(", r"\(")):
        load_menu(write(tmp_path, text))


def test_a_view_button_and_a_missing_file(tmp_path) -> None:
    menu = load_menu(
        write(tmp_path, '[[button]]\ntype = "view"\nname = "官网"\nurl = "https://example.cn"\n')
    )
    assert menu == {"button": [{"name": "官网", "type": "view", "url": "https://example.cn"}]}
    with pytest.raises(MenuError, match="not found"):
        load_menu(tmp_path / "nothing.toml")
