"""Every CLICK key in config/menu.toml, tapped through the webhook, does what its button says."""

from __future__ import annotations

import pytest

from bot.menu import click_keys, load_menu
from config.settings import load_settings
from tests.conftest import tickets

LIU = "demo-resident-liu"
WHAT_EACH_KEY_DOES = {
    "MENU_REPAIR": "【报修】",
    "MENU_BILL": "【缴费】",
    "MENU_MEDICINE": "【买药】",
    "MENU_SOS": "120",
    "MENU_MY_TICKETS": "没有正在办理的工单",
    "MENU_HELP": "回复“我的工单”查看进度",
}


@pytest.mark.parametrize("key", list(click_keys(load_menu(load_settings(environ={}).menu_path))))
def test_each_menu_button_is_handled(wechat, factory, key) -> None:
    assert WHAT_EACH_KEY_DOES[key] in wechat.event(LIU, "CLICK", key)
    assert [t.category for t in tickets(factory)] == (["emergency"] if key == "MENU_SOS" else [])
