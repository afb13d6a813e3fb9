"""Resumable generation with a fake generator: skips, groups, atomic writes."""

from __future__ import annotations

import pytest
from PIL import Image

from blip_diffusion.evaluation.dreambench import load_subjects
from blip_diffusion.evaluation.generation import generate_missing, missing_requests
from blip_diffusion.evaluation.worklist import build_requests, image_path
from tests.evaluation.conftest import DREAMBENCH, FakeGenerator


@pytest.fixture(scope="module")
def requests():
    return build_requests(
        load_subjects(DREAMBENCH, ["dog", "teapot"]), images_per_prompt=2, seed=0, max_prompts=3
    )


def test_generates_everything_in_groups_of_one_subject_and_prompt(tmp_path, requests):
    fake = FakeGenerator()
    assert generate_missing(requests, lambda: fake, tmp_path) == 12
    assert len(fake.calls) == 6
    assert all(len({(r.subject, r.prompt.index) for r in call}) == 1 for call in fake.calls)
    image = Image.open(image_path(tmp_path, requests[5]))
    assert image.format == "PNG" and image.getpixel((0, 0)) == tuple(
        requests[5].seed.to_bytes(8, "little")[:3]
    )


def test_resume_keeps_existing_images_and_makes_only_the_missing(tmp_path, requests):
    generate_missing(requests, FakeGenerator, tmp_path)
    kept = {r.relative_path: image_path(tmp_path, r).stat().st_mtime_ns for r in requests}
    image_path(tmp_path, requests[3]).unlink()
    image_path(tmp_path, requests[10]).unlink()
    fake = FakeGenerator()
    assert generate_missing(requests, lambda: fake, tmp_path) == 2
    assert fake.generated == [requests[3], requests[10]]
    for r in requests:
        if r not in (requests[3], requests[10]):
            assert image_path(tmp_path, r).stat().st_mtime_ns == kept[r.relative_path]


def test_a_finished_run_does_not_load_the_model(tmp_path, requests):
    generate_missing(requests, FakeGenerator, tmp_path)

    def must_not_load():
        raise AssertionError("the generator was built although nothing was missing")

    assert generate_missing(requests, must_not_load, tmp_path) == 0


def test_a_crash_leaves_only_complete_images(tmp_path, requests):
    with pytest.raises(RuntimeError, match="generator failed"):
        generate_missing(requests, lambda: FakeGenerator(fail_after=2), tmp_path)
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(r.relative_path for r in requests[:4])
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    assert len(missing_requests(requests, tmp_path)) == 8
    assert generate_missing(requests, FakeGenerator, tmp_path) == 8


def test_a_generator_returning_the_wrong_count_is_an_error(tmp_path, requests):
    with pytest.raises(RuntimeError, match="returned 1 images for 2 requests"):
        generate_missing(requests, lambda: lambda group: [Image.new("RGB", (8, 8))], tmp_path)
