"""Rendering: exact alpha masks, poses inside the picture, distinct silhouettes, fixed patterns."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from blip_diffusion.toyworld.render import (
    SIZE_RANGES,
    Lighting,
    Pose,
    composite,
    pattern_share,
    random_pose,
    render_subject,
    subject_frame,
)
from blip_diffusion.toyworld.subjects import CLASSES, PATTERNS, SIZES, Subject

SUBJECT = Subject("star", "red", "white", "striped", "shiny")


@pytest.mark.parametrize("class_name", CLASSES)
def test_mask_is_exactly_what_is_drawn(class_name):
    """Over two different backgrounds, the pictures agree where alpha is 1, show the background
    where alpha is 0, and mix the two in the alpha's proportion in between."""
    subject = SUBJECT.with_changes(class_name=class_name)
    colour, alpha = render_subject(subject, Pose(0.45, 0.55, 0.28, 12.0), 64)
    black, white = np.zeros((64, 64, 3)), np.ones((64, 64, 3))
    on_black, on_white = (
        composite(colour, alpha, black).astype(int),
        composite(colour, alpha, white).astype(int),
    )
    inside, outside = alpha == 1.0, alpha == 0.0
    assert inside.sum() > 300 and outside.sum() > 1500 and (~inside & ~outside).sum() > 20
    np.testing.assert_array_equal(on_black[inside], on_white[inside])
    assert (on_black[outside] == 0).all() and (on_white[outside] == 255).all()
    # the white/black difference is exactly the uncovered share of each pixel
    np.testing.assert_allclose((on_white - on_black)[..., 0] / 255.0, 1.0 - alpha, atol=1.5 / 255)


def test_alpha_covers_the_silhouette_area():
    # a ball is a disc of 0.9 radii: its coverage sums to the disc's area in pixels
    _, alpha = render_subject(SUBJECT.with_changes(class_name="ball"), Pose(0.5, 0.5, 0.3, 0.0), 64)
    assert alpha.sum() == pytest.approx(np.pi * (0.9 * 0.3 * 64) ** 2, rel=0.01)


def test_silhouettes_are_clearly_different():
    pose = Pose(0.5, 0.5, 0.3, 0.0)
    masks = {
        name: render_subject(SUBJECT.with_changes(class_name=name), pose, 64)[1] > 0.5 for name in CLASSES
    }
    for a, b in itertools.combinations(CLASSES, 2):
        iou = (masks[a] & masks[b]).sum() / (masks[a] | masks[b]).sum()
        assert iou < 0.8, (a, b, iou)


@pytest.mark.parametrize("size", SIZES)
def test_random_poses_keep_the_subject_inside_and_the_size_readable(size):
    rng = np.random.default_rng(1)
    for _ in range(20):
        pose = random_pose(rng, size)
        assert pose.size == size and SIZE_RANGES[size][0] <= pose.radius <= SIZE_RANGES[size][1]
        _, alpha = render_subject(SUBJECT.with_changes(class_name="box"), pose, 64)
        border = np.concatenate([alpha[0], alpha[-1], alpha[:, 0], alpha[:, -1]])
        assert border.max() == 0.0


def test_patterns_differ_and_solid_shows_no_accent_inside():
    u, v = subject_frame(Pose(0.5, 0.5, 0.3, 0.0), 64)
    shares = {name: pattern_share(name, u, v) for name in PATTERNS}
    assert shares["solid"].max() == 0.0
    for a, b in itertools.combinations(PATTERNS, 2):
        assert np.abs(shares[a] - shares[b]).mean() > 0.05, (a, b)
    with pytest.raises(ValueError, match="pattern"):
        pattern_share("plaid", u, v)


def test_lighting_and_finish_change_the_colours_only():
    pose = Pose(0.5, 0.5, 0.25, 5.0)
    matte, alpha = render_subject(SUBJECT.with_changes(finish="matte"), pose, 64)
    shiny, alpha_shiny = render_subject(SUBJECT, pose, 64)
    dim, _ = render_subject(SUBJECT, pose, 64, Lighting(brightness=0.9))
    np.testing.assert_array_equal(alpha, alpha_shiny)
    inside = alpha > 0.5
    assert np.abs(matte - shiny)[inside].mean() > 0.05
    assert dim[inside].mean() < shiny[inside].mean()


def test_rendering_is_deterministic():
    pose = random_pose(np.random.default_rng(3))
    first, second = render_subject(SUBJECT, pose, 96), render_subject(SUBJECT, pose, 96)
    assert first[0].tobytes() == second[0].tobytes() and first[1].tobytes() == second[1].tobytes()
