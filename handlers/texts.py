"""The words residents and workers read, kept in one place."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CATEGORY_LABELS = {
    "emergency": "紧急求助",
    "repair": "报修",
    "bill": "缴费",
    "medicine": "买药",
    "health": "看病就医",
    "dispute": "邻里纠纷",
    "inquiry": "咨询",
    "other": "留言",
    "knock": "敲门探访",
}

# A ticket's sub-kind (config/intents.toml's repair kinds and emergency families, and a voice message).
KIND_LABELS = {
    "water": "水",
    "power": "电",
    "gas": "燃气",
    "heating": "暖气",
    "elevator": "电梯",
    "other": "其他",
    "medical": "急病伤",
    "fire": "火情",
    "electric": "触电",
    "suicide": "轻生",
    "police": "治安",
    "trapped": "被困",
    "missing": "走失",
    "drowning": "溺水",
    "collapse": "坍塌",
    "voice": "语音",
}

STATUS_LABELS = {
    "new": "待派单",
    "assigned": "已派单",
    "acknowledged": "已签收",
    "in_progress": "处理中",
    "resolved": "已办结",
    "closed": "已关闭",
    "reopened": "重新办理",
    "cancelled": "已取消",
}

# An outbox row's status, as `run.py say` and `run.py outbox` show it to staff.
PUSH_STATUS_LABELS = {
    "pending": "待发送",
    "sent": "已送达",
    "dead": "发送失败",
    "undeliverable": "无法送达",
    "cancelled": "已取消(工作人员已离岗)",
    "folded": "已并入汇总推送",
    "held": "留待居民下次留言时告知",
    "superseded": "已被更新的消息取代",
    "shown": "居民已在“我的工单”中查看",
}

ROLE_LABELS = {"worker": "网格员", "leader": "网格长", "community": "社区值班", "street": "街道"}

BIND_EXAMPLE = "3号楼2单元301"
ASK_ADDRESS = f"您还没有登记住址,请回复楼号和房号,例如“{BIND_EXAMPLE}”,方便网格员上门。"
ASK_UNIT_ROOM = "请回复单元和房号,例如“2单元301”,方便网格员上门。"

HELP = (
    "您好,这里是{community}网格服务台。报修、缴费、买药、看病、邻里纠纷,直接发文字或语音告诉我们就行。\n"
    "回复“我的工单”查看进度,回复“人工”请网格员联系您。\n"
    "遇到危险请立即拨打120(急救)、119(火警)、110(报警)。"
)


def local_time(moment: datetime, timezone: str) -> str:
    """A short local time for messages, e.g. '11月23日 18:30'."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def duration(minutes: int) -> str:
    """Minutes as residents say it: '5分钟', '2小时', '7天'."""
    if minutes < 60:
        return f"{minutes}分钟"
    if minutes < 24 * 60 or minutes % (24 * 60):
        hours = minutes / 60
        return f"{hours:g}小时"
    return f"{minutes // (24 * 60)}天"
