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

from config.settings import Settings
from handlers.language.emergency_model import EmergencyModel, ModelError, load_model
from handlers.language.normalize import fold, normalize

CATEGORIES = ("emergency", "repair", "bill", "medicine", "health", "dispute", "inquiry", "other")
EMERGENCY = "emergency"
FALLBACK = "other"
DEFAULT_THRESHOLD = 2.0
# A category's points that say it on their own (weights: 3 = says it alone, 2 = strong hint, 1 = weak).
STRONG = 3.0
MIN_EMERGENCY_CONFIDENCE = 0.5
# "煤气~漏" in a keyword: the two parts with at most this many characters between them.
GAP = 4
SIGNALS = ("urgency", "distress")
_CATEGORY_KEYS = frozenset(
    {"label", "keywords", "patterns", "ignore", "ignore_patterns", "kinds", "default_kind", "families"}
)
_FAMILY_KEYS = frozenset({"label", "kind", "keywords", "patterns"})
_SIGNAL_KEYS = frozenset({"keywords", "patterns", "ignore"})
_SETTINGS_KEYS = frozenset({"order", "emergency_threshold"})
_TOP_KEYS = frozenset({"settings", "lexicons", "categories", "signals"})
_LEXICON_REF = re.compile(r"\{([a-z_]+)\}")


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


@dataclass(frozen=True)
class Rule:
    """One keyword or pattern, the name shown when it fires, and its weight."""

    shown: str
    weight: float
    word: str | None = None
    pattern: re.Pattern[str] | None = None

    def hits(self, text: str) -> bool:
        """True when the rule is found in the (normalized) text."""
        if self.word is not None:
            return self.word in text
        assert self.pattern is not None
        return self.pattern.search(text) is not None


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
            if rule.hits(text):
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


class IntentClassifier:
    """Scores a message against every category's rules and picks one."""

    def __init__(self, rules: Mapping[str, Any], model: EmergencyModel | None = None) -> None:
        self.model = model
        _reject_unknown_keys(rules, _TOP_KEYS, "the file")
        settings = _table(rules.get("settings", {}), "settings")
        _reject_unknown_keys(settings, _SETTINGS_KEYS, "settings")
        self.threshold = _threshold(settings.get("emergency_threshold", DEFAULT_THRESHOLD))
        self.order = _order(settings.get("order", list(CATEGORIES)))
        lexicons = _lexicons(_table(rules.get("lexicons", {}), "lexicons"))
        categories = _table(rules.get("categories", {}), "categories")
        for name in categories:
            if name not in CATEGORIES:
                raise IntentRulesError(
                    f"categories.{name}: unknown category (known: {', '.join(CATEGORIES)})"
                )
        self.categories = {
            name: _parse_category(name, _table(categories[name], f"categories.{name}"), lexicons)
            for name in self.order
            if name in categories
        }
        signals = _table(rules.get("signals", {}), "signals")
        _reject_unknown_keys(signals, frozenset(SIGNALS), "signals")
        self.signals = {
            name: _parse_signal(name, _table(signals[name], f"signals.{name}"), lexicons)
            for name in SIGNALS
            if name in signals
        }

    def label(self, category: str) -> str:
        """The Chinese label staff gave a category (the category name when there is none)."""
        rules = self.categories.get(category)
        return rules.label if rules and rules.label else category

    def classify(self, text: str) -> Classification:
        """Classify one resident message."""
        normalized = normalize(text)
        urgent, distressed = (
            name in self.signals and self.signals[name].found(normalized) for name in SIGNALS
        )
        scores = {name: rules.score(normalized) for name, rules in self.categories.items()}
        winner = self._winner(scores)
        second = self._second_opinion(normalized) if winner != EMERGENCY else None
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

    def _second_opinion(self, normalized: str) -> float | None:
        """The model's probability when it calls an emergency the rules did not; else None."""
        if self.model is None or not normalized:
            return None
        probability = self.model.probability(normalized)
        return round(probability, 2) if probability >= self.model.threshold else None

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


def classifier_for(settings: Settings) -> IntentClassifier:
    """The classifier the settings name: the rules file and, unless turned off, the emergency model."""
    return load_classifier(settings.intents_path, settings.emergency_model_path)


def _confidence(scores: Mapping[str, CategoryScore], winner: str) -> float:
    """The winner's share of all the points scored."""
    share = round(scores[winner].total / sum(score.total for score in scores.values()), 2)
    return max(share, MIN_EMERGENCY_CONFIDENCE) if winner == EMERGENCY else share


def _parse_category(name: str, table: Mapping[str, Any], lexicons: Mapping[str, str]) -> CategoryRules:
    """Validate and compile one [categories.<name>] table."""
    where = f"categories.{name}"
    _reject_unknown_keys(table, _CATEGORY_KEYS, where)
    default_kind = table.get("default_kind")
    if default_kind is not None and not isinstance(default_kind, str):
        raise IntentRulesError(f"{where}.default_kind: must be a string, got {default_kind!r}")
    own = _family("", None, table, where, lexicons)
    families_table = _table(table.get("families", {}), f"{where}.families")
    families = tuple(
        _parse_family(
            family, _table(body, f"{where}.families.{family}"), f"{where}.families.{family}", lexicons
        )
        for family, body in families_table.items()
    )
    keywords = tuple(
        (rule.word, rule.weight) for family in (own, *families) for rule in family.rules if rule.word
    )
    _reject_repeats([word for word, _ in keywords], where)
    return CategoryRules(
        name=name,
        label=_label(table.get("label", ""), where),
        keywords=keywords,
        families=(own, *families),
        ignore=_ignore(table, where),
        kinds=_kinds(_table(table.get("kinds", {}), f"{where}.kinds"), f"{where}.kinds"),
        default_kind=default_kind,
        ignore_patterns=tuple(
            rule.pattern
            for rule in _patterns(
                dict.fromkeys(_strings(table.get("ignore_patterns", []), f"{where}.ignore_patterns"), 1),
                f"{where}.ignore_patterns",
                "",
                lexicons,
            )
            if rule.pattern is not None
        ),
    )


