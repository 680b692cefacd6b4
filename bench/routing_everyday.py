"""How many everyday messages the emergency model would raise, at each threshold it may be set to.

    uv run python -m bench.routing_everyday [--model PATH] [--show N]

The corpus's non-emergencies are near-misses written to be hard; this counts the other side: every string
literal with a Chinese character (under 200 characters) in tests/, which are mostly resident messages
written for the tests ("3号楼2单元301水管漏了,找张秀兰,1380..."). Of those the rules place elsewhere than
emergency, it prints how many the model raises with one threshold everywhere and with 0.9 kept where the
rules placed a request firmly (docs/routing.md, "Why 0.8 and 0.9"). Figures, not timings.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import replace
from pathlib import Path

from bot.routing_corpus import PLACED_THRESHOLD, THRESHOLDS
from config.settings import load_settings
from handlers.language.emergency_model import load_model
from handlers.language.intents import EMERGENCY, IntentClassifier, load_classifier

TESTS = Path(__file__).resolve().parents[1] / "tests"
CHINESE = re.compile(r"[\u4e00-\u9fff]")
LONGEST = 200


def test_strings(folder: Path) -> list[str]:
    """Every short string literal with a Chinese character in the folder's Python files, once each."""
    found: set[str] = set()
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            value = getattr(node, "value", None) if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and len(value) < LONGEST and CHINESE.search(value):
                found.add(value)
    return sorted(found)


def raised(classifier: IntentClassifier, texts: list[str]) -> list[str]:
    """The texts the classifier calls an emergency."""
    return [text for text in texts if classifier.classify(text).category == EMERGENCY]


def main(argv: list[str] | None = None) -> int:
    """Count, per setting, the everyday messages raised; show the first few at each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="default: the shipped config/emergency-model.json")
    parser.add_argument("--show", type=int, default=3, help="messages shown per setting (3)")
    args = parser.parse_args(argv)
    settings = load_settings(environ={})
    model = load_model(args.model or settings.emergency_model_path or Path("config/emergency-model.json"))
    rules = load_classifier(settings.intents_path)
    texts = test_strings(TESTS)
    elsewhere = [text for text in texts if rules.classify(text).category != EMERGENCY]
    print(f"{len(texts)} strings in tests/, {len(elsewhere)} placed elsewhere by the rules")
    for placed in (None, PLACED_THRESHOLD):
        for threshold in THRESHOLDS:
            classifier = load_classifier(settings.intents_path)
            classifier.model = replace(model, threshold=threshold, placed_threshold=placed)
            hits = raised(classifier, elsewhere)
            shown = " | ".join(" ".join(text.split()) for text in hits[: args.show])
            where_placed = max(threshold, placed or 0)
            print(f"threshold {threshold:.2f}, {where_placed:.2f} where placed: {len(hits)}  {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
