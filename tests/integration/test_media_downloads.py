"""Residents' photos and voice are saved by a scheduled job, not the webhook, before WeChat deletes them."""

from __future__ import annotations

from sqlalchemy import select

from bot.media_store import MediaRun, download_pending_media
from bot.wechat_api import official_account_client
from storage.db import transaction
from storage.models import InboundMessage
from tests.conftest import tickets

ZHANG = "demo-resident-zhang"
JPEG = b"\xff\xd8\xff\xe0photo-of-the-leak\xff\xd9"
AMR = b"#!AMR\nvoice-of-an-elder"


def media_of(factory) -> dict[str, tuple[str | None, int | None]]:
    """media_id -> (media_path, ticket_id) of every inbound photo and voice message."""
    with transaction(factory) as session:
        rows = session.scalars(select(InboundMessage).where(InboundMessage.media_id.is_not(None)))
        return {m.media_id: (m.media_path, m.ticket_id) for m in rows}


def send_photo(wechat, media_id: str) -> str | None:
    response = wechat.post(ZHANG, "image", PicUrl=f"http://mmbiz.qpic.cn/{media_id}", MediaId=media_id)
    return wechat.reply(response)


def run_job(factory, live, clock) -> MediaRun:
    return download_pending_media(factory, live, official_account_client(live, factory), clock())


def test_a_photo_is_saved_and_linked_to_its_ticket(wechat, factory, live, fake_wechat, clock) -> None:
    fake_wechat.add_media("PHOTO_1", JPEG, "image/jpeg", "PHOTO_1.jpg")
    assert "照片已收到" in send_photo(wechat, "PHOTO_1")
    assert fake_wechat.api_calls == 0  # nothing reaches WeChat in the webhook request
    assert run_job(factory, live, clock) == MediaRun(saved=1)
    [ticket] = tickets(factory)
    path = live.delivery.media_dir / "PHOTO_1.jpg"
    assert media_of(factory) == {"PHOTO_1": (str(path), ticket.id)}
    assert path.read_bytes() == JPEG
    assert run_job(factory, live, clock) == MediaRun()  # saved once, not fetched again
    assert fake_wechat.calls["/cgi-bin/media/get"] == 1


def test_a_voice_message_is_saved_too(wechat, factory, live, fake_wechat, clock) -> None:
    fake_wechat.add_media("VOICE_1", AMR, "audio/amr", "VOICE_1.amr")
    wechat.reply(wechat.post(ZHANG, "voice", MediaId="VOICE_1", Format="amr"))
    assert run_job(factory, live, clock) == MediaRun(saved=1)
    assert (live.delivery.media_dir / "VOICE_1.amr").read_bytes() == AMR


def test_a_failed_download_is_retried_on_the_next_run(wechat, factory, live, fake_wechat, clock) -> None:
    fake_wechat.add_media("PHOTO_1", JPEG, "image/jpeg", "PHOTO_1.jpg")
    send_photo(wechat, "PHOTO_1")
    fake_wechat.fail_next(1, -1, path="media/get")
    assert run_job(factory, live, clock) == MediaRun(waiting=1)
    assert media_of(factory)["PHOTO_1"][0] is None
    clock.advance(minutes=1)
    assert run_job(factory, live, clock) == MediaRun(saved=1)


def test_while_wechat_is_unreachable_all_wait(wechat, factory, live, fake_wechat, clock, caplog) -> None:
    for media_id in ("PHOTO_1", "PHOTO_2"):
        fake_wechat.add_media(media_id, JPEG, "image/jpeg", f"{media_id}.jpg")
        send_photo(wechat, media_id)
    client = official_account_client(live, factory)
    client.access_token  # noqa: B018 (the token is shared through the database before WeChat goes down)
    fake_wechat.go_down("refuse")
    assert download_pending_media(factory, live, client, clock()) == MediaRun(waiting=2)
    [stopped] = [r.message for r in caplog.records if r.name == "bot.media_store"]
    assert stopped.startswith("media download stopped, WeChat unreachable")  # once, not once per photo
    fake_wechat.come_back()
    assert download_pending_media(factory, live, client, clock()) == MediaRun(saved=2)


def test_an_unknown_media_id_is_given_up_at_once(wechat, factory, live, fake_wechat, clock) -> None:
    send_photo(wechat, "NEVER_UPLOADED")  # WeChat answers 40007 invalid media_id
    assert run_job(factory, live, clock) == MediaRun(given_up=1)
    assert media_of(factory)["NEVER_UPLOADED"][0] == ""
    assert run_job(factory, live, clock) == MediaRun()
    assert fake_wechat.calls["/cgi-bin/media/get"] == 1


def test_media_older_than_three_days_is_given_up_unasked(wechat, factory, live, fake_wechat, clock) -> None:
    fake_wechat.add_media("PHOTO_1", JPEG, "image/jpeg", "PHOTO_1.jpg")
    send_photo(wechat, "PHOTO_1")
    clock.advance(days=3, seconds=1)  # the job was not running for three days
    assert run_job(factory, live, clock) == MediaRun(given_up=1)
    assert media_of(factory)["PHOTO_1"][0] == ""
    assert fake_wechat.calls["/cgi-bin/media/get"] == 0


def test_in_sandbox_mode_there_is_no_client_and_nothing_happens(wechat, factory, settings, clock) -> None:
    send_photo(wechat, "PHOTO_1")
    assert download_pending_media(factory, settings, None, clock()) == MediaRun()
    assert media_of(factory)["PHOTO_1"][0] is None
