"""Style transfer and the ControlNet options of the command line (generate --control-image, stylize)."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from PIL import Image

from blip_diffusion.cli import generate as generate_cli
from blip_diffusion.cli import stylize as stylize_cli
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines import stylize as stylize_module
from blip_diffusion.pipelines.control_images import canny_edges
from blip_diffusion.pipelines.stylize import stylize
from tests.applications.conftest import CONTROL_MODEL
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

DOG, TEAPOT = ASSETS / "dreambench" / "dog" / "00.jpg", ASSETS / "dreambench" / "teapot" / "00.jpg"
TOKENIZER = ["--qformer-tokenizer", str(QFORMER_TOKENIZER)]
FAST = ["--steps", "1", "--guidance", "1"]


def _run(module, argv):
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args([*TOKENIZER, *FAST, *argv]))


def test_stylize_is_the_style_subject_with_the_structure_edges(control_pipe, monkeypatch):
    monkeypatch.setattr(stylize_module, "DEFAULT_LONG_SIDE", 32)
    style = control_pipe.encode_subject(DOG, "dog")
    result = stylize(control_pipe, style, None, TEAPOT, "on a table", target_class="teapot", low_threshold=50,
                     high_threshold=150, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                     output_type="latent")
    edges = canny_edges(TEAPOT, 50, 150)
    assert result.edges.tobytes() == edges.tobytes()
    assert result.images.shape == (1, 4, 16, 16)  # the square structure photo's aspect, long side 32
    same = control_pipe("on a table", style, edges, target_subject_category="teapot", num_inference_steps=2,
                        height=32, width=32, generator=torch.Generator().manual_seed(0), output_type="latent").images
    assert torch.equal(result.images, same)


def test_stylize_command(tmp_path, capsys):
    assert _run(stylize_cli, ["--model", str(CONTROL_MODEL), "--style", str(DOG), "--style-class", "dog",
                              "--structure", str(TEAPOT), "--target-class", "teapot", "--prompt", "on a table",
                              "--size", "32x32", "--control-scale", "0.5", "--out", str(tmp_path)]) == 0
    settings = json.loads(Image.open(tmp_path / "image_000000.png").text["parameters"])
    assert settings["style_class"] == "dog" and settings["control_scale"] == [0.5]
    assert Image.open(tmp_path / "edges.png").size == (512, 512)
    assert "edges:" in capsys.readouterr().out


def test_generate_with_a_canny_control_image(tmp_path):
    assert _run(generate_cli, ["--model", str(CONTROL_MODEL), "--subject", str(DOG), "--subject-class", "dog",
                               "--prompt", "on a table", "--control-image", f"canny:{TEAPOT}", "--size", "32x32",
                               "--control-end", "0.5", "--out", str(tmp_path)]) == 0
    settings = json.loads(Image.open(tmp_path / "image_000000.png").text["parameters"])
    assert settings["control_image"] == [f"canny:{TEAPOT}"] and settings["control_end"] == [0.5]


def test_generate_with_controlnet_folders_on_a_base_model(control_pipe, tmp_path):
    control_pipe.controlnet.save_pretrained(tmp_path / "net")
    edges = tmp_path / "edges.png"
    canny_edges(TEAPOT).resize((64, 64)).save(edges)
    assert _run(generate_cli, ["--model", str(FIXTURE_MODEL), "--controlnet", str(tmp_path / "net"),
                               str(tmp_path / "net"), "--control-image", str(edges), str(edges), "--subject", str(DOG),
                               "--subject-class", "dog", "--prompt", "x", "--size", "32x32",
                               "--out", str(tmp_path / "out")]) == 0
    image = Image.open(tmp_path / "out" / "image_000000.png")
    assert image.size == (32, 32) and len(json.loads(image.text["parameters"])["controlnet"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["--model", str(CONTROL_MODEL), "--control-image", str(TEAPOT), str(TEAPOT)],
     r"the pipeline has 1 ControlNet\(s\) but 2 control image\(s\)"),
    (["--model", str(FIXTURE_MODEL), "--control-image", str(TEAPOT)], "has no ControlNet"),
    (["--controlnet", "nowhere/net"], "--controlnet needs --control-image"),
    (["--model", str(FIXTURE_MODEL), "--controlnet", "no_such_folder", "--control-image", str(TEAPOT)],
     "controlnet not found: no_such_folder"),
    (["--model", str(CONTROL_MODEL), "--control-image", f"canny:{TEAPOT}", "--size", "64x32"],
     "aspect ratios differ"),
])
def test_control_errors(tmp_path, argv, message):
    with pytest.raises(InputError, match=message):
        _run(generate_cli, ["--subject", str(DOG), "--subject-class", "dog", "--prompt", "x",
                            "--out", str(tmp_path / "out"), *argv])
    assert not (tmp_path / "out").exists()


def test_help_lists_the_new_options(capsys):
    for module, flags in ((generate_cli, ("--control-image", "--controlnet", "--control-scale", "--canny-low")),
                          (stylize_cli, ("--style", "--structure", "--style-class", "--canny-high"))):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        help_text = parser.format_help()
        assert all(flag in help_text for flag in flags)
