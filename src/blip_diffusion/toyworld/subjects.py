"""Toy-world subjects: one fixed combination of class and identity attributes, like one particular dog.

A subject is named by its class word ("star") and carries what the class word does not say: a body
colour, an accent colour (its border and pattern marks), a surface pattern and a finish. The size
of a subject in a picture is part of its pose, not of its identity.

The ToyBench split is a fixed rule on (class, body colour, accent colour, pattern): the keys whose
SHA-256 starts with a byte divisible by 8 (about one in eight) are held out, so a held-out subject
never occurs in any training set in any finish, while every single attribute value and every pair of
values still does.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

# Ordinary words that a CLIP-style tokenizer keeps whole; the order fixes the oracle's label ids.
CLASSES: tuple[str, ...] = ("star", "ball", "box", "kite", "heart", "moon", "ring", "cup", "bell", "fish")
COLOURS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "white", "black")
PATTERNS: tuple[str, ...] = ("solid", "striped", "dotted", "checkered", "gradient")
FINISHES: tuple[str, ...] = ("matte", "shiny")
SIZES: tuple[str, ...] = ("small", "medium", "large")

# sRGB of each colour word, in [0, 1]; far enough apart to survive the lighting jitter of a photo.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.08, 0.10),
    "orange": (1.0, 0.50, 0.0),
    "yellow": (0.98, 0.92, 0.15),
    "green": (0.12, 0.65, 0.18),
    "blue": (0.10, 0.30, 0.95),
    "purple": (0.50, 0.12, 0.62),
    "pink": (1.0, 0.45, 0.78),
    "white": (0.97, 0.97, 0.97),
    "black": (0.06, 0.06, 0.06),
}

# The identity attributes in the order the oracle reads them.
IDENTITY_ATTRIBUTES: tuple[str, ...] = ("class_name", "colour", "accent", "pattern", "finish")
HELD_OUT_MODULUS = 8


@dataclasses.dataclass(frozen=True)
class Subject:
    """One toy subject; every field is a word of its vocabulary above."""

    class_name: str
    colour: str  # body colour
    accent: str  # border and pattern colour, never the body colour
    pattern: str
    finish: str

    def __post_init__(self) -> None:
        for field, vocabulary in VOCABULARIES.items():
            if field in IDENTITY_ATTRIBUTES and getattr(self, field) not in vocabulary:
                raise ValueError(f"Subject.{field}={getattr(self, field)!r}; expected one of {vocabulary}")
        if self.colour == self.accent:
            raise ValueError(f"Subject accent {self.accent!r} equals its body colour; they must differ")

    @property
    def subject_id(self) -> str:
        """A file-name-safe name, e.g. ``star-red-white-striped-shiny``."""
        return "-".join(getattr(self, name) for name in IDENTITY_ATTRIBUTES)

    def description(self) -> str:
        """Identity words in caption order, e.g. ``shiny red and white striped star``."""
        return f"{self.finish} {self.colour} and {self.accent} {self.pattern} {self.class_name}"

    def labels(self) -> dict[str, int]:
        """Index of every identity attribute in its vocabulary (the oracle's targets)."""
        return {name: VOCABULARIES[name].index(getattr(self, name)) for name in IDENTITY_ATTRIBUTES}

    def with_changes(self, **changes: str) -> Subject:
        """The same subject with some attributes replaced (a property prompt's target)."""
        return dataclasses.replace(self, **changes)


VOCABULARIES: dict[str, tuple[str, ...]] = {
    "class_name": CLASSES,
    "colour": COLOURS,
    "accent": COLOURS,
    "pattern": PATTERNS,
    "finish": FINISHES,
    "size": SIZES,
}


def is_held_out(subject: Subject) -> bool:
    """Whether ``subject`` belongs to ToyBench (True) or may appear in training data (False)."""
    key = f"{subject.class_name}-{subject.colour}-{subject.accent}-{subject.pattern}"
    return hashlib.sha256(key.encode()).digest()[0] % HELD_OUT_MODULUS == 0


def random_subject(rng: np.random.Generator, held_out: bool | None = False) -> Subject:
    """Draw a subject uniformly from the training side (``held_out=False``), ToyBench's side
    (``True``) or the whole world (``None``)."""
    while True:
        colour, accent = rng.choice(len(COLOURS), size=2, replace=False)
        subject = Subject(
            class_name=CLASSES[rng.integers(len(CLASSES))],
            colour=COLOURS[colour],
            accent=COLOURS[accent],
            pattern=PATTERNS[rng.integers(len(PATTERNS))],
            finish=FINISHES[rng.integers(len(FINISHES))],
        )
        if held_out is None or is_held_out(subject) == held_out:
            return subject
