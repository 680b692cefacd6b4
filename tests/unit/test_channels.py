"""Which channel a push takes, and how its text fills a template message or a WeCom card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.channel_rules import CUSTOM, TEMPLATE, WECOM, choose_channel, wecom_card
from bot.messenger import Push, can_wait, sends_kept_from
from bot.templates import template_data
from config.settings import SettingsError, Template, load_settings
from storage.pacing import Budget, slot_wait
from storage.windows import Allowances

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WINDOW = timedelta(hours=48)
NEW_TICKET = (
    "【新工单 · 报修】 #7\n居民:张秀兰 13800000101\n地址:3号楼2单元301\n内容:卫生间水管漏水了\n"
    "请在2小时内签收(回复“签收 7”),11月26日 10:00前办结。"
)


def push(**fields: object) -> Push:
    """A push to someone with an openid, who never wrote to us."""
    base: dict[str, object] = {
        "outbox_id": 1,
        "kind": "new_ticket",
        "recipient": "o-someone",
        "recipient_name": "王芳",
        "text": "hello",
        "openid": "o-someone",
    }
    return Push(**(base | fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "wecom", "expected"),
    [
        ({}, False, TEMPLATE),
        ({"last_interaction_at": NOW - timedelta(hours=47, minutes=59)}, False, CUSTOM),
        ({"last_interaction_at": NOW - timedelta(hours=48)}, False, TEMPLATE),
        ({"wecom_userid": "wang.fang"}, True, WECOM),
        ({"wecom_userid": "wang.fang", "last_interaction_at": NOW}, True, WECOM),
        ({"wecom_userid": "wang.fang"}, False, TEMPLATE),
        ({"wecom_userid": "wang.fang", "openid": None}, False, None),
        ({"openid": None}, True, None),
        ({"subscribed": False, "last_interaction_at": NOW}, False, None),
    ],
)
def test_channel_choice(fields: dict[str, object], wecom: bool, expected: str | None) -> None:
    assert choose_channel(push(**fields), NOW, window=WINDOW, wecom=wecom) == expected


def test_template_fields_take_the_lines_in_order_and_the_last_takes_the_rest() -> None:
    template = Template("new_ticket", "tpl", (), ("first", "keyword1", "keyword2", "remark"))
    data = template_data(template, NEW_TICKET, max_chars=200)
    assert data == {
        "first": {"value": "【新工单 · 报修】 #7"},
        "keyword1": {"value": "张秀兰 13800000101"},
        "keyword2": {"value": "3号楼2单元301"},
        "remark": {"value": "内容:卫生间水管漏水了 请在2小时内签收(回复“签收 7”),11月26日 10:00前办结。"},
    }


def test_short_texts_leave_a_dash_and_long_values_are_cut() -> None:
    template = Template("status", "tpl", (), ("first", "keyword1", "remark"))
    data = template_data(template, "您的工单 #3 已由网格员王芳签收,会尽快联系您", max_chars=10)
    assert data == {
        "first": {"value": "您的工单 #3 已…"},
        "keyword1": {"value": "-"},
        "remark": {"value": "-"},
    }
    single = Template("one", "tpl", (), ("thing1",))
    assert template_data(single, "a\nb\nc", 20) == {"thing1": {"value": "a b c"}}


def test_templates_are_found_by_kind_with_a_default() -> None:
    templates = load_settings(
        environ={"GRIDDESK_TEMPLATES_STATUS_ID": "tpl-s", "GRIDDESK_TEMPLATES_DEFAULT_ID": "tpl-d"}
    ).templates
    assert templates.for_kind("reopened").id == "tpl-s"  # type: ignore[union-attr]
    assert templates.for_kind("new_ticket").id == "tpl-d"  # type: ignore[union-attr]  # its own id unset
    assert load_settings(environ={}).templates.for_kind("status") is None


def test_wecom_card_has_a_title_and_an_escaped_description_within_limits() -> None:
    title, description = wecom_card(NEW_TICKET + "\n<备注> & " + "很长" * 300)
    assert title == "【新工单 · 报修】 #7"
    assert description.startswith("居民:张秀兰 13800000101<br>地址:3号楼2单元301<br>")
    assert len(description.encode()) <= 512 and "很长" not in description
    assert wecom_card("只有一行")[1] == "只有一行"
    assert wecom_card("a\n<b>")[1] == "&lt;b&gt;"


def test_delivery_settings_have_safe_defaults_and_checked_values() -> None:
    settings = load_settings(environ={})
    assert settings.delivery.token_endpoint == "stable" and not settings.wecom.enabled
    assert settings.delivery.media_dir.is_absolute() and settings.delivery.media_dir.name == "media"
    assert settings.dispatcher.lease_seconds == 60
    with pytest.raises(SettingsError, match="token_endpoint"):
        load_settings(environ={"GRIDDESK_DELIVERY_TOKEN_ENDPOINT": "sometimes"})
    with pytest.raises(SettingsError, match=r"templates\.status\.fields"):
        load_settings(environ={"GRIDDESK_TEMPLATES_STATUS_FIELDS": " , "})
    env = {"GRIDDESK_WECOM_CORP_ID": "ww1", "GRIDDESK_WECOM_SECRET": "s", "GRIDDESK_WECOM_AGENT_ID": "7"}
    wecom = load_settings(environ=env).wecom
    assert wecom.enabled and wecom.agent_id == 7


def test_template_values_are_one_line_of_at_most_20_characters() -> None:
    template = Template("status", "tpl", (), ("keyword1", "keyword2"))
    text = "【工单进展】 #12\n处理情况:\t已联系物业\u3000维修师傅明天上午九点上门更换电闸,请家中留人"
    data = template_data(template, text, max_chars=20)
    assert data["keyword1"] == {"value": "【工单进展】 #12"}
    assert data["keyword2"]["value"] == "处理情况: 已联系物业 维修师傅明天上…"
    assert all(len(v["value"]) <= 20 and not set(v["value"]) & set("\r\n\t") for v in data.values())


def test_pacing_waits_for_the_oldest_send_to_leave_the_minute_or_the_hour() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    budget = Budget(per_minute=3, per_hour=5)
    ago = [now - timedelta(seconds=s) for s in (3000, 2000, 50, 40, 30)]
    assert slot_wait(ago[2:4], now, budget) is None
    assert slot_wait(ago[2:], now, budget) == timedelta(seconds=10)  # the send 50 s ago leaves the minute
    assert slot_wait(ago, now, budget) == timedelta(seconds=600)  # the hour's oldest leaves in 10 minutes


@pytest.mark.parametrize(
    ("allowances", "at", "left"),
    [
        (Allowances(message_at=NOW), NOW, 5),
        (Allowances(message_at=NOW, message_sends=4), NOW + timedelta(hours=47, minutes=59), 1),
        (Allowances(message_at=NOW, message_sends=2), NOW + timedelta(hours=48), 0),
        (Allowances(event_at=NOW), NOW + timedelta(seconds=59), 3),
        (Allowances(event_at=NOW), NOW + timedelta(seconds=60), 0),
        # The allowances do not add up: a tap after a message gives the larger of what each has left.
        (Allowances(message_at=NOW, message_sends=5, event_at=NOW), NOW, 3),
        (Allowances(message_at=NOW, message_sends=1, event_at=NOW), NOW, 4),
        (Allowances(), NOW, 0),
    ],
)
def test_a_users_customer_service_sends_left(allowances: Allowances, at: datetime, left: int) -> None:
    assert allowances.sends_left(at) == left


def test_routine_news_leaves_the_windows_last_send_to_emergencies_receipts_and_the_rating_request() -> None:
    resident = {"resident_id": 1, "worker_id": None}
    kinds = ("status", "reply", "rating_request")
    assert [sends_kept_from(push(kind=kind, **resident)) for kind in kinds] == [1, 0, 0]
    assert sends_kept_from(push(kind="status", worker_id=7)) == 0  # staff: templates take over, no holding
    assert can_wait(push(kind="status", **resident)) and not can_wait(push(kind="emergency", **resident))
