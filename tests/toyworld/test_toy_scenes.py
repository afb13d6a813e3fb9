"""Scenes, prompts and captions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blip_diffusion.toyworld.scenes import (
    CLASS_SLOT,
    CONTEXT_SCENES,
    REFERENCE_NAMES,
    SCENE_NAMES,
    SCENES,
    caption,
    class_prompt,
    context_prompts,
    paint_background,
    property_prompts,
)
from blip_diffusion.toyworld.subjects import Subject


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_every_scene_paints_a_valid_picture_at_any_size(name):
    for resolution in (32, 64, 100):
        picture = paint_background(name, np.random.default_rng(0), resolution)
        assert picture.shape == (resolution, resolution, 3) and picture.dtype == np.float32
        assert 0.0 <= picture.min() and picture.max() <= 1.0


def test_scenes_are_distinct_and_vary_with_the_seed():
    assert len(CONTEXT_SCENES) >= 20 and len(SCENES) == 24
    pictures = {name: paint_background(name, np.random.default_rng(0), 64) for name in SCENE_NAMES}
    for a, b in itertools.combinations(SCENE_NAMES, 2):
        assert np.abs(pictures[a] - pictures[b]).mean() > 0.03, (a, b)
    again = paint_background("jungle", np.random.default_rng(1), 64)
    assert np.abs(again - pictures["jungle"]).mean() > 0.01
    with pytest.raises(ValueError, match="scene_name"):
        paint_background("moon_base", np.random.default_rng(0), 64)


def test_context_prompts_follow_dreambench():
    prompts = context_prompts()
    assert len(prompts) == 20 and {p.scene for p in prompts}.isdisjoint(REFERENCE_NAMES)
    assert prompts[0].text("star") == "a star in the jungle"
    assert all(p.pattern.startswith(f"a {CLASS_SLOT} ") and p.kind == "context" for p in prompts)


def test_property_prompts_change_one_attribute_to_a_valid_new_value():
    for subject in (
        Subject("star", "red", "purple", "gradient", "shiny"),
        Subject("cup", "blue", "red", "solid", "matte"),
    ):
        prompts = property_prompts(subject)
        assert len(prompts) == 5 and all(p.kind == "property" and p.scene is None for p in prompts)
        for prompt in prompts:
            ((name, value),) = prompt.changes
            assert prompt.pattern == f"a {value} {CLASS_SLOT}"
            if name != "size":
                changed = subject.with_changes(**{name: value})  # raises if the change is invalid
                assert getattr(changed, name) != getattr(subject, name)
    red_purple = property_prompts(Subject("star", "red", "purple", "gradient", "shiny"))
    assert [p.text("star") for p in red_purple] == [
        "a yellow star",
        "a solid star",
        "a matte star",
        "a large star",
        "a small star",
    ]


def test_captions():
    subject = Subject("star", "red", "white", "dotted", "matte")
    assert caption(subject, "beach", "medium") == "a matte red and white dotted star on the beach"
    assert caption(subject, None, "large") == "a large matte red and white dotted star"
    assert class_prompt("star", "snow") == "a star in the snow"
