"""Work lists: one seeded request per (subject, prompt, sample); shards; output names."""

from __future__ import annotations

import pytest

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.dreambench import load_subjects
from blip_diffusion.evaluation.worklist import build_requests, request_seed, shard
from tests.evaluation.conftest import DREAMBENCH


@pytest.fixture(scope="module")
def subjects():
    return load_subjects(DREAMBENCH, ["dog", "teapot"])


def test_every_subject_prompt_and_sample_in_order(subjects):
    requests = build_requests(subjects, images_per_prompt=4, seed=0)
    assert len(requests) == 2 * 25 * 4
    first = requests[0]
    assert (first.subject, first.class_word, first.prompt.index, first.sample) == ("dog", "dog", 0, 0)
    assert first.text == "a dog in the jungle"
    assert first.relative_path == "images/dog/00_00.png"
    assert requests[-1].relative_path == "images/teapot/24_03.png"
    assert requests[-1].text == "a cube shaped teapot"
    assert len({r.seed for r in requests}) == len(requests)


def test_seeds_depend_only_on_the_request(subjects):
    full = {r.relative_path: r.seed for r in build_requests(subjects, 4, seed=0)}
    partial = build_requests(subjects[1:], 2, seed=0, max_prompts=3)
    assert len(partial) == 6
    assert all(full[r.relative_path] == r.seed for r in partial)
    assert request_seed(0, "dog", 3, 1) == request_seed(0, "dog", 3, 1) != request_seed(1, "dog", 3, 1)
    assert 0 <= request_seed(0, "dog", 3, 1) < 2**63


def test_shards_cover_the_work_list_once(subjects):
    requests = build_requests(subjects, 1, seed=0, max_prompts=5)
    shards = [shard(requests, i, 3) for i in range(3)]
    assert sorted(len(s) for s in shards) == [3, 3, 4]
    flattened = [r.relative_path for s in shards for r in s]
    assert sorted(flattened) == sorted(r.relative_path for r in requests)
    with pytest.raises(ValueError):
        shard(requests, 3, 3)


def test_counts_below_one_are_refused(subjects):
    with pytest.raises(InputError, match="images per prompt"):
        build_requests(subjects, 0, seed=0)
    with pytest.raises(InputError, match="max prompts"):
        build_requests(subjects, 1, seed=0, max_prompts=0)
