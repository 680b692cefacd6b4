"""Rule-based intent classifier: which kind of request a resident's text is.

The rules live in config/intents.toml so community staff can tune them without touching code;
that file's header explains the format. A missed emergency is the worst failure this product can
have, so emergency is scored first and wins whenever it reaches its threshold.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.normalize import fold, normalize

CATEGORIES = ("emergency", "repair", "bill", "medicine", "health", "dispute", "inquiry", "other")
EMERGENCY = "emergency"
FALLBACK = "other"
DEFAULT_THRESHOLD = 2.0
MIN_EMERGENCY_CONFIDENCE = 0.5
_CATEGORY_KEYS = frozenset({"label", "keywords", "patterns", "ignore", "kinds", "default_kind"})
_SETTINGS_KEYS = frozenset({"order", "emergency_threshold"})


class IntentRulesError(ValueError):
    """The routing rules file is malformed; the message names the category and rule."""


@dataclass(frozen=True)
class Classification:
    """What a message was classified as, and why."""

    text: str
    category: str
    confidence: float
    matched: tuple[str, ...]
    kind: str | None

    @property
    def is_chat(self) -> bool:
        """Chit-chat such as thanks or a greeting: 'other', but something did match."""
        return self.category == FALLBACK and bool(self.matched)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {
            "text": self.text,
            "category": self.category,
            "confidence": self.confidence,
            "matched": list(self.matched),
        }


@dataclass(frozen=True)
class CategoryScore:
    """One category's score for one message."""

    total: float
    matched: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class CategoryRules:
    """The parsed rules of one category."""

    name: str
    label: str
    keywords: tuple[tuple[str, float], ...]
    patterns: tuple[tuple[re.Pattern[str], float], ...]
    ignore: tuple[str, ...]
    kinds: tuple[tuple[str, tuple[str, ...]], ...]
    default_kind: str | None

    def score(self, normalized: str) -> CategoryScore:
        """Weights of the keywords and patterns found once the ignored phrases are cut out."""
        text = self.strip_ignored(normalized)
        total, matched = 0.0, []
        for keyword, weight in self.keywords:
            if keyword in text:
                total += weight
                matched.append(keyword)
        for pattern, weight in self.patterns:
            if pattern.search(text):
                total += weight
                matched.append(pattern.pattern)
        return CategoryScore(total, tuple(matched), text)

    def strip_ignored(self, normalized: str) -> str:
        """The text without this category's ignore phrases (longest first, so 水电费 goes before 电费)."""
        for phrase in self.ignore:
            normalized = normalized.replace(phrase, "")
        return normalized

    def kind_of(self, text: str) -> str | None:
        """The first kind with a word in the text, else the default kind."""
        for kind, words in self.kinds:
            if any(word in text for word in words):
                return kind
        return self.default_kind


class IntentClassifier:
    """Scores a message against every category's rules and picks one."""

    def __init__(self, rules: Mapping[str, Any]) -> None:
        settings = _table(rules.get("settings", {}), "settings")
        _reject_unknown_keys(settings, _SETTINGS_KEYS, "settings")
        self.threshold = _threshold(settings.get("emergency_threshold", DEFAULT_THRESHOLD))
        self.order = _order(settings.get("order", list(CATEGORIES)))
        categories = _table(rules.get("categories", {}), "categories")
        for name in categories:
            if name not in CATEGORIES:
                raise IntentRulesError(
                    f"categories.{name}: unknown category (known: {', '.join(CATEGORIES)})"
                )
        self.categories = {
            name: _parse_category(name, _table(categories[name], f"categories.{name}"))
            for name in self.order
            if name in categories
        }

    def label(self, category: str) -> str:
        """The Chinese label staff gave a category (the category name when there is none)."""
        rules = self.categories.get(category)
        return rules.label if rules and rules.label else category

    def classify(self, text: str) -> Classification:
        """Classify one resident message."""
        normalized = normalize(text)
        scores = {name: rules.score(normalized) for name, rules in self.categories.items()}
        winner = self._winner(scores)
        if winner is None:
            return Classification(text, FALLBACK, 0.0, (), None)
        confidence = _confidence(scores, winner)
        score = scores[winner]
        kind = self.categories[winner].kind_of(score.text)
        return Classification(text, winner, confidence, score.matched, kind)

    def _winner(self, scores: Mapping[str, CategoryScore]) -> str | None:
        """Emergency at or over its threshold; else the best of the rest, ties by settings.order."""
        emergency = scores.get(EMERGENCY)
        if emergency is not None and emergency.total >= self.threshold:
            return EMERGENCY
        best: str | None = None
        for name, score in scores.items():
            if name != EMERGENCY and score.total > 0 and (best is None or score.total > scores[best].total):
                best = name
        return best


