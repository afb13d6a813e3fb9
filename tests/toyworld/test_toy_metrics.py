"""Metrics on hand-made readings: identical subject -> 1.0, different subject -> low."""

from __future__ import annotations

import numpy as np
import pytest

from blip_diffusion.toyworld.metrics import (
    Expectation,
    ImageScore,
    background_copy,
    identity_cosine,
    mean_scores,
    pose_copy,
    score_image,
    subject_fidelity,
    text_fidelity,
)
from blip_diffusion.toyworld.scenes import context_prompts, property_prompts
from blip_diffusion.toyworld.subjects import Subject

STAR = Subject("star", "red", "white", "striped", "shiny")
BEACH = context_prompts()[2]  # a {class} on the beach
RED, PATTERN, FINISH, LARGE, SMALL = property_prompts(STAR.with_changes(colour="blue"))


def _read(subject: Subject, scene: str = "beach", size: str = "medium") -> dict[str, str]:
    return {"class_name": subject.class_name, "colour": subject.colour, "accent": subject.accent,
            "pattern": subject.pattern, "finish": subject.finish, "scene": scene, "size": size}  # fmt: skip


def test_identical_subject_scores_one_and_a_different_one_low():
    assert subject_fidelity(_read(STAR), STAR, BEACH) == 1.0
    other = Subject("ring", "blue", "black", "dotted", "matte")
    assert subject_fidelity(_read(other), STAR, BEACH) == 0.0
    assert subject_fidelity(_read(STAR.with_changes(pattern="solid")), STAR, BEACH) == pytest.approx(0.8)


def test_property_prompts_leave_out_the_changed_attribute():
    assert PATTERN.changes == (("pattern", "dotted"),)
    asked = STAR.with_changes(pattern="dotted")
    assert subject_fidelity(_read(asked), STAR, PATTERN) == 1.0  # the pattern is not held against it
    assert text_fidelity(_read(asked), "star", PATTERN) == 1.0
    assert text_fidelity(_read(STAR), "star", PATTERN) == 0.5  # right class, pattern not changed
    assert text_fidelity(_read(STAR, size="large"), "star", LARGE) == 1.0
    assert subject_fidelity(_read(STAR, size="large"), STAR, LARGE) == 1.0  # size is not identity


def test_text_fidelity_checks_class_and_scene():
    assert text_fidelity(_read(STAR, scene="beach"), "star", BEACH) == 1.0
    assert text_fidelity(_read(STAR, scene="snow"), "star", BEACH) == 0.5
    assert text_fidelity(_read(STAR.with_changes(class_name="ball"), scene="snow"), "star", BEACH) == 0.0


def test_identity_cosine():
    references = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert identity_cosine(np.array([3.0, 0.0]), references) == pytest.approx(0.5)
    assert identity_cosine(np.array([1.0, 1.0]), references) == pytest.approx(np.sqrt(0.5))


def test_copies():
    assert background_copy("table", BEACH, ("table", "sofa"))
    assert not background_copy("beach", BEACH, ("table", "sofa"))
    poses = np.array([[0.3, 0.4, 0.2], [0.6, 0.6, 0.25]])
    assert pose_copy(np.array([0.61, 0.59, 0.255]), poses)
    assert not pose_copy(np.array([0.61, 0.59, 0.3]), poses)  # same place, other size
    assert not pose_copy(np.array([0.5, 0.5, 0.25]), poses)


def test_score_image_and_means():
    expected = Expectation(STAR, BEACH, ("table",), np.array([[0.5, 0.5, 0.2]]), np.array([[1.0, 0.0]]))
    score = score_image(_read(STAR), np.array([1.0, 0.0]), np.array([0.2, 0.2, 0.3]), expected)
    assert score == ImageScore(1.0, 1.0, 1.0, background_copy=False, pose_copy=False) and not score.copy
    copied = score_image(
        _read(STAR, scene="table"), np.array([1.0, 0.0]), np.array([0.5, 0.5, 0.2]), expected
    )
    assert copied.background_copy and copied.pose_copy and copied.text_fidelity == 0.5
    means = mean_scores([score, copied])
    assert means["copy"] == 0.5 and means["subject_fidelity"] == 1.0 and means["images"] == 2
