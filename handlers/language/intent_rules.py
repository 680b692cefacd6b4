"""The compiled intent rules and how each scores a text: keywords, patterns, families, categories, signals."""

from __future__ import annotations

import re
from dataclasses import dataclass

CATEGORIES = ("emergency", "repair", "bill", "medicine", "health", "dispute", "inquiry", "other")


@dataclass(frozen=True)
class Rule:
    """One keyword or pattern, the name shown when it fires (found in the normalized text), and its weight."""

    shown: str
    weight: float
    word: str | None = None
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Family:
    """A group of rules about one hazard or need (falls, fire, gas...), with the kind it implies."""

    name: str
    kind: str | None
    rules: tuple[Rule, ...]

    def score(self, text: str) -> tuple[float, list[str]]:
        """The sum of the weights that fire, and what fired."""
        total, matched = 0.0, []
        for rule in self.rules:
            # Inline rather than a method of Rule: every text meets several hundred rules, and a call
            # each was an eighth of a new ticket's Python calls.
            if rule.word is not None:
                found = rule.word in text
            else:
                assert rule.pattern is not None
                found = rule.pattern.search(text) is not None
            if found:
                total += rule.weight
                matched.append(rule.shown)
        return total, matched


@dataclass(frozen=True)
class CategoryScore:
    """One category's score for one message."""

    total: float
    matched: tuple[str, ...]
    text: str
    family_totals: tuple[tuple[Family, float], ...] = ()


@dataclass(frozen=True)
class CategoryRules:
    """The parsed rules of one category."""

    name: str
    label: str
    keywords: tuple[tuple[str, float], ...]
    families: tuple[Family, ...]
    ignore: tuple[str, ...]
    kinds: tuple[tuple[str, tuple[str, ...]], ...]
    default_kind: str | None
    ignore_patterns: tuple[re.Pattern[str], ...] = ()

    def score(self, normalized: str) -> CategoryScore:
        """Weights of the rules found once the ignored phrases are cut out."""
        text = self.strip_ignored(normalized)
        total, matched, family_totals = 0.0, [], []
        for family in self.families:
            points, fired = family.score(text)
            if points:
                total += points
                matched.extend(fired)
                family_totals.append((family, points))
        return CategoryScore(total, tuple(matched), text, tuple(family_totals))

    def strip_ignored(self, normalized: str) -> str:
        """The text without its ignore phrases (longest first: 水电费 before 电费), then ignore patterns."""
        for phrase in self.ignore:
            normalized = normalized.replace(phrase, "")
        for pattern in self.ignore_patterns:
            normalized = pattern.sub("", normalized)
        return normalized

    def kind_of(self, score: CategoryScore, strong: float) -> str | None:
        """The first kind with a word in the text; else the first family at `strong` or the top one."""
        for kind, words in self.kinds:
            if any(word in score.text for word in words):
                return kind
        with_kind = [(family, points) for family, points in score.family_totals if family.kind]
        for family, points in with_kind:
            if points >= strong:
                return family.kind
        if with_kind:
            return max(with_kind, key=lambda pair: pair[1])[0].kind
        return self.default_kind


@dataclass(frozen=True)
class Signal:
    """Cues read from every message whatever its category: urgency or distress."""

    family: Family
    ignore: tuple[str, ...]

    def found(self, normalized: str) -> bool:
        """True when a cue fires once the signal's ignore phrases are cut out."""
        for phrase in self.ignore:
            normalized = normalized.replace(phrase, "")
        return self.family.score(normalized)[0] > 0
