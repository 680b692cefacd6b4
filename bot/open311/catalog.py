"""Our public ticket categories as Open311 services: one per repair kind, one per other category."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_

from config.settings import Open311Settings, SettingsError
from handlers.language.intent_rules import CategoryRules
from handlers.language.intents import IntentClassifier
from handlers.texts import CATEGORY_LABELS
from storage.models import Ticket

MAX_KEYWORDS = 8
# What a client's user reads about each category and kind; categories staff add later get a plain line.
CATEGORY_DESCRIPTIONS = {
    "repair": "住宅和小区设施的维修,由所在网格的网格员受理。",
    "inquiry": "政策和办事流程的咨询(如补贴、证明、缴费方式),由网格员答复。",
    "other": "其他诉求和意见建议,由网格员阅办。",
    "bill": "代缴水电燃气等费用。",
    "medicine": "代购药品。",
    "health": "看病就医、社区医生上门。",
    "dispute": "邻里纠纷调解。",
    "emergency": "紧急求助。遇到危险请直接拨打120、119、110。",
    "knock": "独居老人未签到时的上门探访。",
}
# The rules' 'other' words are greetings and thanks (chit-chat), no help in finding a service.
CATEGORY_KEYWORDS = {"other": ("留言", "意见", "建议", "其他")}
KIND_TEXTS = {
    "water": ("供水排水", "漏水、停水、水压低、下水道或马桶堵塞等。"),
    "power": ("电路用电", "停电、跳闸、插座或照明故障等。"),
    "gas": ("燃气灶具", "燃气灶点不着、燃气表故障等。闻到燃气味请立即开窗并拨打119。"),
    "heating": ("供暖", "暖气不热、暖气片漏水等。"),
    "elevator": ("电梯", "电梯停运或故障。有人被困请按电梯内警铃或拨打电梯救援电话。"),
    "other": ("其他维修", "门窗、楼道灯、公共设施等其他维修。"),
}


@dataclass(frozen=True)
class Service:
    """One service: a whole category, or one kind of a category that has kinds."""

    code: str
    category: str
    kind: str | None
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]

    def as_row(self) -> dict[str, object]:
        """The service as GET services lists it, in the spec's field order."""
        return {
            "service_code": self.code,
            "service_name": self.name,
            "description": self.description,
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(self.keywords),
            "group": self.group,
        }


@dataclass(frozen=True)
class _CategoryShape:
    """A public category's kinds, and the kind tickets of no listed kind are filed under."""

    kinds: tuple[str, ...]
    fallback: str | None


class Catalog:
    """The public services, and which service (if any) a ticket belongs to."""

    def __init__(self, services: list[Service], shapes: dict[str, _CategoryShape]) -> None:
        self.services = tuple(services)
        self._by_code = {service.code: service for service in services}
        self._shapes = shapes

    @property
    def categories(self) -> tuple[str, ...]:
        """The public ticket categories."""
        return tuple(self._shapes)

    def get(self, code: str) -> Service | None:
        """The public service with this code; None for private or unknown codes alike."""
        return self._by_code.get(code)

    def service_of(self, category: str, kind: str | None) -> Service | None:
        """The service a ticket is published under, or None when its category is private."""
        shape = self._shapes.get(category)
        if shape is None:
            return None
        if not shape.kinds:
            return self._by_code[category]
        return self._by_code[f"{category}.{kind if kind in shape.kinds else shape.fallback}"]

    def tickets_of(self, services: list[Service]) -> ColumnElement[bool]:
        """SQL condition: tickets published under any of these services."""
        return or_(false(), *(self._condition(service) for service in services))

    def _condition(self, service: Service) -> ColumnElement[bool]:
        shape = self._shapes[service.category]
        same_category = Ticket.category == service.category
        if service.kind is None:
            return same_category
        if service.kind != shape.fallback:
            return and_(same_category, Ticket.kind == service.kind)
        listed = [kind for kind in shape.kinds if kind != shape.fallback]
        return and_(same_category, or_(Ticket.kind.is_(None), Ticket.kind.not_in(listed)))


def build_catalog(settings: Open311Settings, classifier: IntentClassifier) -> Catalog:
    """Services for the categories the settings make public, with kinds and keywords from the rules."""
    services: list[Service] = []
    shapes: dict[str, _CategoryShape] = {}
    for category in settings.public_categories:
        if category not in CATEGORY_LABELS:
            known = ", ".join(CATEGORY_LABELS)
            raise SettingsError(f"open311.public_categories: unknown category {category!r} (known: {known})")
        rules = classifier.categories.get(category)
        label = CATEGORY_LABELS[category]
        description = CATEGORY_DESCRIPTIONS.get(category, f"{label}类诉求。")
        kinds = tuple(kind for kind, _ in rules.kinds) if rules else ()
        if not kinds:
            shapes[category] = _CategoryShape((), None)
            keywords = CATEGORY_KEYWORDS.get(category) or _top_words(rules)
            services.append(Service(category, category, None, label, description, label, keywords))
            continue
        fallback = rules.default_kind if rules and rules.default_kind else "other"
        shapes[category] = _CategoryShape((*kinds, *(() if fallback in kinds else (fallback,))), fallback)
        words = dict(rules.kinds) if rules else {}
        for kind in shapes[category].kinds:
            kind_label, kind_description = KIND_TEXTS.get(kind, (kind, description))
            keywords = tuple(words.get(kind, ()))[:MAX_KEYWORDS] or _top_words(rules)
            services.append(
                Service(
                    f"{category}.{kind}",
                    category,
                    kind,
                    f"{label}:{kind_label}",
                    kind_description,
                    label,
                    keywords,
                )
            )
    return Catalog(services, shapes)


def _top_words(rules: CategoryRules | None) -> tuple[str, ...]:
    """A category's strongest keywords that name none of its kinds, for clients that search by word."""
    if rules is None:
        return ()
    kind_words = {word for _, words in rules.kinds for word in words}
    ranked = sorted(rules.keywords, key=lambda pair: -pair[1])
    return tuple(word for word, _ in ranked if not any(k in word for k in kind_words))[:MAX_KEYWORDS]
