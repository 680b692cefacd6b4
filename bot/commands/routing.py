"""`classify` and `routing` (check, train, misses): how well messages are routed."""

from __future__ import annotations

import argparse
import json
import sys
from zoneinfo import ZoneInfo

from bot.bootstrap import bootstrap
from bot.commands.runtime import open_for_reading, shown_path
from bot.routing_corpus import evaluate, read_corpus, recategorised_lines, train_emergency_model
from config.settings import PROJECT_ROOT, Settings
from handlers.language.intents import IntentClassifier, load_classifier
from storage.db import transaction


def classify_command(settings: Settings, args: argparse.Namespace) -> int:
    """Print the classification of each text as one JSON object a line."""
    classifier: IntentClassifier = bootstrap(settings).classifier
    texts = args.text or (line.rstrip("\n") for line in sys.stdin)
    for text in texts:
        if text.strip():
            print(json.dumps(classifier.classify(text).as_dict(), ensure_ascii=False), flush=True)
    return 0


CORPUS_DIR = PROJECT_ROOT / "tests" / "corpus"


DEVELOPMENT_CORPUS = CORPUS_DIR / "routing-development.tsv"


HELDOUT_CORPUS = CORPUS_DIR / "routing-heldout.tsv"


def routing_command(settings: Settings, args: argparse.Namespace) -> int:
    """Routing quality: figures on labelled corpora, train the emergency model, list staff's corrections."""
    if args.action == "check":
        classifier = bootstrap(settings).classifier
        for path in args.corpus or [DEVELOPMENT_CORPUS, HELDOUT_CORPUS]:
            evaluation = evaluate(classifier, read_corpus(path), path.name)
            print(evaluation.summary())
            print("\n".join(evaluation.table()))
        return 0
    if args.action == "train":
        rules = load_classifier(settings.intents_path)
        examples = [example for path in args.corpus or [DEVELOPMENT_CORPUS] for example in read_corpus(path)]
        training = train_emergency_model(rules, examples, args.budget, args.placed_threshold)
        print("\n".join(training.lines))
        out = args.out or settings.emergency_model_path or PROJECT_ROOT / "config" / "emergency-model.json"
        training.model.save(out)
        print(
            f"wrote {shown_path(out)} ({out.stat().st_size // 1024} KiB, trained on {len(examples)} messages)"
        )
        return 0
    runtime = open_for_reading(settings)
    try:
        with transaction(runtime.factory) as session:
            for line in recategorised_lines(session, args.since, ZoneInfo(settings.timezone)):
                print(line)
    finally:
        runtime.close()  # called in-process too (tests, scripts): no connection left open
    return 0
