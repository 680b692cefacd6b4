"""`run.py wechat menu` and `run.py wechat qrcodes` against the fake WeChat."""

from __future__ import annotations

import struct

import run
from bot.menu import load_menu
from tests.integration.conftest import live_settings

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def wechat(settings, *argv: str) -> int:
    """Run `run.py wechat ...` in this process with the given settings."""
    args = run.build_parser().parse_args(["wechat", *argv])
    return args.func(settings, args)


def test_the_menu_is_published_as_configured(factory, live, fake_wechat, capsys) -> None:
    assert wechat(live, "menu") == 0
    assert fake_wechat.menu == load_menu(live.menu_path)
    assert "menu published: 我要办事 | 紧急求助 | 更多" in capsys.readouterr().out


def test_a_menu_wechat_refuses_prints_its_errcode(factory, live, fake_wechat, capsys) -> None:
    fake_wechat.fail_next(1, 40018, path="menu/create")
    assert wechat(live, "menu") == 1
    assert "errcode 40018, errmsg injected failure" in capsys.readouterr().err
    assert fake_wechat.menu is None


def test_without_a_live_official_account_nothing_is_sent(factory, settings, fake_wechat, capsys) -> None:
    assert wechat(settings, "menu") == wechat(settings, "qrcodes") == 2
    assert capsys.readouterr().err.count("this needs a live Official Account") == 2
    assert fake_wechat.api_calls == 0
    assert wechat(settings, "menu", "--dry-run") == 0
    assert '"key": "MENU_SOS"' in capsys.readouterr().out


def test_a_bad_menu_file_is_reported_before_wechat_is_asked(factory, tmp_path, fake_wechat, capsys) -> None:
    menu = tmp_path / "menu.toml"
    menu.write_text('[[button]]\ntype = "click"\nname = "报修"\nkey = "REPAIR"\n', encoding="utf-8")
    settings = live_settings(tmp_path, fake_wechat, GRIDDESK_PATHS_MENU=str(menu))
    assert wechat(settings, "menu") == 2
    assert "key 'REPAIR' is not one GridDesk handles" in capsys.readouterr().err
    assert fake_wechat.api_calls == 0


def test_each_building_gets_a_permanent_code_and_a_png(factory, live, fake_wechat, tmp_path) -> None:
    out = tmp_path / "qrcodes"
    assert wechat(live, "qrcodes", "--out", str(out)) == 0
    names = [f"{n}号楼" for n in range(1, 9)]
    assert sorted(fake_wechat.qr_codes) == sorted(f"building:{name}" for name in names)
    pngs = {path.stem: path.read_bytes() for path in out.iterdir()}
    assert sorted(pngs) == sorted(names)
    assert all(png.startswith(PNG_SIGNATURE) and 500 < len(png) < 100_000 for png in pngs.values())
    # IHDR width and height: square, and big enough to print (20 pixels a module).
    sizes = {struct.unpack(">II", png[16:24]) for png in pngs.values()}
    assert all(width == height and 600 <= width <= 2000 for width, height in sizes)
    assert len(set(pngs.values())) == len(names)  # each code carries its own URL


def test_one_building_can_be_redone_and_unknown_ones_are_refused(
    factory, live, fake_wechat, tmp_path, capsys
) -> None:
    out = tmp_path / "qrcodes"
    assert wechat(live, "qrcodes", "--out", str(out), "--building", "3号楼") == 0
    assert [path.name for path in out.iterdir()] == ["3号楼.png"]
    assert f"3号楼  {out / '3号楼.png'}  {fake_wechat.qr_codes['building:3号楼']}" in capsys.readouterr().out
    assert wechat(live, "qrcodes", "--out", str(out), "--building", "99号楼") == 2
    assert "unknown building: 99号楼" in capsys.readouterr().err


def test_wechat_being_down_is_a_clear_error(factory, live, fake_wechat, tmp_path, capsys) -> None:
    fake_wechat.go_down("5xx")
    assert wechat(live, "qrcodes", "--out", str(tmp_path / "qrcodes")) == 1
    assert "WeChat refused: HTTP 503" in capsys.readouterr().err
