"""How routing holds up when the same messages come in other writing: the corpus's lines rewritten as
traditional characters, as a voice transcript (no punctuation or spaces, digits read out, a filler in
front), and both at once.

    uv run python -m bench.routing_variants [--corpus FILE ...] [--show N]

For each corpus and each rewriting it prints emergencies caught and non-emergencies raised, beside the
figures for the lines as written. A rewriting that loses emergencies the original catches shows a gap
in normalisation rather than in the rules. Examples are shown for the development corpus only: the
held-out file's texts stay unread (its figures are numbers). Figures, not timings.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

import zhconv

from bot.routing_corpus import Example, read_corpus
from config.settings import load_settings
from handlers.language.intents import EMERGENCY, IntentClassifier, load_classifier

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "corpus"
DEVELOPMENT, HELD_OUT = CORPUS / "routing-development.tsv", CORPUS / "routing-heldout.tsv"
PUNCTUATION = re.compile(r"[\s,。!?、;:,.!?;:…\~~\"'“”‘’()()\[\]【】]+")
DIGIT_WORDS = dict(zip("0123456789", "零一二三四五六七八九", strict=True))


def traditional(text: str) -> str:
    """As a Taiwanese or Hong Kong phone writes it."""
    return zhconv.convert(text, "zh-tw")


def spoken(text: str) -> str:
    """As a speech recogniser gives it: no punctuation or spaces, digits read one by one, a filler first."""
    bare = PUNCTUATION.sub("", text)
    return "喂那个" + "".join(DIGIT_WORDS.get(char, char) for char in bare)


def every_way(text: str) -> str:
    """Traditional, and spoken."""
    return traditional(spoken(text))


REWRITINGS: dict[str, Callable[[str], str]] = {
    "as written": lambda text: text,
    "traditional": traditional,
    "spoken": spoken,
    "traditional + spoken": every_way,
}


def routed(classifier: IntentClassifier, examples: list[Example], rewrite: Callable[[str], str]) -> list[str]:
    """The category of each example, rewritten."""
    return [classifier.classify(rewrite(example.text)).category for example in examples]


def figures(examples: list[Example], got: list[str]) -> str:
    """Emergencies caught and non-emergencies raised, as counts and shares."""
    pairs = list(zip(examples, got, strict=True))
    emergencies = [g for e, g in pairs if e.expected == EMERGENCY]
    others = [g for e, g in pairs if e.expected != EMERGENCY and not e.accepts(EMERGENCY)]
    caught = sum(g == EMERGENCY for g in emergencies)
    raised = sum(g == EMERGENCY for g in others)
    return (
        f"caught {caught / len(emergencies):6.1%} ({caught}/{len(emergencies)}), "
        f"raised {raised / len(others):5.1%} ({raised}/{len(others)})"
    )


def lost(examples: list[Example], before: list[str], after: list[str]) -> list[str]:
    """Emergencies caught as written and missed when rewritten."""
    return [
        example.text
        for example, was, now in zip(examples, before, after, strict=True)
        if example.expected == EMERGENCY and was == EMERGENCY and now != EMERGENCY
    ]


def main(argv: list[str] | None = None) -> int:
    """Print each corpus's figures per rewriting, with lost emergencies shown from the development corpus."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, action="append", help="default: development and held-out")
    parser.add_argument("--show", type=int, default=5, help="lost emergencies shown per rewriting (5)")
    args = parser.parse_args(argv)
    settings = load_settings(environ={})
    classifier = load_classifier(settings.intents_path, settings.emergency_model_path)
    for path in args.corpus or [DEVELOPMENT, HELD_OUT]:
        examples = read_corpus(path)
        as_written = routed(classifier, examples, REWRITINGS["as written"])
        print(f"{path.name}: {len(examples)} messages")
        for name, rewrite in REWRITINGS.items():
            got = as_written if name == "as written" else routed(classifier, examples, rewrite)
            missing = lost(examples, as_written, got)
            print(f"  {name:22} {figures(examples, got)}; lost against as written: {len(missing)}")
            if path != HELD_OUT:
                for text in missing[: args.show]:
                    print(f"      {rewrite(text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
