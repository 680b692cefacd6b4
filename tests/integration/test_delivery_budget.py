"""A resident's customer-service budget: 5 messages within 48 hours of their message, planned, not guessed.

The fake WeChat enforces WeChat's limits (5 customer-service messages after a user's message, 3 within a
minute after a tap; 45015, 45047, 48001) and learns of every message the tests post to the webhook. The
real dispatcher sends through it: what WeChat would refuse is never sent, and nothing is lost.
"""

from __future__ import annotations

from sqlalchemy import select
from wechatpy.exceptions import WeChatClientException

from bot.channels import build_messenger
from bot.dispatcher import dispatch_due
from bot.simulator import message_xml
from bot.wechat_api import official_account_client
from config.settings import DispatcherSettings
from storage.db import transaction
from storage.models import AccountCapability, CustomerServiceWindow, OutboxMessage, Resident
from storage.outbox import queue_push
from storage.windows import window_open
from tests.cli import run_in_process
from tests.conftest import pushes
from tests.fakewechat import FakeWeChat
from tests.integration.conftest import TEMPLATE_IDS, dispatchers_side_by_side, live_env, live_settings

POLICY = DispatcherSettings(
    interval_seconds=2, batch_size=50, max_attempts=5, backoff_seconds=10, lease_seconds=60
)
ZHANG, WANG = "demo-resident-zhang", "demo-worker-wang"
NOTES = [
    "已联系物业",
    "物业说配件明天到",
    "配件已到,师傅在路上",
    "师傅已上门",
    "正在更换阀门",
    "阀门已换好,在试水",
]


def read_by(fake: FakeWeChat, openid: str) -> list[str]:
    """Everything one user read from the account's pushes: customer-service texts and template fields."""
    texts = []
    for sent in fake.sent_to(openid):
        if sent.api == "custom":
            texts.append(sent.payload["text"]["content"])
        else:
            texts.append(" ".join(field["value"] for field in sent.payload["data"].values()))
    return texts


def resident_rows(factory) -> list[OutboxMessage]:
    """Every push to 张秀兰, oldest first."""
    return [row for row in pushes(factory) if row.recipient == ZHANG]


def test_the_fake_allows_5_after_a_message_3_within_a_minute_after_a_tap_and_none_later(
    factory, live, fake_wechat
) -> None:
    client = official_account_client(live, factory)

    def send(openid: str) -> int:
        try:
            client.message.send_text(openid, "您好")
        except WeChatClientException as exc:
            return int(exc.errcode)
        return 0

    fake_wechat.heard(message_xml("o-writer", "text", {"Content": "你好"}))
    assert [send("o-writer") for _ in range(6)] == [0, 0, 0, 0, 0, 45047]
    fake_wechat.heard(message_xml("o-tapper", "event", {"Event": "CLICK", "EventKey": "MENU_HELP"}))
    assert [send("o-tapper") for _ in range(4)] == [0, 0, 0, 45047]
    fake_wechat.heard(message_xml("o-late", "event", {"Event": "CLICK", "EventKey": "MENU_HELP"}))
    fake_wechat.advance(61)
    assert send("o-late") == 45015  # a tap's minute is over
    fake_wechat.user_wrote("o-old", seconds_ago=48 * 3600 + 1)
    assert send("o-old") == 45015
    fake_wechat.customer_service = False
    assert send("o-writer") == 48001


