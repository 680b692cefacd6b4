"""Labelled resident messages, and how well a classifier routes them: the figures routing is held to.

A corpus is a TSV file: text <TAB> category <TAB> also-acceptable categories (a comma list, may be
empty); lines starting with # are comments. tests/corpus/ holds GridDesk's own; `run.py routing misses`
writes what staff recategorised in the same shape, ready to add.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.open311.public import public_text
from handlers.language.emergency_model import EmergencyModel, cross_validate, train
from handlers.language.intent_rules import CATEGORIES
from handlers.language.intents import EMERGENCY, FALLBACK, STRONG, IntentClassifier
from handlers.language.normalize import normalize
from handlers.tickets.recategorise import RECATEGORISE
from storage.models import InboundMessage, Ticket, TicketEvent


class CorpusError(ValueError):
    """A corpus line that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    """One labelled message: the expected category and any others that are also fine."""

    text: str
    expected: str
    acceptable: frozenset[str] = frozenset()

    def accepts(self, category: str) -> bool:
        """Right when it is the expected category or one of the also-acceptable ones."""
        return category == self.expected or category in self.acceptable


@dataclass
class Evaluation:
    """Routing figures over one corpus."""

    name: str
    total: int = 0
    right: int = 0
    per_category: Counter[str] = field(default_factory=Counter)
    right_per_category: Counter[str] = field(default_factory=Counter)
    missed: list[tuple[Example, str]] = field(default_factory=list)
    false_alarms: list[Example] = field(default_factory=list)
    wrong: list[tuple[Example, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        """Share routed to an acceptable category."""
        return self.right / self.total if self.total else 1.0

    @property
    def emergencies(self) -> int:
        """Messages labelled emergency."""
        return self.per_category[EMERGENCY]

    @property
    def recall(self) -> float:
        """Share of emergencies routed as emergencies."""
        return 1 - len(self.missed) / self.emergencies if self.emergencies else 1.0

    @property
    def false_alarm_rate(self) -> float:
        """Share of non-emergencies raised to emergency."""
        others = self.total - self.emergencies
        return len(self.false_alarms) / others if others else 0.0

    def summary(self) -> str:
        """One line of headline figures."""
        caught = self.emergencies - len(self.missed)
        others = self.total - self.emergencies
        return (
            f"{self.name}: routed right {self.accuracy:.1%} ({self.right}/{self.total}), "
            f"emergencies caught {self.recall:.1%} ({caught}/{self.emergencies}), "
            f"non-emergencies raised to emergency {self.false_alarm_rate:.1%} "
            f"({len(self.false_alarms)}/{others})"
        )

    def table(self) -> list[str]:
        """Per-category lines: messages, routed right, share."""
        lines = []
        for category in CATEGORIES:
            count = self.per_category[category]
            if count:
                right = self.right_per_category[category]
                lines.append(f"  {category:<10} {right:>4}/{count:<4} {right / count:.1%}")
        return lines


def read_corpus(path: Path) -> list[Example]:
    """Parse a corpus TSV; a malformed line is a CorpusError naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read the corpus: {exc}") from exc
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) not in (2, 3) or not fields[0].strip():
            raise CorpusError(f"{path}:{number}: expected text<TAB>category[<TAB>also-acceptable]")
        expected = fields[1].strip()
        acceptable = frozenset(
            name.strip() for name in (fields[2] if len(fields) == 3 else "").split(",") if name.strip()
        )
        for name in (expected, *acceptable):
            if name not in CATEGORIES:
                raise CorpusError(f"{path}:{number}: unknown category {name!r}")
        examples.append(Example(fields[0].strip(), expected, acceptable))
    return examples


def evaluate(classifier: IntentClassifier, examples: Iterable[Example], name: str) -> Evaluation:
    """Route every example and count what went where."""
    result = Evaluation(name)
    for example in examples:
        got = classifier.classify(example.text).category
        result.total += 1
        result.per_category[example.expected] += 1
        if example.accepts(got):
            result.right += 1
            result.right_per_category[example.expected] += 1
        else:
            result.wrong.append((example, got))
        if example.expected == EMERGENCY and got != EMERGENCY:
            result.missed.append((example, got))
        if got == EMERGENCY and not example.accepts(got):
            result.false_alarms.append(example)
    return result


def corpus_line(text: str, category: str, acceptable: Iterable[str] = ()) -> str:
    """One TSV line, tabs and line breaks in the text folded to spaces."""
    clean = " ".join(text.replace("\t", " ").split())
    return f"{clean}\t{category}\t{','.join(acceptable)}"


# Probabilities the emergency model may be set to call at; the lowest within the false-alarm budget wins.
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
# Where the rules placed another request firmly, the model calls at this or the chosen threshold, whichever
# is higher: everyday requests with an address and a name are where it errs (docs/routing.md).
PLACED_THRESHOLD = 0.9


@dataclass(frozen=True)
class Training:
    """A trained model and what cross-validation said about its threshold."""

    model: EmergencyModel
    lines: tuple[str, ...]


def train_emergency_model(
    rules: IntentClassifier,
    examples: list[Example],
    budget: float,
    placed_threshold: float = PLACED_THRESHOLD,
) -> Training:
    """Train on every example; the threshold is the lowest whose cross-validated extra false alarms fit."""
    samples = [(normalize(example.text), example.expected == EMERGENCY) for example in examples]
    folds = list(cross_validate(samples))
    ruled = [rules.classify(example.text) for example in examples]
    rules_say = [result.category == EMERGENCY for result in ruled]
    placed = [result.category not in (FALLBACK, EMERGENCY) and result.score >= STRONG for result in ruled]
    others = sum(1 for _, label in samples if not label) or 1
    emergencies = len(samples) - others or 1
    lines, chosen = [], THRESHOLDS[-1]
    for threshold in reversed(THRESHOLDS):
        setting = EmergencyModel({}, 0.0, threshold, placed_threshold)
        calls = [(p >= setting.threshold_for(placed[i]), label, i) for p, label, i in folds]
        extra = sum(1 for call, label, i in calls if call and not label and not rules_say[i])
        alone = sum(1 for call, label, _ in calls if call and label)
        lines.append(
            f"threshold {threshold:.2f}: alone catches {alone / emergencies:.1%} of emergencies "
            f"(cross-validated), adds {extra / others:.1%} false alarms to the rules' ({extra}/{others})"
        )
        if extra / others <= budget:
            chosen = threshold
    lines.append(
        f"chosen threshold {chosen:.2f}, {max(chosen, placed_threshold):.2f} where the rules placed a "
        f"request firmly (false-alarm budget {budget:.1%})"
    )
    return Training(train(samples, threshold=chosen, placed_threshold=placed_threshold), tuple(lines))


def recategorised_lines(session: Session, since: date | None = None, timezone: tzinfo = UTC) -> Iterator[str]:
    """Each ticket staff recategorised: the resident's first words and the category it ended in, masked.

    `since` is a day in the community's `timezone`.
    """
    query = (
        select(Ticket)
        .join(TicketEvent, TicketEvent.ticket_id == Ticket.id)
        # An erased ticket's words are gone (docs/privacy.md): nothing to learn from, nothing to print.
        .where(TicketEvent.kind == RECATEGORISE, Ticket.erased_at.is_(None))
        .distinct()
        .order_by(Ticket.id)
    )
    if since is not None:
        query = query.where(TicketEvent.created_at >= datetime.combine(since, time.min, tzinfo=timezone))
    for ticket in session.scalars(query):
        first = session.scalars(
            select(InboundMessage.content)
            .where(InboundMessage.ticket_id == ticket.id, InboundMessage.content.is_not(None))
            .order_by(InboundMessage.received_at, InboundMessage.id)
            .limit(1)
        ).first()
        text = public_text(first or ticket.summary, [ticket.resident.name]) or ""
        if text.strip():
            yield corpus_line(text, ticket.category)
