"""A second opinion on emergencies: logistic regression over character n-grams, small enough to ship.

The rules in config/intents.toml are what staff read and edit; they catch what they were written
for. This model, trained by `run.py routing train` on the labelled corpus in tests/corpus/, has seen
how residents describe danger in many more words, and raises a message to emergency when it is sure
enough and the rules were not. Pure Python and a JSON file of weights: nothing to download.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

NGRAMS = (1, 2, 3)
# 2: a phone number (five numerals or more, digits or Chinese) is one "#" (version 1 read its digits).
FORMAT_VERSION = 2
# Read out in Chinese, a phone number's 一 二 三 looked like the words of a fall or a fire to the model.
LONG_NUMBER = re.compile(r"[0-9零〇一二三四五六七八九幺两]{5,}")
# Ten times version 2's: with batches 12-14 in the corpus, the weaker penalty let everyday n-grams (了, 电话,
# 漏) add up to an emergency in a plain "3号楼2单元301水管漏了,电话1380..."; cross-validated, it also
# raises fewer of the corpus's near-misses for as many emergencies caught (docs/routing.md). Doubled after
# batches 22-24: cross-validated on 5,158 messages it adds 13 false alarms at 0.8/0.9 against 16, and catches
# as many of the rules' misses (71 of 73); on the tests' everyday strings it raises fewer (docs/routing.md).
# Doubled again after batches 26-28: on 5,908 messages it adds 12 false alarms at 0.8/0.9 against 14 for as
# many of the rules' misses caught (57 of 57), and raises 2 of the tests' everyday strings against 6.
L2 = 4e-3
# Weights smaller than this are dropped when saving: they change no decision and triple the file.
KEEP_ABOVE = 0.05


class ModelError(ValueError):
    """The model file is missing, unreadable or of another format; the message names it."""


def features(normalized: str) -> set[str]:
    """The character 1-, 2- and 3-grams of normalized text, a phone number counting as one mark."""
    text = LONG_NUMBER.sub("#", normalized)
    return {text[i : i + n] for n in NGRAMS for i in range(len(text) - n + 1)}


@dataclass(frozen=True)
class EmergencyModel:
    """Weights per n-gram, a bias, and the probabilities at which it calls an emergency."""

    weights: dict[str, float]
    bias: float
    threshold: float
    # Where the rules placed another request firmly ("3号楼301水管漏了,电话1380..." is a repair): the
    # model must be surer there, since such requests carry the addresses and names it confuses with
    # danger. None: the same threshold everywhere.
    placed_threshold: float | None = None

    def threshold_for(self, placed: bool) -> float:
        """The probability that calls an emergency, for a message the rules placed firmly or not."""
        if placed and self.placed_threshold is not None:
            return max(self.threshold, self.placed_threshold)
        return self.threshold

    def probability(self, normalized: str) -> float:
        """How likely the (normalized) message is an emergency, 0 to 1."""
        score = self.bias + sum(self.weights.get(gram, 0.0) for gram in features(normalized))
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, score))))

    def save(self, path: Path) -> None:
        """Write the model as JSON, dropping the weights too small to matter."""
        kept = {gram: round(w, 3) for gram, w in sorted(self.weights.items()) if abs(w) >= KEEP_ABOVE}
        body = {
            "format": FORMAT_VERSION,
            "bias": round(self.bias, 4),
            "threshold": self.threshold,
            **({} if self.placed_threshold is None else {"placed_threshold": self.placed_threshold}),
            "weights": kept,
        }
        path.write_text(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def load_model(path: Path) -> EmergencyModel:
    """Read a model written by EmergencyModel.save."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: cannot read the emergency model: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT_VERSION:
        raise ModelError(f"{path}: not an emergency model of format {FORMAT_VERSION}")
    try:
        weights = {str(gram): float(w) for gram, w in body["weights"].items()}
        threshold = float(body["threshold"])
        placed = body.get("placed_threshold")
        placed_threshold = None if placed is None else float(placed)
        bias = float(body["bias"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelError(f"{path}: malformed emergency model: {exc}") from exc
    for name, value in (("threshold", threshold), ("placed_threshold", placed_threshold)):
        if value is not None and not 0 < value < 1:
            raise ModelError(f"{path}: {name} must be between 0 and 1, got {value}")
    return EmergencyModel(weights, bias, threshold, placed_threshold)


def train(
    samples: Sequence[tuple[str, bool]],
    *,
    threshold: float,
    placed_threshold: float | None = None,
    epochs: int = 40,
    rate: float = 0.2,
    l2: float = L2,
    seed: int = 7,
) -> EmergencyModel:
    """Fit by stochastic gradient descent on (normalized text, is emergency); same data, same model."""
    data = [(features(text), 1.0 if label else 0.0) for text, label in samples]
    weights: dict[str, float] = {}
    bias = 0.0
    shuffler = random.Random(seed)
    for _ in range(epochs):
        shuffler.shuffle(data)
        for grams, target in data:
            score = bias + sum(weights.get(gram, 0.0) for gram in grams)
            error = 1 / (1 + math.exp(-max(-30.0, min(30.0, score)))) - target
            bias -= rate * error
            for gram in grams:
                weight = weights.get(gram, 0.0)
                weights[gram] = weight - rate * (error + l2 * weight)
    return EmergencyModel(weights, bias, threshold, placed_threshold)


def cross_validate(
    samples: Sequence[tuple[str, bool]], folds: int = 5, seed: int = 1
) -> Iterable[tuple[float, bool, int]]:
    """(probability from a model that never saw it, label, index) for every sample."""
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    for fold in range(folds):
        held = set(order[fold::folds])
        model = train([samples[i] for i in order if i not in held], threshold=0.5)
        for i in sorted(held):
            yield model.probability(samples[i][0]), samples[i][1], i