def test_a_tickets_whole_life_stays_within_5_sends_and_loses_nothing(
    wechat, factory, clock, live, fake_wechat, delivery_report
) -> None:
    messenger = build_messenger(live, factory, clock)
    results = []

    def dispatch() -> None:
        results.append(dispatch_due(factory, messenger, POLICY, clock()))
        clock.advance(seconds=30)
        fake_wechat.advance(30)

    receipt = wechat.say(ZHANG, "卫生间水管漏水了")  # the receipt is the passive reply: it spends no send
    assert "#1" in (receipt or "")
    dispatch()
    wechat.say(WANG, "签收 1")
    dispatch()
    wechat.say(WANG, f"进度 1 {NOTES[0]}")
    dispatch()
    for note in NOTES[1:4]:  # three notes before the dispatcher runs again: more than the sends left
        wechat.say(WANG, f"进度 1 {note}")
    dispatch()
    wechat.say(WANG, f"进度 1 {NOTES[4]}")
    dispatch()
    wechat.say(WANG, f"进度 1 {NOTES[5]}")  # only the window's last send is left: kept
    dispatch()
    wechat.say(WANG, "办结 1 阀门已更换")
    dispatch()
    dispatch()

    read = read_by(fake_wechat, ZHANG)
    custom = fake_wechat.custom_sends(ZHANG)
    # Nothing WeChat refused (45015, 45047), and 5 customer-service messages within her window.
    assert fake_wechat.refused == []
    assert len(custom) == 5 and custom[-1].at - custom[0].at < 48 * 3600
    assert "已由网格员王芳签收" in read[0] and "请为这次服务评价" in read[-1]
    assert any(text.startswith("【工单消息】您有3条新消息") for text in read)  # three notes, one send
    # The last note waits for her next message, which costs nothing and says so.
    rows = resident_rows(factory)
    assert [row.status for row in rows if row.status == "held"] == ["held"]
    thanks = wechat.say(ZHANG, "1")
    assert "感谢您的评价" in (thanks or "") and "您有1条工单进展未读,回复“我的工单”查看。" in (thanks or "")
    mine = wechat.say(ZHANG, "我的工单") or ""
    assert NOTES[5] in mine and "未读的工单进展(1条)" in mine
    # Every note reached her: in its own message, in the folded one, or in 我的工单's answer.
    for note in NOTES:
        assert any(note in text for text in [*read, mine]), note
    rows = resident_rows(factory)
    assert {row.status for row in rows} == {"sent", "folded", "shown"}
    sent_ids = {row.id for row in rows if row.status == "sent"}
    assert all(row.folded_into in sent_ids for row in rows if row.status == "folded")
    assert "未读" not in (wechat.say(ZHANG, "谢谢") or "")  # told once read
    delivery_report.append(
        f"a ticket's whole life to one resident (signed for, {len(NOTES)} progress notes, resolved, rating "
        f"request): {len(rows)} pushes owed, {len(custom)} customer-service messages sent (WeChat allows 5 "
        f"in 48 h), {sum(r.status == 'folded' for r in rows)} folded into one, "
        f"{sum(r.status == 'shown' for r in rows)} held and read in 我的工单, refused by WeChat "
        f"{len(fake_wechat.refused)}, lost 0"
    )


def test_signed_for_is_not_sent_once_the_ticket_is_resolved(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    dispatch_due(factory, messenger, POLICY, clock())
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "办结 1 阀门已更换")  # before the dispatcher ran: "signed for" is old news
    result = dispatch_due(factory, messenger, POLICY, clock())
    assert result.superseded == 1
    read = read_by(fake_wechat, ZHANG)
    assert len(read) == 1 and "已办结" in read[0] and "签收" not in read[0]
    assert [(row.kind, row.status) for row in resident_rows(factory)] == [
        ("acknowledged", "superseded"),
        ("rating_request", "sent"),
    ]


