"""The staff console over HTTP: signing in, CSRF, what each role sees, and acting on tickets."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.console.links import token_hash
from config.settings import Settings
from handlers.domain_settings import DomainSettings
from handlers.people.departures import leave, serving_worker
from storage.db import transaction
from storage.models import ConsoleLink, InboundMessage, StaffAccount, Ticket
from tests.conftest import make_settings, pushes, tickets
from tests.e2e.console_support import (
    BASE_URL,
    PASSWORD,
    act,
    act_response,
    console_settings,
    csrf,
    deliver,
    link_in,
    make_account,
    notice,
    sent_link,
    sign_in,
    text,
)
from tests.integration.test_checkins import everyone_subscribed, with_ping_subscription

ZHANG, LIU, SUN = "demo-resident-zhang", "demo-resident-liu", "demo-resident-sun"  # grids G1, G2, G3
WANG, LI, ZHAO = "demo-worker-wang", "demo-worker-li", "demo-leader-zhao"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Sandbox settings with the console's public address set."""
    return console_settings(tmp_path)


@pytest.fixture
def accounts(factory, clock) -> None:
    """王芳 (worker of G1, AB岗 of G2's 李骁), 周强 (a new leader of G3 only) and the community desk."""
    make_account(factory, clock, "王芳", "wangfang", "worker")
    make_account(factory, clock, "周强", "zhouqiang", "leader", ("G3",))
    make_account(factory, clock, "社区值班台", "duty", "community")


def subscribed_domain(settings: Settings, factory, now) -> DomainSettings:
    """What the sweeps read, with every elder subscribed to the ping (so it reaches them without a window)."""
    everyone_subscribed(factory, now)
    return DomainSettings.of(with_ping_subscription(settings))


def resident_texts(factory, openid: str) -> list[str]:
    return [p.text for p in pushes(factory) if p.recipient == openid]


# Signing in and out


def test_pages_need_signing_in_and_a_password_opens_them(app, accounts) -> None:
    client = app.test_client()
    page = client.get("/console/tickets?status=all")
    assert page.status_code == 302 and "/console/signin?next=/console/tickets" in page.headers["Location"]
    signed = sign_in(client, "wangfang")
    assert signed.status_code == 302 and signed.headers["Location"] == "/console/"
    board = client.get("/console/")
    assert board.status_code == 200 and "网格员 王芳" in text(board)


def test_after_signing_in_the_person_lands_where_they_were_heading_but_never_off_site(app, accounts) -> None:
    for target, landing in (("/console/checkins", "/console/checkins"), ("https://evil.test", "/console/")):
        client = app.test_client()
        form = {"login": "wangfang", "password": PASSWORD, "csrf_token": csrf(client), "next": target}
        assert client.post("/console/signin", data=form).headers["Location"] == landing


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(app, accounts) -> None:
    client = app.test_client()
    wrong_password, unknown_login = sign_in(client, "wangfang", "guess1234"), sign_in(client, "nobody")
    assert wrong_password.status_code == unknown_login.status_code == 401
    assert "用户名或密码不正确" in text(wrong_password) and "用户名或密码不正确" in text(unknown_login)
    assert client.get("/console/").status_code == 302


def test_repeated_failures_lock_the_login_for_a_while(app, accounts, clock) -> None:
    client = app.test_client()
    for _ in range(5):
        assert sign_in(client, "wangfang", "guess1234").status_code == 401
    locked = sign_in(client, "wangfang")
    assert locked.status_code == 401 and "登录失败次数过多,请15分钟后再试" in text(locked)
    assert sign_in(client, "duty").status_code == 302  # other logins are not locked out
    clock.advance(minutes=16)
    assert sign_in(client, "wangfang").status_code == 302


def test_many_failures_from_one_address_lock_that_address(app, accounts) -> None:
    client = app.test_client()
    for number in range(20):
        sign_in(client, f"guess{number}", "guess1234")
    assert "登录失败次数过多" in text(sign_in(client, "wangfang"))


@pytest.mark.parametrize("hops", [0, 1])
def test_behind_a_proxy_sign_in_failures_lock_the_client_not_everyone(
    tmp_path, factory, classifier, clock, accounts, hops
) -> None:
    from bot.app import create_app

    settings = make_settings(tmp_path, GRIDDESK_SERVER_PROXY_HOPS=str(hops))
    app = create_app(settings, factory, classifier, clock)
    guesser, colleague = app.test_client(), app.test_client()
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
    colleague.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.8"
    for number in range(20):
        sign_in(guesser, f"guess{number}", "guess1234")
    assert "登录失败次数过多" in text(sign_in(guesser, "wangfang"))
    if hops:
        assert sign_in(colleague, "wangfang").status_code == 302
    else:  # no proxy configured: the header is the client's own word, and changing it dodges nothing
        assert "登录失败次数过多" in text(sign_in(colleague, "wangfang"))


