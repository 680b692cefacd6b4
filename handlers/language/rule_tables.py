"""The tables of an intent rules file (config/intents.toml), checked and compiled into rules.

Every key is checked, so a misspelt one is an error naming the category and rule, never silently
ignored; keywords are stored as messages are matched (normalized), lexicons expanded into patterns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from handlers.language.intent_rules import CATEGORIES, CategoryRules, Family, Rule, Signal
from handlers.language.normalize import fold

# "煤气~漏" in a keyword: the two parts with at most this many characters between them.
GAP = 4
_CATEGORY_KEYS = frozenset(
    {"label", "keywords", "patterns", "ignore", "ignore_patterns", "kinds", "default_kind", "families"}
)
_FAMILY_KEYS = frozenset({"label", "kind", "keywords", "patterns"})
_SIGNAL_KEYS = frozenset({"keywords", "patterns", "ignore"})
SETTINGS_KEYS = frozenset({"order", "emergency_threshold"})
TOP_KEYS = frozenset({"settings", "lexicons", "categories", "signals"})
_LEXICON_REF = re.compile(r"\{([a-z_]+)\}")


class IntentRulesError(ValueError):
    """The routing rules file is malformed; the message names the category and rule."""


def parse_category(name: str, table: Mapping[str, Any], lexicons: Mapping[str, str]) -> CategoryRules:
    """Validate and compile one [categories.<name>] table."""
    where = f"categories.{name}"
    reject_unknown_keys(table, _CATEGORY_KEYS, where)
    default_kind = table.get("default_kind")
    if default_kind is not None and not isinstance(default_kind, str):
        raise IntentRulesError(f"{where}.default_kind: must be a string, got {default_kind!r}")
    own = _family("", None, table, where, lexicons)
    families_table = as_table(table.get("families", {}), f"{where}.families")
    families = tuple(
        _parse_family(
            family, as_table(body, f"{where}.families.{family}"), f"{where}.families.{family}", lexicons
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
        kinds=_kinds(as_table(table.get("kinds", {}), f"{where}.kinds"), f"{where}.kinds"),
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
    reject_unknown_keys(table, _FAMILY_KEYS, where)
    kind = table.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise IntentRulesError(f"{where}.kind: must be a string, got {kind!r}")
    _label(table.get("label", ""), where)
    return _family(name, kind, table, where, lexicons)


def parse_signal(name: str, table: Mapping[str, Any], lexicons: Mapping[str, str]) -> Signal:
    """One [signals.<name>] table."""
    where = f"signals.{name}"
    reject_unknown_keys(table, _SIGNAL_KEYS, where)
    return Signal(_family(name, None, table, where, lexicons), _ignore(table, where))


def _family(
    name: str, kind: str | None, table: Mapping[str, Any], where: str, lexicons: Mapping[str, str]
) -> Family:
    """The keywords and patterns of a table, as one family of rules."""
    prefix = f"{name}:" if name else ""
    keywords = _keywords(
        as_table(table.get("keywords", {}), f"{where}.keywords"), f"{where}.keywords", prefix
    )
    patterns = _patterns(
        as_table(table.get("patterns", {}), f"{where}.patterns"), f"{where}.patterns", prefix, lexicons
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


def compile_lexicons(table: Mapping[str, Any]) -> dict[str, str]:
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


def parse_threshold(value: Any) -> float:
    """settings.emergency_threshold: a positive number."""
    return _weight(value, "settings", "emergency_threshold")


def parse_order(value: Any) -> tuple[str, ...]:
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


def as_table(value: Any, where: str) -> Mapping[str, Any]:
    """A TOML table, or a clear error saying where one was expected."""
    if not isinstance(value, Mapping):
        raise IntentRulesError(f"{where}: must be a table, got {value!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    """A list of strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise IntentRulesError(f"{where}: must be a list of strings, got {value!r}")
    return value


def reject_unknown_keys(table: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    """A misspelt key (keywrods) would otherwise be silently ignored."""
    unknown = sorted(set(table) - known)
    if unknown:
        raise IntentRulesError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
