"""`run.py wechat family-qr`: an elder's one-time family code as a temporary QR code, on the fake WeChat."""

from __future__ import annotations

from sqlalchemy import select

import run
from handlers.people.family_codes import hash_code
from storage.db import transaction
from storage.models import FamilyCode
from tests.integration.test_official_account_setup import PNG_SIGNATURE


def family_qr(settings, *argv: str) -> int:
    """Run `run.py wechat family-qr ...` in this process with the given settings."""
    args = run.build_parser().parse_args(["wechat", "family-qr", *argv])
    return args.func(settings, args)


def codes(factory) -> list[FamilyCode]:
    with transaction(factory) as session:
        return list(session.scalars(select(FamilyCode)))


def test_the_qr_code_carries_a_one_time_family_code(factory, live, fake_wechat, tmp_path, capsys) -> None:
    png = tmp_path / "zhang-family.png"
    assert family_qr(live, "--address", "3号楼2单元301", "--relation", "女儿", "--out", str(png)) == 0
    out = capsys.readouterr().out
    assert f"{png}: 张秀兰's family code, valid 24 hours, used once" in out
    code = out.split("code: ")[1].strip()
    assert list(fake_wechat.qr_codes) == [f"family:{code}"]
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    [stored] = codes(factory)
    assert (stored.code_hash, stored.relation, stored.used_at) == (hash_code(code), "女儿", None)


def test_a_refusal_keeps_no_code_and_the_sandbox_asks_for_a_live_account(
    factory, settings, live, fake_wechat, tmp_path, capsys
) -> None:
    png = tmp_path / "family.png"
    fake_wechat.fail_next(1, 45009, path="qrcode/create")
    assert family_qr(live, "--address", "3号楼2单元301", "--out", str(png)) == 1
    assert "errcode 45009" in capsys.readouterr().err
    assert codes(factory) == [] and not png.exists()
    assert family_qr(live, "--address", "99号楼101", "--out", str(png)) == 2
    assert "no building 99号楼" in capsys.readouterr().err
    assert family_qr(settings, "--address", "3号楼2单元301", "--out", str(png)) == 2
    assert "this needs a live Official Account" in capsys.readouterr().err
