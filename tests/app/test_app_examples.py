"""The example rows: DreamBench photos from assets/, ToyBench subjects rendered into a folder."""

from __future__ import annotations

from PIL import Image

from blip_diffusion.app.examples import dreambench_examples, toyworld_examples
from blip_diffusion.toyworld.subjects import CLASSES
from tests.conftest import ASSETS


def test_toyworld_examples_are_rendered_photos_with_their_class_and_a_context(tmp_path):
    rows = toyworld_examples(tmp_path)
    assert len(rows) == 3
    for photos, word, prompt in rows:
        assert len(photos) == 3 and word in CLASSES and prompt and "{" not in prompt
        assert all(Image.open(p).size == (128, 128) for p in photos)
    assert toyworld_examples(tmp_path) == rows  # the same subjects every time (ToyBench's fixed seed)


def test_dreambench_examples_name_existing_photos():
    for photos, word, _ in dreambench_examples(ASSETS / "dreambench"):
        assert len(photos) == 3 and all(p.endswith(".jpg") and word in p for p in photos)
