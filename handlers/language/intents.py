"""Rule-based intent classifier: which kind of request a resident's text is.

The rules live in config/intents.toml so community staff can tune them without touching code;
that file's header explains the format (read by rule_tables.py into the rules of intent_rules.py).
A missed emergency is the worst failure this product can have, so emergency is scored first and
wins whenever it reaches its threshold.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from handlers.language.emergency_model import EmergencyModel, ModelError, load_model
from handlers.language.intent_rules import CATEGORIES, CategoryScore
from handlers.language.normalize import normalize
from handlers.language.rule_tables import (
    SETTINGS_KEYS,
    TOP_KEYS,
    IntentRulesError,
    as_table,
    compile_lexicons,
    parse_category,
    parse_order,
    parse_signal,
    parse_threshold,
    reject_unknown_keys,
)

EMERGENCY = "emergency"
FALLBACK = "other"
DEFAULT_THRESHOLD = 2.0
# A category's points that say it on their own (weights: 3 = says it alone, 2 = strong hint, 1 = weak).
STRONG = 3.0
MIN_EMERGENCY_CONFIDENCE = 0.5
SIGNALS = ("urgency", "distress")
# Texts whose classification a process keeps: a burst's worth, a few hundred kilobytes.
RECENT_TEXTS = 1024


@dataclass(frozen=True)
class Classification:
    """What a message was classified as, and why."""

    text: str
    category: str
    confidence: float
    matched: tuple[str, ...]
    kind: str | None
    # Cues that a person is pressing ("急", "快点") or in distress ("怎么办", "害怕"), whatever the category.
    urgent: bool = False
    distressed: bool = False
    # The winning category's points: a weak inquiry ("怎么办") does not outweigh distress.
    score: float = 0.0

    @property
    def is_chat(self) -> bool:
        """Chit-chat such as thanks or a greeting: 'other', but something did match."""
        return self.category == FALLBACK and bool(self.matched)

    @property
    def possible_emergency(self) -> bool:
        """Nothing placed it (or only a weak question), but it carries urgency or distress."""
        if self.category == FALLBACK:
            return self.urgent or self.distressed
        return self.category == "inquiry" and self.distressed and self.score < STRONG

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary, with the rules that fired."""
        return {
            "text": self.text,
            "category": self.category,
            "kind": self.kind,
            "confidence": self.confidence,
            "matched": list(self.matched),
            "urgent": self.urgent,
            "distressed": self.distressed,
            "possible_emergency": self.possible_emergency,
        }


class IntentClassifier:
    """Scores a message against every category's rules and picks one."""

    def __init__(self, rules: Mapping[str, Any], model: EmergencyModel | None = None) -> None:
        self.model = model
        # The web process classifies a message before it takes the write lock (bot/app.py) and the
        # router asks again inside it: the second answer comes from here. Classifications are frozen.
        self.classify: Callable[[str], Classification] = lru_cache(maxsize=RECENT_TEXTS)(self._classify)
        reject_unknown_keys(rules, TOP_KEYS, "the file")
        settings = as_table(rules.get("settings", {}), "settings")
        reject_unknown_keys(settings, SETTINGS_KEYS, "settings")
        self.threshold = parse_threshold(settings.get("emergency_threshold", DEFAULT_THRESHOLD))
        self.order = parse_order(settings.get("order", list(CATEGORIES)))
        lexicons = compile_lexicons(as_table(rules.get("lexicons", {}), "lexicons"))
        categories = as_table(rules.get("categories", {}), "categories")
        for name in categories:
            if name not in CATEGORIES:
                raise IntentRulesError(
                    f"categories.{name}: unknown category (known: {', '.join(CATEGORIES)})"
                )
        self.categories = {
            name: parse_category(name, as_table(categories[name], f"categories.{name}"), lexicons)
            for name in self.order
            if name in categories
        }
        signals = as_table(rules.get("signals", {}), "signals")
        reject_unknown_keys(signals, frozenset(SIGNALS), "signals")
        self.signals = {
            name: parse_signal(name, as_table(signals[name], f"signals.{name}"), lexicons)
            for name in SIGNALS
            if name in signals
        }

    def label(self, category: str) -> str:
        """The Chinese label staff gave a category (the category name when there is none)."""
        rules = self.categories.get(category)
        return rules.label if rules and rules.label else category

    def _classify(self, text: str) -> Classification:
        """Classify one resident message."""
        normalized = normalize(text)
        urgent, distressed = (
            name in self.signals and self.signals[name].found(normalized) for name in SIGNALS
        )
        scores = {name: rules.score(normalized) for name, rules in self.categories.items()}
        winner = self._winner(scores)
        second = self._second_opinion(normalized, _placed(scores, winner)) if winner != EMERGENCY else None
        if second is not None and EMERGENCY in self.categories:
            rules = self.categories[EMERGENCY]
            kind = rules.kind_of(scores[EMERGENCY], self.threshold)
            matched = (f"model:{second:.2f}", *scores[EMERGENCY].matched)
            return Classification(text, EMERGENCY, second, matched, kind, urgent, distressed)
        if winner is None:
            return Classification(text, FALLBACK, 0.0, (), None, urgent, distressed)
        confidence = _confidence(scores, winner)
        score = scores[winner]
        kind = self.categories[winner].kind_of(score, self.threshold)
        return Classification(text, winner, confidence, score.matched, kind, urgent, distressed, score.total)

    def _second_opinion(self, normalized: str, placed: bool) -> float | None:
        """The model's probability when it calls an emergency the rules did not; else None."""
        if self.model is None or not normalized:
            return None
        probability = self.model.probability(normalized)
        return round(probability, 2) if probability >= self.model.threshold_for(placed) else None

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


def load_classifier(path: Path, model_path: Path | None = None) -> IntentClassifier:
    """Build the classifier from a rules file such as config/intents.toml, and the model if given."""
    try:
        rules = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise IntentRulesError(f"{path}: not valid TOML: {exc}") from exc
    try:
        model = load_model(model_path) if model_path is not None else None
    except ModelError as exc:
        raise IntentRulesError(str(exc)) from exc
    try:
        return IntentClassifier(rules, model)
    except IntentRulesError as exc:
        raise IntentRulesError(f"{path}: {exc}") from exc


class ClassifierFiles(Protocol):
    """Where the settings keep the rules and the model (config.settings.Settings has both)."""

    @property
    def intents_path(self) -> Path: ...

    @property
    def emergency_model_path(self) -> Path | None: ...


def classifier_for(settings: ClassifierFiles) -> IntentClassifier:
    """The classifier the settings name: the rules file and, unless turned off, the emergency model."""
    return load_classifier(settings.intents_path, settings.emergency_model_path)


def _placed(scores: Mapping[str, CategoryScore], winner: str | None) -> bool:
    """The rules placed a request firmly: a category other than chit-chat, with points that say it alone."""
    # Chit-chat never counts: farewells hide in thanks ("谢谢你们这些年照顾我").
    return winner not in (None, EMERGENCY, FALLBACK) and scores[winner].total >= STRONG


def _confidence(scores: Mapping[str, CategoryScore], winner: str) -> float:
    """The winner's share of all the points scored."""
    share = round(scores[winner].total / sum(score.total for score in scores.values()), 2)
    return max(share, MIN_EMERGENCY_CONFIDENCE) if winner == EMERGENCY else share
