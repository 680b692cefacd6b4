"""Open311's small parts: what public text hides, W3C dates, the service catalog, the api_keys setting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest
from flask import Flask

from bot.open311.catalog import build_catalog
from bot.open311.formats import Open311Error, document, parse_w3c, w3c
from bot.open311.public import public_text
from config.settings import SettingsError, load_settings
from handlers.language.intents import IntentClassifier

TZ = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "public"),
    [
        ("电话13800000101", "电话***********"),
        ("电话 138-0000-0101 或 138 0000 0101", "电话 ***-****-**** 或 *** **** ****"),
        ("全角１３８０００００１０１", "全角***********"),
        ("3号楼2单元301漏水", "3号楼*单元***漏水"),
        ("三号楼二单元三零一", "三号楼*单元***"),
        ("邮箱 zhang.wei+1@example.org 联系", "邮箱 ***@*** 联系"),
        ("1号楼的灯坏了,等了2天", "1号楼的灯坏了,等了2天"),
        ("身份证110101199003071234", "身份证******************"),
    ],
)
def test_public_text_hides_numbers_units_and_mail(text: str, public: str) -> None:
    assert public_text(text) == public


@pytest.mark.parametrize(
    ("transcript", "public"),
    [
        ("电话一三八一二三四五六七八", "电话***********"),
        ("你打我电话幺三八幺二三四五六七八就行", "你打我电话***********就行"),
        ("我住三号楼二单元三零一,水管漏了", "我住三号楼*单元***,水管漏了"),
        ("号码是138一二三四5678", "号码是***********"),
        ("电话：一三八 一二三四 五六七八", "电话：*** **** ****"),
        ("一三八-一二三四-五六七八", "***-****-****"),
        ("我家是三〇二,两单元", "我家是***,*单元"),
        ("座机零一零 六二三四五六七八", "座机*** ********"),
        ("五号楼十二单元三百零一室漏水", "五号楼**单元****室漏水"),
        ("全角１３８一二三四５６７８", "全角***********"),
        # Counts, ages and layouts people say every day stay readable.
        ("漏了三四天了,我八十二岁了,家里两室一厅", "漏了三四天了,我八十二岁了,家里两室一厅"),
    ],
)
def test_public_text_hides_numbers_read_out_in_chinese(transcript: str, public: str) -> None:
    """Voice transcripts give phones and rooms in Chinese numerals: they are starred like digits."""
    assert public_text(transcript) == public


def test_public_text_masks_the_names_it_is_given_longest_first() -> None:
    text = "张秀兰说她儿子张伟会来,张伟的电话是13800000201"
    assert public_text(text, ["张伟", "张秀兰", None, "张"]) == "张*兰说她儿子张*会来,张*的电话是***********"
    assert public_text(None, ["张伟"]) is None


def test_w3c_times_carry_the_local_offset() -> None:
    moment = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    assert w3c(moment, TZ) == "2026-11-23T10:00:00+08:00"
    assert w3c(None, TZ) is None


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2010-01-01T00:00:00Z", datetime(2010, 1, 1, tzinfo=UTC)),
        ("1994-11-05T08:15:30-05:00", datetime(1994, 11, 5, 13, 15, 30, tzinfo=UTC)),
        ("2026-11-23T10:00:00", datetime(2026, 11, 23, 2, tzinfo=UTC)),  # no offset: local time
        ("2026-11-23", datetime(2026, 11, 22, 16, tzinfo=UTC)),  # a date: its local midnight
    ],
)
def test_parse_w3c(text: str, utc: datetime) -> None:
    assert parse_w3c(text, "start_date", TZ) == utc


def test_parse_w3c_refuses_what_is_no_date() -> None:
    with pytest.raises(Open311Error) as refused:
        parse_w3c("last tuesday", "end_date", TZ)
    assert refused.value.status == 400 and "end_date" in refused.value.description


def test_the_catalog_follows_the_rules_and_the_settings(classifier: IntentClassifier) -> None:
    settings = load_settings(environ={"GRIDDESK_OPEN311_PUBLIC_CATEGORIES": "repair, knock"})
    catalog = build_catalog(settings.open311, classifier)
    codes = [service.code for service in catalog.services]
    assert codes[-1] == "knock" and "repair.other" in codes and "inquiry" not in codes
    assert catalog.service_of("repair", "water").code == "repair.water"
    assert catalog.service_of("repair", None).code == "repair.other"
    assert catalog.service_of("repair", "something-new").code == "repair.other"
    assert catalog.service_of("inquiry", None) is None and catalog.get("inquiry") is None
    assert catalog.service_of("knock", None).name == "敲门探访"


def test_an_unknown_public_category_stops_the_start(classifier: IntentClassifier) -> None:
    settings = load_settings(environ={"GRIDDESK_OPEN311_PUBLIC_CATEGORIES": "repair,repairs"})
    with pytest.raises(SettingsError, match="repairs"):
        build_catalog(settings.open311, classifier)


def test_api_keys_name_their_clients_and_stay_out_of_repr() -> None:
    settings = load_settings(environ={"GRIDDESK_OPEN311_API_KEYS": "12345:k3y-of-the-city, bare-key-000"})
    assert [(c.name, c.api_key) for c in settings.open311.clients] == [
        ("12345", "k3y-of-the-city"),
        ("client", "bare-key-000"),
    ]
    assert "k3y" not in repr(settings)
    assert load_settings(environ={}).open311.clients == ()
    with pytest.raises(SettingsError, match="api_keys"):
        load_settings(environ={"GRIDDESK_OPEN311_API_KEYS": "city:short"})
    assert load_settings(environ={}).open311.window_days == timedelta(days=90).days


def test_the_public_address_and_the_post_limit_are_checked_at_start() -> None:
    settings = load_settings(environ={"GRIDDESK_OPEN311_PUBLIC_BASE_URL": "https://griddesk.example.org/"})
    assert settings.open311.public_base_url == "https://griddesk.example.org"
    for bad in ("griddesk.example.org", "https://griddesk.example.org/?next=x", "javascript:alert(1)"):
        with pytest.raises(SettingsError, match=r"open311\.public_base_url"):
            load_settings(environ={"GRIDDESK_OPEN311_PUBLIC_BASE_URL": bad})
    with pytest.raises(SettingsError, match=r"open311\.posts_per_minute"):
        load_settings(environ={"GRIDDESK_OPEN311_POSTS_PER_MINUTE": "-1"})


def test_xml_leaves_out_characters_xml_cannot_carry() -> None:
    with Flask(__name__).app_context():
        response = document("xml", "errors", [{"code": 400, "description": "漏水\x08了\x00 😀", "ok": True}])
    assert response.content_type == "text/xml; charset=utf-8"
    error = ElementTree.fromstring(response.get_data()).find("error")
    assert (
        error is not None and error.findtext("description") == "漏水了 😀" and error.findtext("ok") == "true"
    )