def test_other_code_can_ask_how_many_sends_a_window_has_left(
    wechat, factory, clock, live, fake_wechat
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    with transaction(factory) as session:
        assert window_open(session, ZHANG, clock()) == 5
        assert window_open(session, "o-never-wrote", clock()) == 0
    wechat.say(WANG, "签收 1")
    dispatch_due(factory, build_messenger(live, factory, clock), POLICY, clock())
    with transaction(factory) as session:
        assert window_open(session, ZHANG, clock()) == 4
    clock.advance(hours=48)
    with transaction(factory) as session:
        assert window_open(session, ZHANG, clock()) == 0


def test_two_dispatchers_share_one_residents_window(tmp_path, wechat, factory, clock, fake_wechat) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    with transaction(factory) as session:
        zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        for n in range(10):  # receipts: never folded or held, so each needs a send of its own
            queue_push(session, clock(), kind="reply", text=f"您发来的第{n}条消息已处理", resident=zhang)
    policies = (DispatcherSettings(1, 3, 3, 10, 60), DispatcherSettings(1, 50, 3, 10, 60))
    results = dispatchers_side_by_side(live_env(tmp_path, fake_wechat), clock, policies)
    assert sum(r.sent for r in results) == 11  # ten receipts and the worker's new ticket
    # Five customer-service messages between them, the rest as templates, none refused.
    assert len(fake_wechat.custom_sends(ZHANG)) == 5 and fake_wechat.refused == []
    assert [s.api for s in fake_wechat.sent_to(ZHANG)].count("template") == 5


def test_a_48001_answer_is_kept_and_customer_service_messages_are_not_tried_again(
    tmp_path, wechat, factory, clock, fake_wechat
) -> None:
    fake_wechat.customer_service = False  # a personal-subject account
    settings = live_settings(tmp_path, fake_wechat)
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    assert dispatch_due(factory, build_messenger(settings, factory, clock), POLICY, clock()).sent == 2
    assert fake_wechat.calls["/cgi-bin/message/custom/send"] == 1  # tried once, refused with 48001
    with transaction(factory) as session:
        [known] = session.scalars(select(AccountCapability)).all()
        assert (known.name, known.available, known.errcode) == ("customer_service", False, 48001)
    # Another process, started later, reads it and does not try.
    wechat.say(WANG, "进度 1 已联系物业")
    assert dispatch_due(factory, build_messenger(settings, factory, clock), POLICY, clock()).sent == 1
    assert fake_wechat.calls["/cgi-bin/message/custom/send"] == 1
    assert [s.api for s in fake_wechat.sent_to(ZHANG)] == ["template", "template"]
    status = run_in_process(live_env(tmp_path, fake_wechat), "wechat", "status")
    assert status.returncode == 0, status.stderr
    assert "customer-service messages (客服消息): unavailable: WeChat answered 48001" in status.stdout
    assert "template messages (模板消息): available" in status.stdout


def test_an_account_declared_without_customer_service_never_tries_it(
    tmp_path, wechat, factory, clock, fake_wechat
) -> None:
    off = {"GRIDDESK_DELIVERY_CUSTOMER_SERVICE_MESSAGES": "off"}
    settings = live_settings(tmp_path, fake_wechat, **off)
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    assert dispatch_due(factory, build_messenger(settings, factory, clock), POLICY, clock()).sent == 2
    assert fake_wechat.calls["/cgi-bin/message/custom/send"] == 0
    status = run_in_process(live_env(tmp_path, fake_wechat, **off), "wechat", "status")
    declared = "customer-service messages (客服消息): off (declared by delivery.customer_service_messages)"
    assert declared in status.stdout
    # No subscription template for the ping is set up either: none is ever sent.
    none_set = "subscription messages (订阅通知): off (declared by subscriptions.checkin_template_id, "
    assert none_set in status.stdout


def test_without_templates_or_customer_service_routine_news_waits_for_the_residents_next_message(
    tmp_path, wechat, factory, clock, fake_wechat
) -> None:
    fake = FakeWeChat(templates=TEMPLATE_IDS.values(), customer_service=False, verified=False).start()
    try:
        settings = live_settings(tmp_path, fake)
        wechat.listeners.append(fake.heard)
        wechat.say(ZHANG, "卫生间水管漏水了")
        wechat.say(WANG, "签收 1")
        result = dispatch_due(factory, build_messenger(settings, factory, clock), POLICY, clock())
        assert result.held == 1 and fake.sent == []
        assert {api for api, _, code in fake.refused if code == 48001} == {"custom", "template"}
        reply = wechat.say(ZHANG, "楼上邻居太吵了") or ""
        assert "您有1条工单进展未读" in reply
        assert "已由网格员王芳签收" in (wechat.say(ZHANG, "我的工单") or "")
    finally:
        fake.stop()


def test_a_cry_for_help_is_answered_without_the_line_about_held_news(wechat, factory, clock) -> None:
    wechat.say(ZHANG, "你好")
    with transaction(factory) as session:  # an update waits for 张秀兰's next message
        zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
        held = queue_push(session, clock(), kind="status", text="【工单进展】已上门", resident=zhang)
        session.get_one(OutboxMessage, held).status = "held"
    for cry in ("我一个人在家 好害怕 怎么办", "救命 我爸摔倒了起不来"):
        reply = wechat.say(ZHANG, cry) or ""
        assert "网格员" in reply and "未读" not in reply, reply
    assert "您有1条工单进展未读" in (wechat.say(ZHANG, "谢谢") or "")


def test_a_menu_tap_allows_3_within_a_minute_and_then_templates_go_without_asking_wechat(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    wechat.event(ZHANG, "CLICK", "MENU_HELP")

    def receipts(count: int) -> None:
        with transaction(factory) as session:
            zhang = session.scalars(select(Resident).where(Resident.openid == ZHANG)).one()
            for n in range(count):
                queue_push(session, clock(), kind="reply", text=f"您发来的第{n}条消息已处理", resident=zhang)

    receipts(4)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 4
    assert [s.api for s in fake_wechat.sent_to(ZHANG)] == ["custom"] * 3 + ["template"]
    clock.advance(minutes=2)
    fake_wechat.advance(120)
    receipts(1)
    assert dispatch_due(factory, messenger, POLICY, clock()).sent == 1
    assert fake_wechat.sent_to(ZHANG)[-1].api == "template" and fake_wechat.refused == []


def signed_for_with_four_notes(wechat, factory, messenger, clock) -> None:
    """A leak signed for and given four progress notes, each dispatched as it comes."""
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    for note in NOTES[:4]:
        wechat.say(WANG, f"进度 1 {note}")
        dispatch_due(factory, messenger, POLICY, clock())


def test_news_held_in_a_conversation_that_ends_goes_as_a_template_after_48_hours(
    wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    signed_for_with_four_notes(wechat, factory, messenger, clock)
    # Signed for and three notes used four sends; the fourth note finds only the kept one.
    assert [row.status for row in resident_rows(factory)] == ["sent"] * 4 + ["held"]
    clock.advance(hours=48, seconds=1)
    fake_wechat.advance(48 * 3600 + 1)
    result = dispatch_due(factory, messenger, POLICY, clock())
    assert (result.released, result.sent) == (1, 1)
    last = fake_wechat.sent_to(ZHANG)[-1]
    assert last.api == "template" and NOTES[3] in " ".join(f["value"] for f in last.payload["data"].values())
    assert fake_wechat.refused == []


def test_forgetting_a_resident_cancels_news_held_for_them_and_drops_their_window(
    tmp_path, wechat, factory, clock, live, fake_wechat
) -> None:
    messenger = build_messenger(live, factory, clock)
    signed_for_with_four_notes(wechat, factory, messenger, clock)
    with transaction(factory) as session:
        assert session.get(CustomerServiceWindow, ZHANG) is not None
    assert [row.status for row in resident_rows(factory)][-1] == "held"
    env = live_env(tmp_path, fake_wechat)
    forgot = run_in_process(env, "resident", "forget", ZHANG, "--yes", "--by", "周敏")
    assert forgot.returncode == 0, forgot.stderr
    with transaction(factory) as session:
        assert session.get(CustomerServiceWindow, ZHANG) is None
        to_residents = select(OutboxMessage.status).where(OutboxMessage.resident_id.is_not(None))
        statuses = list(session.scalars(to_residents))
    assert "held" not in statuses and "cancelled" in statuses


def test_a_template_the_account_no_longer_has_is_learnt_once_and_its_news_waits_for_the_resident(
    tmp_path, wechat, factory, clock, live, fake_wechat
) -> None:
    fake_wechat.templates.discard(TEMPLATE_IDS["status"])  # deleted in the account's admin pages
    messenger = build_messenger(live, factory, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(WANG, "签收 1")
    dispatch_due(factory, messenger, POLICY, clock())
    clock.advance(hours=49)
    fake_wechat.advance(49 * 3600)  # her window closed: progress goes as the status template
    wechat.say(WANG, f"进度 1 {NOTES[0]}")
    assert dispatch_due(factory, messenger, POLICY, clock()).held == 1
    asked = fake_wechat.calls["/cgi-bin/message/template/send"]  # answered 40037 (after a token refresh)
    with transaction(factory) as session:
        [known] = session.scalars(select(AccountCapability)).all()
        assert (known.name, known.errcode) == ("template:tpl-status", 40037)
    # The next note is held without asking WeChat again, by this process or a new one.
    wechat.say(WANG, f"进度 1 {NOTES[1]}")
    assert dispatch_due(factory, build_messenger(live, factory, clock), POLICY, clock()).held == 1
    assert fake_wechat.calls["/cgi-bin/message/template/send"] == asked
    status = run_in_process(live_env(tmp_path, fake_wechat), "wechat", "status")
    assert status.returncode == 0, status.stderr
    assert "  status: unknown to WeChat: it answered 40037" in status.stdout
    assert "  new_ticket: on the account" in status.stdout
    # Nothing is lost: her next message tells her, and 我的工单 shows both notes.
    reply = wechat.say(ZHANG, "你好")
    assert "您有2条工单进展未读" in reply
    listing = wechat.say(ZHANG, "我的工单")
    assert NOTES[0] in listing and NOTES[1] in listing


def test_wechat_status_says_which_templates_the_account_does_not_have(tmp_path, factory, fake_wechat) -> None:
    fake_wechat.templates.discard(TEMPLATE_IDS["rating"])
    status = run_in_process(live_env(tmp_path, fake_wechat), "wechat", "status")
    assert status.returncode == 0, status.stderr
    assert "  rating: not among the account's templates" in status.stdout
    assert "  status: on the account" in status.stdout
    fake_wechat.go_down()
    status = run_in_process(live_env(tmp_path, fake_wechat), "wechat", "status")
    assert status.returncode == 0, status.stderr
    assert "  status: not checked: WeChat could not be asked: ConnectionError" in status.stdout