def test_signing_out_ends_the_session(app, accounts) -> None:
    client = app.test_client()
    sign_in(client, "wangfang")
    token = csrf(client, "/console/")
    assert client.post("/console/signout", data={"csrf_token": token}).status_code == 302
    assert client.get("/console/").status_code == 302


def test_a_new_password_ends_sessions_signed_in_with_the_old_one(app, accounts, factory, clock) -> None:
    from bot.console.accounts import set_password

    client = app.test_client()
    sign_in(client, "wangfang")
    clock.advance(minutes=1)
    with transaction(factory) as session:
        set_password(session, clock(), "wangfang", "another password")
    assert client.get("/console/").status_code == 302
    assert sign_in(client, "wangfang", "another password").status_code == 302


def test_a_disabled_account_is_signed_out_and_cannot_sign_in(app, accounts, factory, clock) -> None:
    from bot.console.accounts import set_active

    client = app.test_client()
    sign_in(client, "wangfang")
    with transaction(factory) as session:
        set_active(session, clock(), "wangfang", False)
    assert client.get("/console/").status_code == 302
    assert sign_in(client, "wangfang").status_code == 401
    with transaction(factory) as session:
        set_active(session, clock(), "wangfang", True)
    assert sign_in(client, "wangfang").status_code == 302


def test_sessions_end_after_the_configured_hours(app, accounts, clock) -> None:
    client = app.test_client()
    sign_in(client, "wangfang")
    clock.advance(hours=13)
    assert client.get("/console/").status_code == 302


def test_passwords_are_stored_hashed(factory, accounts) -> None:
    with transaction(factory) as session:
        stored = session.scalar(select(StaffAccount.password_hash).where(StaffAccount.login == "wangfang"))
    assert PASSWORD not in stored and stored.startswith(("scrypt:", "pbkdf2:"))


def test_the_session_cookie_is_httponly_samesite_lax_and_secure_over_https(
    tmp_path, factory, classifier, clock, accounts
) -> None:
    from bot.app import create_app

    for base_url, secure in (("https://griddesk.example.org", True), ("http://console.test", False)):
        settings = make_settings(tmp_path, GRIDDESK_CONSOLE_BASE_URL=base_url)
        client = create_app(settings, factory, classifier, clock).test_client()
        cookie = sign_in(client, "wangfang").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/console" in cookie
        assert ("Secure" in cookie) is secure


def test_a_configured_secret_key_signs_the_cookies_else_one_key_is_kept_in_the_database(
    tmp_path, factory, classifier, clock, accounts
) -> None:
    from bot.app import create_app

    settings = make_settings(tmp_path)
    first, second = (create_app(settings, factory, classifier, clock) for _ in range(2))
    client = first.test_client()
    sign_in(client, "wangfang")
    # A second process (another gunicorn worker) accepts the cookie the first one signed.
    cookie = client.get_cookie("griddesk_console", path="/console")
    other = second.test_client()
    other.set_cookie("griddesk_console", cookie.value, path="/console")
    assert other.get("/console/").status_code == 200
    keyed_settings = make_settings(tmp_path, GRIDDESK_CONSOLE_SECRET_KEY="k" * 40)
    keyed = create_app(keyed_settings, factory, classifier, clock)
    stranger = keyed.test_client()
    stranger.set_cookie("griddesk_console", cookie.value, path="/console")
    assert stranger.get("/console/").status_code == 302


# CSRF


