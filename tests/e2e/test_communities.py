"""One deployment, two communities: each has its own signed webhook, database, staff and console."""

from __future__ import annotations

from tests.conftest import tickets
from tests.e2e.console_support import make_account, sign_in, text
from tests.e2e.street_support import browser, sign_in_at, webhook
from tests.support import WeChatServer

LEAK = "卫生间水管漏水了"


def test_each_community_answers_on_its_own_webhook_and_keeps_its_own_tickets(street, clock) -> None:
    home, heping = webhook(street, "main", clock), webhook(street, "heping", clock)

    home_reply = home.say("demo-resident-liu", LEAK)
    heping_reply = heping.say("heping-resident-he", "厨房水管漏水了,地上全是水")

    assert "工单号 #1" in home_reply and "李骁" in home_reply
    assert "工单号 #1" in heping_reply and "吴磊" in heping_reply  # 3号楼 is 和平二网格's
    main_tickets = tickets(street.runtime("main").factory)
    heping_tickets = tickets(street.runtime("heping").factory)
    assert [(t.resident.name, t.assignee.name) for t in main_tickets] == [("刘建华", "李骁")]
    assert [(t.resident.name, t.assignee.name) for t in heping_tickets] == [("何文斌", "吴磊")]


def test_a_request_signed_for_one_community_is_refused_by_another(street, clock) -> None:
    client = browser(street)
    home = webhook(street, "main", clock, client)
    forged = WeChatServer(client, home.wechat, clock, path="/wechat/heping")  # main's token, 和平里's door

    refused = forged.post("heping-resident-he", "text", Content=LEAK)

    assert refused.status_code == 403
    assert tickets(street.runtime("heping").factory) == []
    assert client.post("/wechat/nowhere", data=b"<xml/>").status_code == 404
    # The first community's webhook stays at /wechat, and answers at /wechat/main too.
    assert "工单号 #1" in webhook(street, "main", clock, client).say("demo-resident-liu", LEAK)
    again = WeChatServer(client, home.wechat, clock, path="/wechat/main")
    assert "工单号 #2" in again.say("demo-resident-sun", "7号楼电梯坏了")


def test_a_community_console_shows_its_own_tickets_and_no_other(street, clock) -> None:
    webhook(street, "main", clock).say("demo-resident-liu", LEAK)
    webhook(street, "heping", clock).say("heping-resident-he", "楼道灯坏了")
    make_account(street.runtime("heping").factory, clock, "钱志强", "qian", "leader")
    make_account(street.runtime("main").factory, clock, "赵建国", "zhao", "leader")
    heping_console = browser(street)

    heading = heping_console.get("/c/heping/console/tickets?status=all")
    assert heading.headers["Location"] == "/c/heping/console/signin?next=/console/tickets?status%3Dall"
    signed = sign_in_at(heping_console, "/c/heping", "qian", next="/console/tickets?status=all")

    assert signed.headers["Location"] == "/c/heping/console/tickets?status=all"  # its own, not main's
    board = text(heping_console.get("/c/heping/console/tickets?status=all"))
    assert "楼道灯坏了" in board and "漏水" not in board
    # Its session is 和平里's alone: the first community's console does not know it.
    assert heping_console.get("/console/tickets?status=all").status_code == 302
    home_console = browser(street)
    assert sign_in(home_console, "zhao").status_code == 302
    home_board = text(home_console.get("/console/tickets?status=all"))
    assert "漏水" in home_board and "楼道灯坏了" not in home_board
    assert sign_in_at(browser(street), "/c/heping", "zhao").status_code == 401  # no such login there
