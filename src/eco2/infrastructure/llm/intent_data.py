"""Labelled intent examples: loading the packaged training and held-out evaluation splits."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eco2.domain.intents import Intent
from eco2.infrastructure.data import data_path

TRAIN_FILE = "intents_train.jsonl"
EVAL_FILE = "intents_eval.jsonl"


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    """A message and its intents, primary first."""

    text: str
    intents: tuple[Intent, ...]


def load_examples(path: Path | str) -> list[LabelledMessage]:
    """Load a JSONL file of ``{"text", "intents"}`` objects (a packaged name or a path).

    Raises:
        ValueError: naming the line of a malformed or unlabelled example.
    """
    resolved = Path(path) if Path(path).exists() else data_path(str(path))
    examples = []
    with resolved.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                intents = tuple(Intent(label) for label in raw["intents"])
                text = str(raw["text"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{resolved.name}:{number}: {exc}") from exc
            if not intents or not text.strip():
                raise ValueError(f"{resolved.name}:{number}: empty text or intents")
            examples.append(LabelledMessage(text, intents))
    return examples
