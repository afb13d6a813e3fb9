"""The bundled toy model (assets/models/toy): the release layout, and that it draws a held-out ToyBench
subject zero-shot and fine-tuned, read by the oracle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from blip_diffusion.cli.main import main
from blip_diffusion.toyworld.oracle import read

TOY = Path(__file__).resolve().parents[2] / "assets" / "models" / "toy"
MODEL, BASE, SUBJECT = TOY / "blip-diffusion", TOY / "base", TOY.parents[1] / "subjects" / "striped-ball"
PHOTOS = sorted((TOY.parents[1] / "toyworld" / "demo-subject").glob("*.png"))
SAMPLING = {"num_inference_steps": 20, "height": 64, "width": 64}


def test_release_layout_float16_cards_shared_vae_and_size_budget():
    for folder in (MODEL, BASE, SUBJECT):
        assert (folder / "README.md").is_file(), folder
    assert (BASE / "vae").is_symlink() and (BASE / "vae").resolve() == (MODEL / "vae").resolve()
    files = {p.resolve() for p in TOY.rglob("*") if p.is_file()}
    assert sum(p.stat().st_size for p in files) < 60 * 2**20
    for path in (MODEL / "unet", MODEL / "qformer", MODEL / "controlnet", BASE / "unet", BASE / "clip"):
        with safe_open(str(next(path.glob("*.safetensors"))), framework="pt") as reader:
            dtypes = {reader.get_slice(k).get_dtype() for k in reader.keys()}  # noqa: SIM118 (not a dict)
        assert dtypes - {"I64"} == {"F16"}, path  # integer buffers (position ids) stay integers


@pytest.fixture(scope="module")
def toy_pipe():
    from blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.pipelines.schedulers import make_scheduler

    pipe = BlipDiffusionPipeline.from_pretrained(MODEL)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def colours_read(oracle, images) -> list[str]:
    readings = read(oracle, images)
    return [readings.words(i)["colour"] for i in range(len(images))]


def test_zero_shot_draws_the_held_out_subjects_colour_in_new_scenes(toy_pipe, oracle):
    prompts = ["in the snow", "on the beach", "in the desert", "under a night sky"]
    images = toy_pipe(prompts, PHOTOS, "ball", "ball", generator=torch.Generator().manual_seed(0), **SAMPLING).images
    assert colours_read(oracle, images).count("blue") >= 3


def test_the_controlnet_puts_the_subject_where_the_control_photos_edges_put_it(toy_pipe, oracle):
    from PIL import Image

    from blip_diffusion.pipelines.control_images import canny_edges
    from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnets
    from blip_diffusion.training.data import ToyCaptions

    control_pipe = BlipDiffusionControlNetPipeline.from_base(toy_pipe, load_controlnets(MODEL, None))
    photos = [Image.fromarray(ToyCaptions(99, 64, "prompt")[i]["image"]) for i in range(4)]  # not a training seed
    edges = [canny_edges(photo) for photo in photos]
    errors = {}
    for name, pipe, extra in (("free", toy_pipe, {}), ("controlled", control_pipe, {"control_image": edges})):
        images = pipe(prompt=["on the beach"] * 4, reference_image=PHOTOS, source_subject_category="ball",
                      target_subject_category="ball", generator=torch.Generator().manual_seed(0),
                      **SAMPLING, **extra).images
        errors[name] = np.abs(read(oracle, images).poses[:, :2] - read(oracle, photos).poses[:, :2]).mean()
    assert errors["controlled"] < 0.75 * errors["free"], errors


def test_the_base_model_loads_in_diffusers_and_draws_a_named_colour(oracle):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(BASE)
    pipe.set_progress_bar_config(disable=True)
    images = pipe(["a large matte red and yellow solid box in the snow"] * 4,
                  generator=torch.Generator().manual_seed(0), **SAMPLING).images
    assert colours_read(oracle, images).count("red") >= 3


def test_generate_with_the_shipped_fine_tuned_subject_on_the_default_model(tmp_path, capsys, oracle):
    from PIL import Image

    code = main(["generate", "--subject", str(SUBJECT), "--prompt", "in the snow", "--num-images", "2",
                 "--steps", "20", "--scheduler", "dpm", "--out", str(tmp_path)])
    assert code == 0 and "using the bundled toy model" in capsys.readouterr().out
    paths = sorted(tmp_path.glob("image_*.png"))
    images = [Image.open(p) for p in paths]
    assert len(images) == 2 and json.loads(images[0].text["parameters"])["subject"] == [str(SUBJECT)]
    assert colours_read(oracle, images).count("blue") >= 1


def test_a_folder_that_is_not_a_fine_tuned_subject_is_one_line_error(tmp_path, capsys):
    assert main(["generate", "--subject", str(tmp_path), "--prompt", "in the snow", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "finetune.json is missing" in err and len(err.strip().splitlines()) == 1