def load_classifier(path: Path) -> IntentClassifier:
    """Build the classifier from a rules file such as config/intents.toml."""
    try:
        rules = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise IntentRulesError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return IntentClassifier(rules)
    except IntentRulesError as exc:
        raise IntentRulesError(f"{path}: {exc}") from exc


def _confidence(scores: Mapping[str, CategoryScore], winner: str) -> float:
    """The winner's share of all the points scored."""
    share = round(scores[winner].total / sum(score.total for score in scores.values()), 2)
    return max(share, MIN_EMERGENCY_CONFIDENCE) if winner == EMERGENCY else share


def _parse_category(name: str, table: Mapping[str, Any]) -> CategoryRules:
    """Validate and compile one [categories.<name>] table."""
    where = f"categories.{name}"
    _reject_unknown_keys(table, _CATEGORY_KEYS, where)
    default_kind = table.get("default_kind")
    if default_kind is not None and not isinstance(default_kind, str):
        raise IntentRulesError(f"{where}.default_kind: must be a string, got {default_kind!r}")
    ignore = (
        _phrase(phrase, f"{where}.ignore") for phrase in _strings(table.get("ignore", []), f"{where}.ignore")
    )
    return CategoryRules(
        name=name,
        label=_label(table.get("label", ""), where),
        keywords=_keywords(_table(table.get("keywords", {}), f"{where}.keywords"), f"{where}.keywords"),
        patterns=_patterns(_table(table.get("patterns", {}), f"{where}.patterns"), f"{where}.patterns"),
        ignore=tuple(sorted(ignore, key=len, reverse=True)),
        kinds=_kinds(_table(table.get("kinds", {}), f"{where}.kinds"), f"{where}.kinds"),
        default_kind=default_kind,
    )


def _keywords(table: Mapping[str, Any], where: str) -> tuple[tuple[str, float], ...]:
    """Keywords in normalized form (so 謝謝 or ＯＫ written by staff still match) with their weights."""
    return tuple(
        (_phrase(word, where), _weight(weight, f"{where}.{word!r}")) for word, weight in table.items()
    )


def _patterns(table: Mapping[str, Any], where: str) -> tuple[tuple[re.Pattern[str], float], ...]:
    """Compiled patterns with their weights."""
    compiled = []
    for source, weight in table.items():
        try:
            pattern = re.compile(source)
        except re.error as exc:
            raise IntentRulesError(f"{where}.{source!r}: not a valid regular expression: {exc}") from exc
        compiled.append((pattern, _weight(weight, f"{where}.{source!r}")))
    return tuple(compiled)


def _kinds(table: Mapping[str, Any], where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Kinds in file order, each with its normalized words."""
    return tuple(
        (kind, tuple(_phrase(word, f"{where}.{kind}") for word in _strings(words, f"{where}.{kind}")))
        for kind, words in table.items()
    )


def _phrase(text: str, where: str) -> str:
    """A staff-written word in the form messages are matched in; refuses words that vanish."""
    folded = fold(text)
    if not folded:
        raise IntentRulesError(f"{where}: {text!r} is empty once spaces and punctuation are removed")
    return folded


def _weight(value: Any, where: str, what: str = "weight") -> float:
    """A positive, finite number (TOML booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IntentRulesError(f"{where}: {what} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise IntentRulesError(f"{where}: {what} must be a positive number, got {value!r}")
    return float(value)


def _threshold(value: Any) -> float:
    """settings.emergency_threshold: a positive number."""
    return _weight(value, "settings", "emergency_threshold")


def _order(value: Any) -> tuple[str, ...]:
    """settings.order: known categories without repeats; any left out are appended in the usual order."""
    names = _strings(value, "settings.order")
    for name in names:
        if name not in CATEGORIES:
            raise IntentRulesError(
                f"settings.order: unknown category {name!r} (known: {', '.join(CATEGORIES)})"
            )
    if len(set(names)) != len(names):
        raise IntentRulesError(f"settings.order: a category is listed twice: {names}")
    return (*names, *(name for name in CATEGORIES if name not in names))


def _label(value: Any, where: str) -> str:
    """A category's display label."""
    if not isinstance(value, str):
        raise IntentRulesError(f"{where}.label: must be a string, got {value!r}")
    return value


def _table(value: Any, where: str) -> Mapping[str, Any]:
    """A TOML table, or a clear error saying where one was expected."""
    if not isinstance(value, Mapping):
        raise IntentRulesError(f"{where}: must be a table, got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    """A list of strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise IntentRulesError(f"{where}: must be a list of strings, got {value!r}")
    return value


def _reject_unknown_keys(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    """A misspelt key (keywrods) would otherwise be silently ignored."""
    unknown = sorted(set(table) - known)
    if unknown:
        raise IntentRulesError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
