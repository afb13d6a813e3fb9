"""The edit command: generated and real images, the files it writes, its one-line errors."""

import argparse
import json

import pytest
from PIL import Image

from blip_diffusion.cli import edit
from blip_diffusion.errors import InputError
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

DOG = str(ASSETS / "dreambench" / "dog" / "00.jpg")
BASE = ["--model", str(FIXTURE_MODEL), "--qformer-tokenizer", str(QFORMER_TOKENIZER), "--subject", DOG,
        "--subject-class", "dog", "--prompt", "on the beach", "--steps", "2", "--size", "32x32",
        "--blend-downsample", "2"]


def _run(arguments):
    parser = argparse.ArgumentParser()
    edit.add_arguments(parser)
    return edit.run(parser.parse_args(arguments))


def test_edit_of_a_generated_image_writes_source_edit_mask_and_grid(tmp_path, capsys):
    assert _run([*BASE, "--source-class", "cat", "--seed", "4", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["edit_000004.png", "grid_000004.png", "mask_000004.png", "source_000004.png"]
    settings = json.loads(Image.open(tmp_path / "edit_000004.png").text["parameters"])
    assert settings["source_class"] == "cat" and settings["seed"] == 4 and settings["size"] == "32x32"
    mask = Image.open(tmp_path / "mask_000004.png")
    assert mask.size == (32, 32) and set(mask.convert("L").getdata()) <= {0, 255}
    assert Image.open(tmp_path / "grid_000004.png").size == (96, 32)
    assert str(tmp_path / "edit_000004.png") in capsys.readouterr().out


def test_edit_of_a_real_image_reports_the_reconstruction(tmp_path, capsys):
    assert _run([*BASE, "--image", DOG, "--no-blend", "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["edit_00.png", "grid_00.png", "reconstruction_00.png"]
    assert "reconstruction: relative latent error" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--null-text"], "--null-text needs --image"),
        (["--image", "missing.png"], "image not found: missing.png"),
        (["--cross-replace", "2"], "cross_replace_fraction must be a fraction"),
        (["--target-prompt", "zzz"], "target_prompt shares no word"),
    ],
)
def test_bad_input_is_an_input_error_before_any_file(tmp_path, extra, message):
    with pytest.raises(InputError, match=message):
        _run([*BASE, "--out", str(tmp_path / "out"), *extra])
    assert not (tmp_path / "out").exists()
