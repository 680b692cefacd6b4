"""How long classifying one resident message takes: every corpus message, several rounds, in one thread.

    uv run python -m bench.routing [--rounds N]

Prints the time per message (mean, median, 99th percentile, worst) for the rules alone and for the
rules with the emergency model, as the service runs them. The goal is under 1 ms per message.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bot.routing_corpus import read_corpus
from config.settings import load_settings
from handlers.language.intents import IntentClassifier, classifier_for, load_classifier

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"


def timings(classifier: IntentClassifier, texts: list[str], rounds: int) -> list[float]:
    """Seconds per classification, every text once per round."""
    spent = []
    for _ in range(rounds):
        for text in texts:
            start = time.perf_counter()
            classifier.classify(text)
            spent.append(time.perf_counter() - start)
    return spent


def line(name: str, spent: list[float]) -> str:
    """One row of the table, in microseconds."""
    ordered = sorted(spent)
    figures = {
        "mean": statistics.fmean(spent),
        "median": statistics.median(spent),
        "p99": ordered[int(len(ordered) * 0.99)],
        "max": ordered[-1],
    }
    return f"{name:<22}" + "".join(f"  {label} {seconds * 1e6:7.0f} µs" for label, seconds in figures.items())


def main(argv: list[str] | None = None) -> int:
    """Time both classifiers over the corpus and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    texts = [example.text for path in sorted(CORPUS.glob("routing-*.tsv")) for example in read_corpus(path)]
    settings = load_settings(environ={})
    rules, shipped = load_classifier(settings.intents_path), classifier_for(settings)
    for classifier in (rules, shipped):
        timings(classifier, texts[:50], 1)  # warm up: zhconv's dictionary, compiled patterns
    print(f"{len(texts)} messages x {args.rounds} rounds, one thread")
    print(line("rules alone", timings(rules, texts, args.rounds)))
    print(line("rules and model", timings(shipped, texts, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
