"""Two communities of one street deployment kept apart in everything (issue 17): conversations, photos,
escalations, check-ins, reports, exports, Open311 and the command line. No row of one community shows
up in the other's pushes, pages, files or answers."""

from __future__ import annotations

import json
from pathlib import Path

from bot.street import Street
from tests.conftest import pushes, tickets
from tests.e2e.street_support import HEPING_APPID, webhook
from tests.fakewechat import FakeWeChat
from tests.support import FakeClock, WeChatServer

# The first community's (config/demo.toml) and 和平里's (config/examples/heping.toml) people.
# 5号楼 is 第二网格's (李骁, backed up by 王芳); 3号楼 和平二网格's (吴磊, backed up by 周敏).
LIU, LI, WANG = "demo-resident-liu", "demo-worker-li", "demo-worker-wang"
HE, WU, ZHOU = "heping-resident-he", "heping-worker-wu", "heping-worker-zhou"
STAFF = ("leader-zhao", "worker-wang", "worker-li", "worker-chen", "community-duty")
MAIN_STAFF = {f"demo-{who}" for who in STAFF}
HEPING_STAFF = {f"heping-{who}" for who in ("leader-qian", "worker-zhou", "worker-wu", "community-duty")}
MAIN_LEAK, HEPING_LEAK = "卫生间水管漏水了", "厨房水管漏水了,地上全是水"


def on_wechat(street: Street, slug: str, clock: FakeClock, fake: FakeWeChat) -> WeChatServer:
    """A community's webhook as WeChat calls it; the fake WeChat hears each message (it opens windows)."""
    phone = webhook(street, slug, clock)
    phone.listeners.append(fake.heard)
    return phone


def run_job(street: Street, slug: str, job: str) -> None:
    """Run one of a community's scheduler jobs once, as its scheduler would (bot/scheduler.py)."""
    street.runtime(slug).scheduler.get_job(job).func()


def recipients(street: Street, slug: str) -> set[str]:
    """Everyone a community's outbox has a push for."""
    return {push.recipient for push in pushes(street.runtime(slug).factory)}


def delivered(fake: FakeWeChat, openid: str) -> list[tuple[str, str]]:
    """(the account whose token it came with, its text) of each message the fake delivered to `openid`."""
    return [(sent.appid, json.dumps(sent.payload, ensure_ascii=False)) for sent in fake.sent_to(openid)]


def test_each_community_talks_with_its_own_residents_and_keeps_their_photos_apart(
    live_street: Street, street_wechat: FakeWeChat, clock: FakeClock, tmp_path: Path
) -> None:
    home = on_wechat(live_street, "main", clock, street_wechat)
    heping = on_wechat(live_street, "heping", clock, street_wechat)

    assert "工单号 #1" in home.say(LIU, MAIN_LEAK)
    assert "工单号 #1" in heping.say(HE, HEPING_LEAK)
    street_wechat.add_media("main-photo", b"\xff\xd8\xff\xe0 main's jpeg", "image/jpeg", "a.jpg")
    street_wechat.add_media("heping-photo", b"\xff\xd8\xff\xe0 heping's jpeg", "image/jpeg", "b.jpg")
    home.post(LIU, "image", PicUrl="http://example.invalid/a.jpg", MediaId="main-photo")
    heping.post(HE, "image", PicUrl="http://example.invalid/b.jpg", MediaId="heping-photo")

    mine = home.say(LIU, "我的工单")
    theirs = heping.say(HE, "我的工单")
    assert "1个正在办理" in mine and "网格员李骁" in mine and "吴磊" not in mine
    assert "1个正在办理" in theirs and "网格员吴磊" in theirs and "李骁" not in theirs

    for slug in ("main", "heping"):
        run_job(live_street, slug, "media-downloads")
    media = tmp_path / "media"
    assert (media / "main-photo.jpg").read_bytes().endswith(b"main's jpeg")
    assert (media / "heping" / "heping-photo.jpg").read_bytes().endswith(b"heping's jpeg")
    assert sorted(p.name for p in media.rglob("*.jpg")) == ["heping-photo.jpg", "main-photo.jpg"]
    main_ticket, heping_ticket = (
        tickets(live_street.runtime("main").factory),
        tickets(live_street.runtime("heping").factory),
    )
    assert [t.assignee.name for t in main_ticket] == ["李骁"]
    assert [t.assignee.name for t in heping_ticket] == ["吴磊"]

    # Each worker closes their own community's #1, and each resident rates their own.
    assert "已签收工单 #1" in home.say(LI, "签收 1")
    assert "已签收工单 #1" in heping.say(WU, "签收 1")
    assert "已请居民评价" in home.say(LI, "办结 1 阀门已更换")
    assert "已请居民评价" in heping.say(WU, "办结 1 水管已修好")
    assert "感谢您的评价" in home.say(LIU, "1")
    assert "已重新交给吴磊处理" in heping.say(HE, "3")
    [main_done] = tickets(live_street.runtime("main").factory)
    [heping_done] = tickets(live_street.runtime("heping").factory)
    assert (main_done.status, main_done.rating) == ("closed", 1)
    assert (heping_done.status, heping_done.assignee.name) == ("reopened", "吴磊")  # unsatisfied
    assert recipients(live_street, "main").isdisjoint(HEPING_STAFF | {HE})
    assert recipients(live_street, "heping").isdisjoint(MAIN_STAFF | {LIU})


def test_each_community_escalates_to_its_own_staff_through_its_own_account(
    live_street: Street, street_wechat: FakeWeChat, clock: FakeClock
) -> None:
    home = on_wechat(live_street, "main", clock, street_wechat)
    heping = on_wechat(live_street, "heping", clock, street_wechat)
    home.say(LIU, MAIN_LEAK)
    heping.say(HE, HEPING_LEAK)

    clock.advance(hours=3)  # nobody signed for either repair
    for slug in ("main", "heping"):
        run_job(live_street, slug, "deadline-sweep")
    main_pushes, heping_pushes = (pushes(live_street.runtime(s).factory) for s in ("main", "heping"))
    # Unsigned: each ticket climbs to its own community's AB岗 backup.
    assert [p.recipient for p in main_pushes if p.kind == "escalation"] == [WANG]
    assert [p.recipient for p in heping_pushes if p.kind == "escalation"] == [ZHOU]
    assert recipients(live_street, "main").isdisjoint(HEPING_STAFF | {HE})
    assert recipients(live_street, "heping").isdisjoint(MAIN_STAFF | {LIU})

    for slug in ("main", "heping"):
        run_job(live_street, slug, "dispatch-outbox")
    to_wang, to_zhou = delivered(street_wechat, WANG), delivered(street_wechat, ZHOU)
    assert [appid for appid, text in to_wang if "升级督办" in text] == [street_wechat.appid]
    assert [appid for appid, text in to_zhou if "升级督办" in text] == [HEPING_APPID]
    assert any("5号楼" in text for _, text in to_wang) and not any("3号楼" in text for _, text in to_wang)
    assert any("3号楼" in text for _, text in to_zhou) and not any("5号楼" in text for _, text in to_zhou)
    # Every message of each community went with its own account's token: the workers' new tickets too.
    by_account = {s.to: s.appid for s in street_wechat.sent}
    assert {by_account[o] for o in by_account if o.startswith("demo-")} == {street_wechat.appid}
    assert {by_account[o] for o in by_account if o.startswith("heping-")} == {HEPING_APPID}
