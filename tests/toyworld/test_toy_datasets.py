"""Data sets: same seed -> same bytes, training sets stay off ToyBench, stage-2 composites are exact."""

from __future__ import annotations

import numpy as np
import pytest

from blip_diffusion.toyworld.benchset import (
    BENCH_SEED,
    bench_prompts,
    bench_subjects,
    prompt_target,
    truth_photo,
)
from blip_diffusion.toyworld.datasets import BackgroundPool, CaptionDataset, SubjectDataset
from blip_diffusion.toyworld.scenes import CONTEXT_NAMES, REFERENCE_NAMES, SCENE_NAMES, SCENES
from blip_diffusion.toyworld.subjects import CLASSES, is_held_out


def _bytes(dataset, indices) -> list[bytes]:
    out = []
    for index in indices:
        item = dataset[index]
        if hasattr(item, "target"):
            out += [item.target.image.tobytes(), item.target.alpha.tobytes(), item.source.tobytes()]
        elif hasattr(item, "image"):
            out += [item.image.tobytes(), item.alpha.tobytes(), item.caption.encode()]
        else:
            out.append(item.tobytes())
    return out


@pytest.mark.parametrize("make", [CaptionDataset, SubjectDataset, BackgroundPool])
def test_same_seed_gives_byte_identical_data_in_any_order(make):
    indices = [0, 7, 3, 41]
    first = _bytes(make(50, seed=3), indices)
    assert first == _bytes(make(50, seed=3), indices)
    backwards = [_bytes(make(50, seed=3), [index]) for index in indices[::-1]]
    assert first == [part for item in backwards[::-1] for part in item]
    assert first != _bytes(make(50, seed=4), indices)


def test_item_depends_only_on_seed_and_index():
    a, b = CaptionDataset(10, seed=1), CaptionDataset(1000, seed=1)
    assert a[5].image.tobytes() == b[5].image.tobytes()
    assert a[-1].image.tobytes() == a[9].image.tobytes()
    with pytest.raises(IndexError):
        a[10]


def test_training_sets_never_show_a_toybench_subject():
    captions = CaptionDataset(400, seed=0)
    subjects = SubjectDataset(200, seed=0, pool_size=16)
    seen = {captions[i].subject for i in range(len(captions))} | {
        subjects[i].target.subject for i in range(len(subjects))
    }
    assert not any(is_held_out(subject) for subject in seen)
    assert {photo.scene for photo in (captions[i] for i in range(400))} == set(SCENE_NAMES)


def test_caption_pairs_describe_their_picture():
    photo = CaptionDataset(5, seed=0)[2]
    assert photo.caption.startswith("a ") and photo.subject.class_name in photo.caption
    assert (
        photo.prompt
        == f"a {photo.subject.class_name} " + photo.prompt.split(f"a {photo.subject.class_name} ", 1)[1]
    )
    assert photo.image.shape == (64, 64, 3) and photo.image.dtype == np.uint8


def test_stage2_source_is_the_subject_cut_out_onto_a_pool_background():
    dataset = SubjectDataset(10, seed=0, resolution=48, pool_size=8)
    sample = dataset[4]
    pool = {dataset.pool[i].tobytes() for i in range(8)}
    assert sample.background.tobytes() in pool
    alpha = sample.target.alpha
    assert (sample.source[alpha == 0] == sample.background[alpha == 0]).all()
    assert (sample.source[alpha == 1] == sample.target.image[alpha == 1]).all()
    assert sample.source.shape == sample.target.image.shape == (48, 48, 3)


def test_toybench_split_is_fixed():
    members = bench_subjects(12)
    assert BENCH_SEED == 20230524
    assert [m.name for m in members[:4]] == [  # pinned: ToyBench must not change under anyone's feet
        "00-star-orange-green-solid-matte",
        "01-ball-blue-purple-striped-shiny",
        "02-box-blue-purple-dotted-matte",
        "03-kite-white-pink-checkered-shiny",
    ]
    assert [m.subject.class_name for m in members] == [CLASSES[i % 10] for i in range(12)]
    assert all(is_held_out(m.subject) for m in members)
    assert len({m.subject for m in members}) == 12
    assert [m.subject for m in bench_subjects(3, resolution=32)] == [m.subject for m in members[:3]]


def test_toybench_references_and_prompts():
    for member in bench_subjects(5):
        assert 4 <= len(member.references) <= 6
        assert all(p.subject == member.subject and p.scene in REFERENCE_NAMES for p in member.references)
        prompts = bench_prompts(member.subject)
        assert len(prompts) == 25 and [p.kind for p in prompts].count("context") == 20


def test_truth_photos_answer_their_prompt():
    member = bench_subjects(1)[0]
    for index, prompt in enumerate(bench_prompts(member.subject)):
        photo = truth_photo(member, index, sample=1)
        subject, size = prompt_target(member.subject, prompt)
        assert photo.subject == subject and photo.scene == (prompt.scene or photo.scene)
        assert photo.scene in CONTEXT_NAMES and (size is None or photo.pose.size == size)
    assert truth_photo(member, 3, 0).image.tobytes() == truth_photo(member, 3, 0).image.tobytes()
    assert truth_photo(member, 3, 0).image.tobytes() != truth_photo(member, 3, 1).image.tobytes()


def test_caption_with_changes_exactly_one_attribute():
    photo = CaptionDataset(4, seed=0, resolution=32)[0]
    subject = photo.subject
    other_class = next(c for c in CLASSES if c != subject.class_name)
    assert photo.caption_with("class_name", other_class) == photo.caption.replace(subject.class_name, other_class)
    other_scene = next(s for s in SCENE_NAMES if s != photo.scene)
    phrase, other_phrase = SCENES[photo.scene].phrase, SCENES[other_scene].phrase
    assert photo.caption_with("scene", other_scene) == photo.caption.removesuffix(phrase) + other_phrase
    # a body colour equal to the accent swaps the two: the subject's colours always differ
    swapped = photo.caption_with("colour", subject.accent)
    assert f"{subject.accent} and {subject.colour}" in swapped