def _parse_family(name: str, table: Mapping[str, Any], where: str, lexicons: Mapping[str, str]) -> Family:
    """One [categories.<name>.families.<family>] table."""
    _reject_unknown_keys(table, _FAMILY_KEYS, where)
    kind = table.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise IntentRulesError(f"{where}.kind: must be a string, got {kind!r}")
    _label(table.get("label", ""), where)
    return _family(name, kind, table, where, lexicons)


def _parse_signal(name: str, table: Mapping[str, Any], lexicons: Mapping[str, str]) -> Signal:
    """One [signals.<name>] table."""
    where = f"signals.{name}"
    _reject_unknown_keys(table, _SIGNAL_KEYS, where)
    return Signal(_family(name, None, table, where, lexicons), _ignore(table, where))


def _family(
    name: str, kind: str | None, table: Mapping[str, Any], where: str, lexicons: Mapping[str, str]
) -> Family:
    """The keywords and patterns of a table, as one family of rules."""
    prefix = f"{name}:" if name else ""
    keywords = _keywords(_table(table.get("keywords", {}), f"{where}.keywords"), f"{where}.keywords", prefix)
    patterns = _patterns(
        _table(table.get("patterns", {}), f"{where}.patterns"), f"{where}.patterns", prefix, lexicons
    )
    return Family(name, kind, (*keywords, *patterns))


def _reject_repeats(words: list[str], where: str) -> None:
    """A word listed twice (or 冇反应 beside 没反应, which read the same) would count twice."""
    seen: set[str] = set()
    for word in words:
        if word in seen:
            raise IntentRulesError(f"{where}: keyword {word!r} is listed twice (once normalized)")
        seen.add(word)


def _ignore(table: Mapping[str, Any], where: str) -> tuple[str, ...]:
    """Ignore phrases, longest first."""
    phrases = (_phrase(p, f"{where}.ignore") for p in _strings(table.get("ignore", []), f"{where}.ignore"))
    return tuple(sorted(phrases, key=len, reverse=True))


def _keywords(table: Mapping[str, Any], where: str, prefix: str) -> tuple[Rule, ...]:
    """Keywords in normalized form (so 謝謝 or ＯＫ written by staff still match); "a~b" allows a gap."""
    rules = []
    for word, weight in table.items():
        parts = [_phrase(part, f"{where}.{word!r}") for part in word.split("~")]
        value = _weight(weight, f"{where}.{word!r}")
        if len(parts) == 1:
            rules.append(Rule(prefix + parts[0], value, word=parts[0]))
        else:
            gapped = f".{{0,{GAP}}}".join(re.escape(part) for part in parts)
            rules.append(Rule(prefix + "~".join(parts), value, pattern=re.compile(gapped)))
    return tuple(rules)


def _patterns(
    table: Mapping[str, Any], where: str, prefix: str, lexicons: Mapping[str, str]
) -> tuple[Rule, ...]:
    """Compiled patterns, with {lexicon} references expanded, and their weights."""
    compiled = []
    for source, weight in table.items():
        expanded = _expand(source, lexicons, f"{where}.{source!r}")
        try:
            pattern = re.compile(expanded)
        except re.error as exc:
            raise IntentRulesError(f"{where}.{source!r}: not a valid regular expression: {exc}") from exc
        compiled.append(Rule(prefix + source, _weight(weight, f"{where}.{source!r}"), pattern=pattern))
    return tuple(compiled)


def _expand(source: str, lexicons: Mapping[str, str], where: str) -> str:
    """Replace each {name} with the alternation of that lexicon's words."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in lexicons:
            known = ", ".join(sorted(lexicons)) or "none"
            raise IntentRulesError(f"{where}: unknown lexicon {{{name}}} (known: {known})")
        return lexicons[name]

    return _LEXICON_REF.sub(replace, source)


def _lexicons(table: Mapping[str, Any]) -> dict[str, str]:
    """Each [lexicons] list as a regular-expression alternation, longest words first."""
    compiled = {}
    for name, words in table.items():
        if not re.fullmatch("[a-z_]+", name):
            raise IntentRulesError(f"lexicons.{name}: names are lower-case letters and _")
        phrases = sorted(
            {_phrase(w, f"lexicons.{name}") for w in _strings(words, f"lexicons.{name}")}, key=len
        )
        if not phrases:
            raise IntentRulesError(f"lexicons.{name}: must list at least one word")
        compiled[name] = "(?:" + "|".join(re.escape(p) for p in reversed(phrases)) + ")"
    return compiled


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
