"""The street office's view of every community, through the street deployment's app (docs/tenancy.md)."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from tests.e2e.console_support import make_account, text
from tests.e2e.street_support import browser, sign_in_at, street_office, webhook
from tests.integration.test_checkins import CheckInDesk
from tests.support import send_saved_photo

LEAK, LIGHT, TOILET = "卫生间水管漏水了", "楼道灯坏了", "马桶不下水"
HE_PHONE = "13811110102"  # 何文斌 of 和平里, 3号楼 (config/examples/heping.toml)


def tickets_in_both(street, clock) -> None:
    """Two tickets in the first community, one in 和平里 that its worker signs for 20 minutes later."""
    home, heping = webhook(street, "main", clock), webhook(street, "heping", clock)
    home.say("demo-resident-liu", LEAK)  # main #1
    clock.advance(minutes=1)
    home.say("demo-resident-sun", TOILET)  # main #2
    clock.advance(minutes=1)
    heping.say("heping-resident-he", LIGHT)  # 和平里 #1, 吴磊
    clock.advance(minutes=20)
    assert "签收" in heping.say("heping-worker-wu", "签收 1")


def test_the_street_office_sees_every_community_and_each_one_links_to_its_console(street, clock) -> None:
    tickets_in_both(street, clock)
    clock.advance(hours=3)  # main's two are past their sign-for deadline; still the same local day
    desk = street_office(street, clock)

    overview = desk.get("/console/street")

    assert overview.status_code == 200
    page = text(overview)
    # community, open, overdue, new today, late signing, missed check-ins, average first response
    assert "幸福里社区 2 2 2 2 0 —" in page
    assert "和平里社区 1 0 1 0 0 20分钟" in page
    assert "合计 3 2 3 2 0 20分钟" in page
    html = overview.get_data(as_text=True)
    assert 'href="/c/heping/console"' in html and 'href="/console"' in html
    assert 'href="/console/street"' in html  # the tab the street office has


def test_one_table_of_every_communitys_tickets_searched_sorted_and_paged(street, clock) -> None:
    tickets_in_both(street, clock)
    desk = street_office(street, clock)

    everything = text(desk.get("/console/street/tickets?status=all&sort=opened"))
    assert "共 3 条" in everything
    assert everything.index(LEAK) < everything.index(TOILET) < everything.index(LIGHT)  # oldest first
    assert "和平里社区 #1" in everything and "幸福里社区 #2" in everything
    newest_first = text(desk.get("/console/street/tickets?status=all&sort=-opened"))
    assert newest_first.index(LIGHT) < newest_first.index(TOILET) < newest_first.index(LEAK)
    # By a name: 吴磊 (和平里) before 李骁 (幸福里), as the names sort, whichever database holds them.
    by_worker = text(desk.get("/console/street/tickets?status=all&sort=assignee"))
    assert by_worker.index(LIGHT) < by_worker.index(LEAK)
    by_worker_down = text(desk.get("/console/street/tickets?status=all&sort=-assignee"))
    assert by_worker_down.index(LEAK) < by_worker_down.index(LIGHT)

    # 刘建华 (13800000102) and 何文斌 (13811110102) share a phone's last four digits.
    both = text(desk.get("/console/street/tickets?q=尾号0102&status=all"))
    assert "共 2 条" in both and LIGHT in both and LEAK in both and TOILET not in both
    by_phone = desk.get("/console/street/tickets?q=10102&status=all")
    found = text(by_phone)
    assert "共 1 条" in found and LIGHT in found and LEAK not in found
    assert 'href="/console/street/heping/tickets/1"' in by_phone.get_data(as_text=True)
    only_heping = text(desk.get("/console/street/tickets?community=heping&status=all"))
    assert LIGHT in only_heping and LEAK not in only_heping
    # The community filter is kept when the table is sorted.
    sorted_link = desk.get("/console/street/tickets?community=heping&sort=number").get_data(as_text=True)
    resorting = re.findall(r'href="([^"]*sort=-number[^"]*)"', sorted_link)
    assert resorting and all("community=heping" in link for link in resorting)


def test_a_communitys_ticket_opens_read_only_with_the_residents_contact(street, clock) -> None:
    tickets_in_both(street, clock)
    desk = street_office(street, clock)

    ticket = desk.get("/console/street/heping/tickets/1")

    page = text(ticket)
    assert ticket.status_code == 200
    assert LIGHT in page and "何文斌" in page and f"拨打 {HE_PHONE}" in page and "吴磊" in page
    assert "签收" in page and "办理" not in page  # its story, and no buttons
    # A photo of a 和平里 ticket comes from 和平里's own media folder.
    heping = street.runtime("heping")
    media_dir = heping.settings.delivery.media_dir
    he = "heping-resident-he"
    photo = send_saved_photo(webhook(street, "heping", clock), heping.factory, media_dir, he)
    with_photo = desk.get("/console/street/heping/tickets/1").get_data(as_text=True)
    shown = re.search(r'<img src="(/console/street/heping/media/\d+)"', with_photo)
    assert shown is not None
    with desk.get(shown.group(1)) as served:
        assert served.data == photo.read_bytes()
    main_ticket = text(desk.get("/console/street/main/tickets/1"))
    assert LEAK in main_ticket and "刘建华" in main_ticket
    assert desk.get("/console/street/heping/tickets/2").status_code == 404
    assert desk.get("/console/street/nowhere/tickets/1").status_code == 404


def test_each_communitys_report_and_one_workbook_with_a_sheet_each(street, clock) -> None:
    tickets_in_both(street, clock)
    desk = street_office(street, clock)

    report = text(desk.get("/console/street/reports?period=day&date=2026-11-23"))
    # community, opened, resolved, overdue now, then the rates: 和平里's one ticket was signed for in time
    assert "幸福里社区 2 0 0" in report and "和平里社区 1 0 0 100%(1/1)" in report
    chart = desk.get("/console/street/reports/communities.svg?period=day&date=2026-11-23")
    assert chart.mimetype == "image/svg+xml" and "和平里社区" in chart.get_data(as_text=True)

    download = desk.get("/console/street/reports.xlsx?period=day&date=2026-11-23")

    assert download.mimetype.endswith("spreadsheetml.sheet")
    workbook = load_workbook(io.BytesIO(download.data))
    assert workbook.sheetnames == ["街道汇总", "幸福里社区", "和平里社区"]
    cells = [str(c) for sheet in workbook for row in sheet.iter_rows(values_only=True) for c in row if c]
    assert HE_PHONE not in cells and "138****0102" in cells and "何*斌" in cells
    heping_rows = [row for row in workbook["和平里社区"].iter_rows(values_only=True) if row[0] == 1]
    assert heping_rows and heping_rows[0][7] == LIGHT
    summary = [row[0] for row in workbook["街道汇总"].iter_rows(values_only=True)]
    assert summary == ["范围", "幸福里社区", "和平里社区"]


def test_nobody_but_the_street_office_finds_the_street_pages(street, clock) -> None:
    make_account(street.runtime("main").factory, clock, "赵建国", "zhao", "leader", ("G1",))
    make_account(street.runtime("main").factory, clock, "王芳", "wangfang", "worker")
    make_account(street.runtime("main").factory, clock, "社区值班台", "duty", "community")
    make_account(street.runtime("heping").factory, clock, "钱志强", "qian", "leader")
    # A 和平里 account with the street role is still only 和平里's: its console has no street section.
    make_account(street.runtime("heping").factory, clock, "和平里街道联络员", "lianluo", "street")

    for login in ("zhao", "wangfang", "duty"):
        client = browser(street)
        sign_in_at(client, "", login)
        assert client.get("/console/street").status_code == 404
        assert client.get("/console/street/tickets").status_code == 404
        assert client.get("/console/street/reports.xlsx").status_code == 404
        assert client.get("/console/street/main/tickets/1").status_code == 404
        assert 'href="/console/street"' not in client.get("/console/").get_data(as_text=True)
    for login in ("qian", "lianluo"):
        client = browser(street)
        sign_in_at(client, "/c/heping", login)
        assert client.get("/c/heping/console/street").status_code == 404
        assert client.get("/c/heping/console/street/tickets").status_code == 404
        assert "/console/street" not in client.get("/c/heping/console/").get_data(as_text=True)
    # Signed in nowhere: the sign-in page, as for every console page.
    assert browser(street).get("/console/street").status_code == 302


def test_the_overview_counts_todays_missed_check_ins_of_each_community(street, clock, classifier) -> None:
    heping = street.runtime("heping")
    sweeps = CheckInDesk(heping.factory, heping.settings, classifier, clock)
    sweeps.at("09:00", day=1)
    sweeps.pings()
    sweeps.at("11:00", day=1)
    sweeps.reminders()
    sweeps.at("13:00", day=1)
    assert sweeps.knocks().knocked == 1  # 马淑芬 lives alone and did not answer

    page = text(street_office(street, clock).get("/console/street"))

    assert "和平里社区 1 0 1 0 1 —" in page  # her 敲门 task is today's new open ticket
    assert "幸福里社区 0 0 0 0 0 —" in page


def test_the_table_pages_through_both_communities_in_one_order(street, clock) -> None:
    client = browser(street)
    home, heping = webhook(street, "main", clock, client), webhook(street, "heping", clock, client)
    for n in range(30):  # newcomers, a ticket each, the two communities taking turns
        for wechat, slug in ((home, "main"), (heping, "heping")):
            wechat.say(f"o-{slug}-{n}", f"家里水管漏了 {slug}-{n}号")
            clock.advance(minutes=1)
    desk = street_office(street, clock)

    first = text(desk.get("/console/street/tickets?sort=-opened"))
    second = text(desk.get("/console/street/tickets?sort=-opened&page=2"))

    assert "共 60 条,第 1/2 页" in first and "共 60 条,第 2/2 页" in second
    newest = [f"heping-{n}号" for n in range(29, 4, -1)]  # 和平里's 29th down to its 5th, and main's
    assert first.index("heping-29号") < first.index("main-29号") < first.index("heping-28号")
    assert all(name in first for name in newest) and "heping-4号" not in first
    assert "main-5号" in first and "main-4号" not in first
    assert all(f"{slug}-{n}号" in second for slug in ("main", "heping") for n in range(5))
    assert "main-5号" not in second
