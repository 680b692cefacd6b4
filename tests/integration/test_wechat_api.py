"""wechatpy's clients against the fake WeChat: media downloads, menus, QR codes, and token rules."""

from __future__ import annotations

import pytest
from wechatpy.exceptions import WeChatClientException

from bot.media_store import download_media
from bot.wechat_api import OfficialAccountClient, official_account_client, wecom_client
from tests.fakewechat import MEDIA_SECONDS

JPEG = b"\xff\xd8\xff\xe0photo-of-the-leak\xff\xd9"
AMR = b"#!AMR\nvoice-of-an-elder"


def test_photos_and_voice_are_saved_before_wechat_deletes_them(factory, live, fake_wechat) -> None:
    fake_wechat.add_media("PHOTO_1", JPEG, "image/jpeg", "PHOTO_1.jpg")
    fake_wechat.add_media("VOICE_1", AMR, "audio/amr", "VOICE_1.amr")
    client = official_account_client(live, factory)
    photo = download_media(client, "PHOTO_1", live.delivery.media_dir)
    voice = download_media(client, "VOICE_1", live.delivery.media_dir)
    assert (photo.name, photo.read_bytes()) == ("PHOTO_1.jpg", JPEG)
    assert (voice.name, voice.read_bytes()) == ("VOICE_1.amr", AMR)
    assert sorted(p.name for p in live.delivery.media_dir.iterdir()) == ["PHOTO_1.jpg", "VOICE_1.amr"]


def test_a_file_name_comes_from_the_content_type_when_wechat_gives_none(factory, live, fake_wechat) -> None:
    fake_wechat.add_media("weird/../id", JPEG, "image/png", "noext")
    path = download_media(official_account_client(live, factory), "weird/../id", live.delivery.media_dir)
    assert path.parent == live.delivery.media_dir and path.suffix == ".png" and ".." not in path.name


def test_media_older_than_three_days_is_gone(factory, live, fake_wechat, tmp_path) -> None:
    fake_wechat.add_media("PHOTO_1", JPEG, "image/jpeg", "PHOTO_1.jpg")
    client = official_account_client(live, factory)
    client.access_token  # noqa: B018 (fetch the token before time moves on)
    fake_wechat.advance(MEDIA_SECONDS + 1)  # the token has expired too: it is replaced on the way
    with pytest.raises(WeChatClientException) as caught:
        download_media(client, "PHOTO_1", tmp_path / "media")
    assert caught.value.errcode == 40007 and fake_wechat.token_fetches == 2
    assert not (tmp_path / "media").exists() or not list((tmp_path / "media").iterdir())


def test_menus_and_qr_codes_are_created(factory, live, fake_wechat) -> None:
    client = official_account_client(live, factory)
    menu = {"button": [{"type": "click", "name": "报修", "key": "MENU_REPAIR"}]}
    assert client.menu.create(menu)["errcode"] == 0
    with pytest.raises(WeChatClientException):
        client.menu.create({"button": []})
    qr = client.qrcode.create(
        {"action_name": "QR_LIMIT_STR_SCENE", "action_info": {"scene": {"scene_str": "G1"}}}
    )
    assert qr["url"].startswith("http://weixin.qq.com/q/")


def test_a_classic_token_fetch_knocks_out_the_previous_token_and_a_stable_one_does_not(fake_wechat) -> None:
    fake_wechat.user_wrote("o-someone")

    def client(stable: bool) -> OfficialAccountClient:
        return OfficialAccountClient(
            fake_wechat.appid, fake_wechat.secret, fake_wechat.mp_base_url, stable=stable
        )

    first, second = client(stable=False), client(stable=False)
    first.access_token, second.access_token  # noqa: B018
    with pytest.raises(WeChatClientException) as caught:
        first.message.send_text("o-someone", "你好")
    assert caught.value.errcode == 40001
    first, second = client(stable=True), client(stable=True)
    assert first.access_token == second.access_token
    first.message.send_text("o-someone", "你好")


def test_wrong_credentials_are_refused(fake_wechat) -> None:
    wrong = OfficialAccountClient(fake_wechat.appid, "not-the-secret", fake_wechat.mp_base_url)
    with pytest.raises(WeChatClientException) as caught:
        wrong.fetch_token()
    assert caught.value.errcode == 40125


def test_wecom_hands_out_the_same_token_until_it_expires(factory, live, fake_wechat) -> None:
    first, second = wecom_client(live, None), wecom_client(live, None)
    assert first.fetch_token()[0] == second.fetch_token()[0]
    assert fake_wechat.wecom_token_fetches == 2