def test_a_post_without_the_sessions_csrf_token_is_refused(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    client = app.test_client()
    sign_in(client, "wangfang")
    for token in ("", "forged-token"):
        refused = client.post("/console/tickets/1/acknowledge", data={"csrf_token": token})
        assert refused.status_code == 400 and "页面已过期或来源不明" in text(refused)
    assert tickets(app.extensions["griddesk.console"].factory)[0].status == "assigned"
    stranger = app.test_client()
    no_token = {"login": "wangfang", "password": PASSWORD}
    assert stranger.post("/console/signin", data=no_token).status_code == 400


# What each role sees


def open_one_ticket_per_grid(wechat) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # #1, G1
    wechat.say(LIU, "帮忙交一下水电费")  # #2, G2
    wechat.say(SUN, "马桶不下水")  # #3, G3


def test_a_worker_sees_the_grids_they_work_or_back_up_and_nothing_else(app, wechat, accounts) -> None:
    open_one_ticket_per_grid(wechat)
    client = app.test_client()
    sign_in(client, "wangfang")
    board = text(client.get("/console/"))
    assert "#1" in board and "#2" in board and "#3" not in board and "第三网格" not in board
    assert client.get("/console/tickets/2").status_code == 200
    for hidden in ("/console/tickets/3", "/console/tickets/999"):
        response = client.get(hidden)
        assert response.status_code == 404 and "不在您负责的网格" in text(response)
    assert client.get("/console/tickets?grid=G3&status=all").status_code == 200
    assert "#3" not in text(client.get("/console/tickets?grid=G3&status=all"))


def test_a_leader_sees_only_the_grids_they_lead(app, wechat, accounts) -> None:
    open_one_ticket_per_grid(wechat)
    client = app.test_client()
    sign_in(client, "zhouqiang")
    board = text(client.get("/console/"))
    assert "#3" in board and "#1" not in board and "#2" not in board
    assert client.get("/console/tickets/1").status_code == 404
    assert client.get("/console/tickets/3").status_code == 200


def test_the_community_office_sees_every_grid_and_unbound_residents(app, wechat, accounts) -> None:
    open_one_ticket_per_grid(wechat)
    wechat.say("o-newcomer", "家里水管漏了")  # #4, no grid yet
    client = app.test_client()
    sign_in(client, "duty")
    board = text(client.get("/console/"))
    assert all(f"#{number}" in board for number in (1, 2, 3, 4)) and "未分网格" in board


def test_acting_on_a_ticket_of_another_grid_is_not_found_and_changes_nothing(
    app, wechat, factory, accounts
) -> None:
    open_one_ticket_per_grid(wechat)
    client = app.test_client()
    sign_in(client, "wangfang")
    token = csrf(client, "/console/")
    response = client.post("/console/tickets/3/acknowledge", data={"csrf_token": token})
    assert response.status_code == 404
    assert tickets(factory)[2].status == "assigned"


def test_a_backup_can_see_a_partners_ticket_but_only_its_holder_may_act_on_it(
    app, wechat, factory, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(LIU, "帮忙交一下水电费")  # #2 belongs to 李骁, whose AB岗 is 王芳
    client = app.test_client()
    sign_in(client, "wangfang")
    assert "此工单不归您办理" in text(client.get("/console/tickets/2"))
    assert "工单 #2 不属于您负责的网格,无法操作。" in act(client, 2, "acknowledge")
    assert tickets(factory)[1].status == "assigned"


def test_photos_are_served_only_to_staff_who_may_see_the_ticket(
    app, wechat, factory, settings, accounts
) -> None:
    wechat.say(SUN, "马桶不下水")  # #1, G3
    wechat.post(SUN, "image", PicUrl="http://example.invalid/p.jpg", MediaId="photo-1")
    photo = settings.delivery.media_dir / "photo-1.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    with transaction(factory) as session:
        message = session.scalar(select(InboundMessage).where(InboundMessage.msg_type == "image"))
        assert message.ticket_id == 1
        message.media_path, message_id = str(photo), message.id
    leader, worker, anonymous = app.test_client(), app.test_client(), app.test_client()
    sign_in(leader, "zhouqiang")
    sign_in(worker, "wangfang")
    assert f'src="/console/media/{message_id}"' in leader.get("/console/tickets/1").get_data(as_text=True)
    served = leader.get(f"/console/media/{message_id}")
    body = served.data
    served.close()
    assert served.status_code == 200 and body == photo.read_bytes()
    assert served.headers["Content-Type"] == "image/jpeg" and "no-store" in served.headers["Cache-Control"]
    assert worker.get(f"/console/media/{message_id}").status_code == 404
    assert anonymous.get(f"/console/media/{message_id}").status_code == 302


def test_a_media_path_outside_the_media_folder_is_never_served(
    app, wechat, factory, tmp_path, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.post(ZHANG, "image", PicUrl="http://example.invalid/p.jpg", MediaId="photo-2")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the web")
    with transaction(factory) as session:
        message = session.scalar(select(InboundMessage).where(InboundMessage.msg_type == "image"))
        message.media_path, message_id = str(secret), message.id
    client = app.test_client()
    sign_in(client, "wangfang")
    assert client.get(f"/console/media/{message_id}").status_code == 404


# The board


def test_the_board_puts_overdue_tickets_and_emergencies_first_and_filters(
    app, wechat, factory, clock, accounts
) -> None:
    wechat.say(ZHANG, "想咨询一下低保怎么办理")  # #1 inquiry: 4 h to sign
    clock.advance(minutes=10)
    wechat.say(ZHANG, "卫生间水管漏水了")  # #2 repair: 2 h to sign
    wechat.say(ZHANG, "我爸在卫生间摔倒了,站不起来")  # #3 emergency: 5 minutes
    clock.advance(minutes=125)  # #2 and #3 are past their time to sign; #1 is not
    client = app.test_client()
    sign_in(client, "wangfang")
    board = text(client.get("/console/"))
    assert board.index("#3") < board.index("#2") < board.index("#1")
    assert "超时 2" in board
    only_overdue = text(client.get("/console/tickets?overdue=1"))
    assert "#2" in only_overdue and "#3" in only_overdue and "#1" not in only_overdue
    inquiries = text(client.get("/console/tickets?category=inquiry"))
    assert "#1" in inquiries and "#2" not in inquiries
    assert "#1" not in text(client.get("/console/tickets?status=closed"))


def test_the_board_finds_a_ticket_by_number_name_phone_tail_building_or_words(
    app, wechat, factory, accounts
) -> None:
    wechat.say(ZHANG, "电梯坏了,一直停在5楼")  # #1: 张秀兰, 3号楼, phone ...0101
    wechat.say(LIU, "楼道灯不亮了")  # #2: 刘建华, 5号楼, phone ...0102
    wechat.say(SUN, "马桶不下水")  # #3: 孙桂英, 7号楼 (G3)
    client = app.test_client()
    sign_in(client, "duty")

    def found(query: str) -> set[str]:
        board = text(client.get("/console/tickets", query_string={"q": query, "status": "all"}))
        return {number for number in ("#1", "#2", "#3") if number in board}

    assert found("#2") == {"#2"} and found("#3") == {"#3"} and found("3") == {"#1", "#3"}  # 3号楼 too
    assert found("张秀兰") == {"#1"} and found("0102") == {"#2"} and found("尾号0101") == {"#1"}
    assert found("7号楼") == {"#3"} and found("电梯") == {"#1"} and found("電梯") == {"#1"}  # traditional
    assert found("没有这回事") == set() and "没有符合条件的工单" in text(
        client.get("/console/tickets", query_string={"q": "没有这回事"})
    )
    worker = app.test_client()
    sign_in(worker, "wangfang")  # G1 and, as AB岗, G2: never G3's tickets, however searched
    assert "#3" not in text(worker.get("/console/tickets", query_string={"q": "马桶", "status": "all"}))


def test_the_board_reloads_itself_and_counts_the_tickets_that_came_in_meanwhile(
    app, wechat, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    client = app.test_client()
    sign_in(client, "duty")
    html = client.get("/console/tickets?q=漏水").get_data(as_text=True)
    refresh = re.search(r'<meta http-equiv="refresh" content="60; url=([^"]+)">', html)
    assert refresh is not None and "seen=1" in refresh.group(1) and "q=" in refresh.group(1)
    assert "张新工单" not in html
    wechat.say(LIU, "电梯坏了")
    wechat.say(SUN, "马桶不下水")
    reloaded = client.get(unescape(refresh.group(1))).get_data(as_text=True)
    assert "有 2 张新工单" in text_of(reloaded) and "<title>(2) 工单" in reloaded
    again = re.search(r'content="60; url=([^"]+)"', reloaded)
    assert again is not None and "seen=1" in again.group(1)  # counted from the last look, until looked at
    look = re.search(r'<a href="([^"]+)">查看</a>', reloaded)
    assert look is not None and "seen" not in look.group(1)
    assert "张新工单" not in client.get(unescape(look.group(1))).get_data(as_text=True)


def text_of(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_the_board_pages_and_keeps_its_filters_in_the_links(app, wechat, clock, accounts) -> None:
    for number in range(53):
        wechat.say(f"demo-board-resident-{number}", f"第{number}号问题:楼道灯不亮了")
        clock.advance(seconds=1)
    client = app.test_client()
    sign_in(client, "duty")
    html = client.get("/console/tickets", query_string={"q": "楼道灯"}).get_data(as_text=True)
    assert "共 53 条,第 1/2 页" in text_of(html) and html.count('<li class="card') == 50
    assert "下一页" in html and "上一页" not in html
    link = re.search(r'href="([^"]*page=2[^"]*)"', html)
    assert link is not None and "q=" in link.group(1)
    second = client.get(unescape(link.group(1))).get_data(as_text=True)
    assert "第 2/2 页" in second and second.count('<li class="card') == 3 and "上一页" in second
    assert "第 1/2 页" in text(client.get("/console/tickets?q=楼道灯&page=abc"))  # a bad page: the first


# Acting: the same code path as the WeChat commands


def test_signing_noting_and_resolving_from_the_page_tells_the_resident_as_wechat_does(
    app, wechat, factory, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")  # #1: done over WeChat
    wechat.say(ZHANG, "楼上邻居太吵了")  # #2: done in the console
    client = app.test_client()
    sign_in(client, "wangfang")
    wechat.say(WANG, "签收 1")
    wechat.say(WANG, "进度 1 已联系物业,下午来修")
    wechat.say(WANG, "办结 1 阀门已更换")
    assert "已签收工单 #2" in act(client, 2, "acknowledge")
    assert "已记录工单 #2 的进展" in act(client, 2, "progress", text="已联系物业,下午来修")
    assert "工单 #2 已办结,已请居民评价" in act(client, 2, "resolve", text="阀门已更换")
    told = resident_texts(factory, ZHANG)
    by_wechat = [t for t in told if "#1" in t and "收到您的" not in t]
    by_console = [t for t in told if "#2" in t and "收到您的" not in t]
    assert [t.replace("#1", "#2") for t in by_wechat[-3:]] == by_console[-3:]
    first, second = tickets(factory)[:2]
    assert [e.kind for e in first.events] == [e.kind for e in second.events]
    assert [(e.actor, e.note) for e in second.events[-3:]] == [
        ("王芳", None),
        ("王芳", "已联系物业,下午来修"),
        ("王芳", "阀门已更换"),
    ]
    assert second.status == "resolved" and second.rating_requested_at is not None


def test_a_refused_action_shows_the_same_reason_as_on_wechat(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    client = app.test_client()
    sign_in(client, "wangfang")
    assert notice(act_response(client, 1, "resolve", text="修好了"))[0] == "done"
    refused = notice(act_response(client, 1, "resolve"))
    assert refused == ("refused", "工单 #1 当前状态是“已办结”,不能办结。")
    assert wechat.say(WANG, "办结 1") == "工单 #1 当前状态是“已办结”,不能办结。"
    assert "只有网格长和社区、街道工作人员可以转派工单" in act(client, 1, "reassign", name="李骁")
    assert "请写上延期小时数(1到168)和原因" in act(client, 1, "extend", hours="500", text="等配件")


def test_a_leader_reassigns_and_the_new_holder_and_resident_are_told(app, wechat, factory, accounts) -> None:
    wechat.say(SUN, "马桶不下水")
    client = app.test_client()
    sign_in(client, "zhouqiang")
    assert "已把工单 #1 转派给网格员王芳" in act(client, 1, "reassign", name="王芳")
    ticket = tickets(factory)[0]
    assert ticket.assignee.name == "王芳" and ticket.events[-1].kind == "reassign"
    assert "已转由网格员王芳负责" in resident_texts(factory, SUN)[-1]
    to_wang = [p.text for p in pushes(factory) if p.recipient == WANG]
    assert to_wang[-1].startswith("【转派工单 · 报修】 #1")


def test_reassigning_to_the_holder_is_refused_and_changes_nothing(app, wechat, factory, accounts) -> None:
    wechat.say(SUN, "马桶不下水")  # 陈静 is off duty: her AB岗 李骁 holds it
    before = (len(pushes(factory)), len(tickets(factory)[0].events))
    client = app.test_client()
    sign_in(client, "zhouqiang")
    refused = notice(act_response(client, 1, "reassign", name="李骁"))
    assert refused == ("refused", "工单#1已由李骁负责,无需转派。")
    assert (len(pushes(factory)), len(tickets(factory)[0].events)) == before


def test_sending_back_and_extending_work_from_the_page(app, wechat, factory, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(ZHANG, "楼上邻居太吵了")
    client = app.test_client()
    sign_in(client, "wangfang")
    assert "已退回工单 #1" in act(client, 1, "send_back", text="需要城管处理")
    act(client, 2, "acknowledge")
    assert "工单 #2 已延期到" in act(client, 2, "extend", hours="24", text="等对方回家")
    first, second = tickets(factory)[:2]
    assert first.assignee.name == "赵建国" and first.events[-1].note == "需要城管处理"
    assert second.events[-1].note == "延期24小时:等对方回家"
    assert "原因:等对方回家" in resident_texts(factory, ZHANG)[-1]


def test_the_notice_after_an_action_says_what_changed_and_who_was_told(app, wechat, accounts) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    wechat.say(ZHANG, "楼上邻居太吵了")
    client = app.test_client()
    sign_in(client, "wangfang")
    kind, said = notice(act_response(client, 1, "acknowledge"))
    assert kind == "done" and said.startswith("已签收工单 #1,请在") and said.endswith("前办结。已通知:居民。")
    kind, said = notice(act_response(client, 1, "extend", hours="24", text="等配件"))
    assert kind == "done" and said.endswith("。已通知:网格长赵建国、居民。")
    sent_back = notice(act_response(client, 2, "send_back", text="需要城管处理"))
    assert sent_back == ("done", "已退回工单 #2,由网格长赵建国重新安排。已通知:网格长赵建国。")


EXTENSION_HINT = "请写上延期小时数(1到168)和原因。小时数须是1到168之间的整数。"


@pytest.mark.parametrize(
    ("action", "fields", "answer"),
    [
        ("extend", {"hours": "两天", "text": "等配件"}, EXTENSION_HINT),
        ("extend", {"hours": "1.5", "text": "等配件"}, EXTENSION_HINT),
        ("extend", {"hours": "9" * 5000, "text": "等配件"}, EXTENSION_HINT),
        ("extend", {"text": "等配件"}, EXTENSION_HINT),
        ("extend", {"hours": "24", "text": "  "}, "请写上延期原因。"),
        ("progress", {"text": " "}, "请写上进展,居民会收到。"),
        ("send_back", {}, "请写上退单原因。"),
        ("reassign", {"name": "张三"}, "没有找到在职的工作人员“张三”,请从名单中选择。"),
        ("reassign", {}, "请选择转派给谁。"),
        ("recategorise", {"category": "天气"}, "请从列表中选择新的类别:"),
        ("recategorise", {}, "请从列表中选择新的类别:"),
    ],
)
def test_bad_form_input_is_refused_with_a_clear_reason_and_changes_nothing(
    app, wechat, factory, accounts, action: str, fields: dict[str, str], answer: str
) -> None:
    wechat.say(SUN, "马桶不下水")  # G3, led by 周强
    ticket = tickets(factory)[0]
    before = (len(pushes(factory)), len(ticket.events), ticket.resolve_due_at, ticket.assignee_id)
    client = app.test_client()
    sign_in(client, "zhouqiang")
    kind, said = notice(act_response(client, 1, action, **fields))
    assert kind == "refused" and said.startswith(answer)
    ticket = tickets(factory)[0]
    assert (len(pushes(factory)), len(ticket.events), ticket.resolve_due_at, ticket.assignee_id) == before
    assert ticket.category == "repair"


def test_a_colleague_who_left_cannot_be_chosen(app, wechat, factory, runtime, accounts) -> None:
    wechat.say(SUN, "马桶不下水")
    with transaction(factory) as session:
        leave(runtime.services(session), serving_worker(session, "王芳"))
    client = app.test_client()
    sign_in(client, "zhouqiang")
    refused = notice(act_response(client, 1, "reassign", name="王芳"))
    assert refused == ("refused", "没有找到在职的工作人员“王芳”,请从名单中选择。")


def test_the_ticket_page_tells_the_whole_story(app, wechat, factory, clock, accounts) -> None:
    wechat.post(ZHANG, "voice", MediaId="voice-1", Format="amr", Recognition="卫生间水管漏水了,水越来越大了")
    from handlers.jobs.escalation import sweep

    clock.advance(minutes=121)
    sweep(
        factory,
        app.extensions["griddesk.console"].domain,
        app.extensions["griddesk.console"].classifier,
        clock(),
    )
    client = app.test_client()
    sign_in(client, "duty")
    page = text(client.get("/console/tickets/1"))
    for fact in (
        "张秀兰",
        "13800000101",
        "3号楼2单元301",
        "语音转文字:卫生间水管漏水了,水越来越大了",
        "督办与升级",
        "已升级到AB岗",
        "签收期限",
        "处理记录",
        "派单:网格员王芳",
    ):
        assert fact in page, fact
    assert "(grid_worker)" not in page


# The push link


def test_a_new_ticket_push_carries_a_link_that_signs_the_worker_in_once(
    app, wechat, factory, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    path = sent_link(app, WANG)
    client = app.test_client()
    opened = client.get(path)
    assert opened.status_code == 302 and opened.headers["Location"] == "/console/tickets/1"
    assert "网格员 王芳" in text(client.get("/console/tickets/1"))
    assert "已签收工单 #1" in act(client, 1, "acknowledge")
    again = app.test_client().get(path)
    assert again.status_code == 410 and "链接已失效" in text(again)
    token = path.rsplit("/", 1)[1]
    with transaction(factory) as session:
        stored = session.scalars(select(ConsoleLink.token_hash)).all()
    assert token not in stored and token_hash(token) in stored


def test_a_worker_who_left_is_signed_out_and_their_links_no_longer_open(
    app, wechat, factory, runtime, accounts
) -> None:
    wechat.say(LIU, "空调不制冷")
    client = app.test_client()
    assert client.get(sent_link(app, LI)).status_code == 302
    wechat.say(ZHANG, "卫生间水管漏水了")
    unopened = sent_link(app, WANG)
    by_password = app.test_client()
    sign_in(by_password, "wangfang")
    with transaction(factory) as session:
        for name in ("王芳", "李骁"):
            leave(runtime.services(session), serving_worker(session, name))
    assert client.get("/console/").status_code == 302
    assert by_password.get("/console/").status_code == 302
    assert sign_in(app.test_client(), "wangfang").status_code == 401
    assert app.test_client().get(unopened).status_code == 410


def test_a_link_expires_after_a_day(app, wechat, factory, clock) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    path = sent_link(app, WANG)
    clock.advance(hours=24, seconds=1)
    assert app.test_client().get(path).status_code == 410
    assert app.test_client().get("/console/go/not-a-token").status_code == 410


def test_escalation_pushes_carry_a_link_for_each_person_paged(app, wechat, factory, clock) -> None:
    from handlers.jobs.escalation import sweep

    wechat.say(ZHANG, "我爸在卫生间摔倒了,站不起来")
    clock.advance(minutes=6)
    console = app.extensions["griddesk.console"]
    sweep(factory, console.domain, console.classifier, clock())
    repages = [p for p in deliver(app) if p.kind == "emergency" and "第1次呼叫" in p.text]
    assert len(repages) >= 2
    paths = [link_in(p.text) for p in repages]
    assert len(set(paths)) == len(paths)
    leader_push = next(p for p in repages if p.recipient == ZHAO)
    client = app.test_client()
    assert client.get(link_in(leader_push.text)).headers["Location"] == "/console/tickets/1"
    assert "网格长 赵建国" in text(client.get("/console/tickets/1"))


def test_without_a_base_url_pushes_carry_no_link(tmp_path, factory, classifier, clock) -> None:
    from bot.app import create_app
    from tests.support import WeChatServer

    settings = make_settings(tmp_path)
    app = create_app(settings, factory, classifier, clock)
    wechat = WeChatServer(app.test_client(), settings.wechat, clock)
    wechat.say(ZHANG, "卫生间水管漏水了")
    assert all("/console/go/" not in p.text for p in pushes(factory))
    assert all("/console/go/" not in p.text for p in deliver(wechat.client.application))
    with transaction(factory) as session:
        assert session.scalars(select(ConsoleLink)).all() == []


# The check-in board


def test_the_checkin_board_shows_who_answered_who_is_missing_and_visits_due(
    app, wechat, factory, clock, accounts
) -> None:
    from handlers.jobs.checkins import ping_sweep

    console = app.extensions["griddesk.console"]
    with transaction(factory) as session:
        session.execute(update(Ticket).values(status="closed"))
    result = ping_sweep(factory, subscribed_domain(console.settings, factory, clock()), clock())
    assert result.pinged >= 2
    wechat.say(ZHANG, "1")
    client = app.test_client()
    sign_in(client, "duty")
    page = text(client.get("/console/checkins"))
    assert "第一网格" in page and "第三网格" in page
    first, third = page.split("第三网格")[0].split("第一网格")[1], page.split("第三网格")[1]
    assert "已回复 1" in first and "张秀兰" in first
    assert "未回复 1" in third and "孙桂英" in third and "已问候,未回复" in third
    clock.advance(days=8)
    sign_in(client, "duty")
    assert "张秀兰" in text(client.get("/console/checkins")).split("已逾期")[1]
    worker = app.test_client()
    sign_in(worker, "wangfang")
    assert "孙桂英" not in text(worker.get("/console/checkins"))


def test_a_wecom_text_card_opens_the_pushs_own_sign_in_link(tmp_path, factory, classifier, clock) -> None:
    from bot.app import create_app
    from bot.channels import build_messenger
    from bot.dispatcher import dispatch_due
    from storage.models import Worker
    from tests.fakewechat import FakeWeChat
    from tests.integration.conftest import TEMPLATE_IDS, live_settings
    from tests.support import WeChatServer

    fake = FakeWeChat(templates=TEMPLATE_IDS.values()).start()
    try:
        fake.add_wecom_user("wang.fang")
        live = live_settings(tmp_path, fake, GRIDDESK_CONSOLE_BASE_URL=BASE_URL)
        with transaction(factory) as session:
            session.execute(update(Worker).where(Worker.openid == WANG).values(wecom_userid="wang.fang"))
        app = create_app(live, factory, classifier, clock)
        WeChatServer(app.test_client(), live.wechat, clock).say(ZHANG, "卫生间水管漏水了")
        messenger = build_messenger(live, factory, clock)
        assert dispatch_due(factory, messenger, live.dispatcher, clock()).sent == 1
        [card] = [sent.payload["textcard"] for sent in fake.sent if sent.api == "wecom"]
    finally:
        fake.stop()
    assert card["url"].startswith(f"{BASE_URL}/console/go/")
    signed_in = create_app(live, factory, classifier, clock).test_client()
    assert signed_in.get(card["url"].removeprefix(BASE_URL)).headers["Location"] == "/console/tickets/1"


def test_a_leader_recategorises_to_emergency_from_the_page_and_it_pages_at_once(
    app, wechat, factory, accounts
) -> None:
    wechat.say(SUN, "马桶不下水")
    wechat.say(ZHANG, "楼上邻居太吵了")
    client = app.test_client()
    sign_in(client, "wangfang")
    assert "改类" not in text(client.get("/console/tickets/2"))  # a worker sees the ticket, not the button
    client = app.test_client()
    sign_in(client, "zhouqiang")
    page = text(client.get("/console/tickets/1"))
    assert "改类" in page and "紧急求助" in page
    before = len(pushes(factory))
    assert "已把工单 #1 改为紧急求助" in act(client, 1, "recategorise", category="紧急求助")
    ticket = tickets(factory)[0]
    assert (ticket.category, ticket.priority) == ("emergency", "urgent")
    assert "改类" in text(client.get("/console/tickets/1"))  # the audit line
    paged = [p for p in pushes(factory)[before:] if p.text.startswith("【紧急求助】")]
    assert paged and all(p.kind == "emergency" for p in paged)
    assert "120" in resident_texts(factory, SUN)[-1]


def test_the_ticket_page_folds_repeated_notices_into_one_line_with_a_count(
    app, wechat, factory, clock, accounts
) -> None:
    wechat.say(ZHANG, "卫生间水管漏水了")
    for _ in range(5):
        clock.advance(minutes=1)
        wechat.say(ZHANG, "卫生间水管漏水了,还在漏")  # each one is added to #1 and the worker told again
    client = app.test_client()
    sign_in(client, "duty")
    html = client.get("/console/tickets/1").get_data(as_text=True)
    staff_part = html[html.index("<h2>已通知工作人员</h2>") :]
    lines = [line for line in re.findall(r"<li>(.*?)</li>", staff_part, re.S) if "王芳" in line]
    assert len(lines) == 1 and "×6" in lines[0] and "10:00–" in lines[0]  # one line: first to last, count
    trail = html[html.index("<h2>处理记录</h2>") : html.index("<h2>已通知工作人员</h2>")]
    assert trail.count("补充信息") == 1 and "×5" in trail  # five identical follow-ups, folded too


def test_the_desk_merges_a_duplicate_into_the_open_ticket_and_its_resident_hears_where(
    app, wechat, factory, accounts
) -> None:
    wechat.say(ZHANG, "电梯坏了,一直停在5楼")
    wechat.say(LIU, "电梯坏了")
    wechat.say(SUN, "马桶不下水")
    worker = app.test_client()
    sign_in(worker, "wangfang")
    assert "合并重复工单" not in text(worker.get("/console/tickets/1"))  # leaders and offices only
    leader = app.test_client()
    sign_in(leader, "zhouqiang")  # G3's leader: #3 is his, #1 (G1) is not
    assert "请填写要并入的另一张未办结工单的编号" in act(leader, 3, "duplicate", original="1")
    desk = app.test_client()
    sign_in(desk, "duty")
    assert "合并重复工单" in text(desk.get("/console/tickets/2"))
    for original in ("2", "abc", "99", "#"):
        refused = act(desk, 2, "duplicate", original=original)
        assert "请填写要并入的另一张未办结工单的编号" in refused
    assert tickets(factory)[1].status == "assigned"  # refusals change nothing
    said = act(desk, 2, "duplicate", original="#1")
    assert "已把工单 #2 合并到工单 #1" in said and "已通知:居民" in said
    merged, kept = tickets(factory)[1], tickets(factory)[0]
    assert merged.status == "cancelled" and merged.closed_at is not None and kept.status == "assigned"
    assert "已合并到 #1 一起处理" in resident_texts(factory, LIU)[-1]
    assert "并入重复工单" in text(desk.get("/console/tickets/1"))  # the kept ticket's audit trail
    assert "合并重复工单" not in text(desk.get("/console/tickets/2"))  # nothing more to merge
    assert "请填写要并入的另一张未办结工单的编号" in act(desk, 3, "duplicate", original="2")  # not open


def test_a_menu_sos_shows_what_was_pressed_and_the_advice_the_resident_got(app, wechat, accounts) -> None:
    advice = wechat.event(LIU, "CLICK", "MENU_SOS")
    client = app.test_client()
    sign_in(client, "duty")
    page = client.get("/console/tickets/1").get_data(as_text=True)
    messages = page[page.index("<h2>居民消息</h2>") : page.index("<h2>已告知居民</h2>")]
    assert "[菜单]紧急求助" in messages
    told = page[page.index("<h2>已告知居民</h2>") :].split("</section>")[0]
    assert "还没有给居民的通知" not in told
    assert "即时回复" in told and advice.splitlines()[0] in told and "请立即拨打120" in told


def test_an_elder_who_answered_with_a_call_for_help_answered_on_the_board_as_in_the_report(
    app, wechat, factory, clock, accounts
) -> None:
    from handlers.jobs.checkins import ping_sweep

    console = app.extensions["griddesk.console"]
    ping_sweep(factory, subscribed_domain(console.settings, factory, clock()), clock())
    assert "网格员王芳" in wechat.say(ZHANG, "2")  # 有点不舒服: a health ticket for the grid worker
    client = app.test_client()
    sign_in(client, "duty")
    first = text(client.get("/console/checkins")).split("第一网格")[1].split("网格")[0]
    assert "已回复 1 (其中 求助 1 )" in first and "未回复 0" in first
    assert "回复求助" in first and "张秀兰" in first and "工单 #1" in first
    report = text(client.get("/console/reports?scope=grid:G1&period=day&date=2026-11-23"))
    assert "平安问候 应答 1 / 问候 1 人次" in report
