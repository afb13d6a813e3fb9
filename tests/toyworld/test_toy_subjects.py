"""Subjects: vocabularies, validation and the fixed ToyBench split."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blip_diffusion.toyworld.subjects import (
    CLASSES,
    COLOURS,
    FINISHES,
    IDENTITY_ATTRIBUTES,
    PATTERNS,
    SIZES,
    Subject,
    is_held_out,
    random_subject,
)

ALL_SUBJECTS = [
    Subject(c, a, b, p, f)
    for c, a, b, p, f in itertools.product(CLASSES, COLOURS, COLOURS, PATTERNS, FINISHES)
    if a != b
]


def test_vocabularies_are_plain_single_words_and_large_enough():
    for vocabulary in (CLASSES, COLOURS, PATTERNS, FINISHES, SIZES):
        assert all(word.isalpha() and word.islower() for word in vocabulary)
        assert len(set(vocabulary)) == len(vocabulary)
    assert len(CLASSES) >= 8 and len(COLOURS) >= 8 and len(PATTERNS) >= 5
    all_words = CLASSES + COLOURS + PATTERNS + FINISHES + SIZES
    assert len(set(all_words)) == len(all_words)  # no word means two things


def test_subject_rejects_unknown_words_and_equal_colours():
    with pytest.raises(ValueError, match="class_name"):
        Subject("dog", "red", "white", "solid", "matte")
    with pytest.raises(ValueError, match="accent"):
        Subject("star", "red", "red", "solid", "matte")


def test_description_and_id():
    subject = Subject("star", "red", "white", "striped", "shiny")
    assert subject.description() == "shiny red and white striped star"
    assert subject.subject_id == "star-red-white-striped-shiny"
    assert subject.labels() == {"class_name": 0, "colour": 0, "accent": 7, "pattern": 1, "finish": 1}


def test_split_is_fixed_and_ignores_finish():
    held = [s for s in ALL_SUBJECTS if is_held_out(s)]
    assert len(ALL_SUBJECTS) == 7200
    assert len(held) == 852  # pinned: changing the rule changes ToyBench
    assert all(is_held_out(s.with_changes(finish=f)) for s in held for f in FINISHES)


def test_every_value_and_pair_of_values_is_on_both_sides_of_the_split():
    sides = {side: [s for s in ALL_SUBJECTS if is_held_out(s) == side] for side in (False, True)}
    for a, b in itertools.combinations(IDENTITY_ATTRIBUTES, 2):
        pairs = {(getattr(s, a), getattr(s, b)) for s in ALL_SUBJECTS}
        assert {(getattr(s, a), getattr(s, b)) for s in sides[False]} == pairs
    for name in IDENTITY_ATTRIBUTES:
        assert {getattr(s, name) for s in sides[True]} == {getattr(s, name) for s in ALL_SUBJECTS}


def test_random_subject_keeps_to_its_side():
    rng = np.random.default_rng(0)
    assert not any(is_held_out(random_subject(rng, held_out=False)) for _ in range(300))
    assert all(is_held_out(random_subject(rng, held_out=True)) for _ in range(100))
