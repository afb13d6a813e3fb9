"""The toy-model bundle: float16 weights, shared components stored once, both folders load as they are."""

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from PIL import Image
from safetensors import safe_open

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.errors import InputError
from blip_diffusion.training.bundle import BASE_FOLDER, MODEL_FOLDER, bundle_toy_model
from blip_diffusion.training.stage2 import train_stage2

from .conftest import tiny_stage2_config


@pytest.fixture(scope="module")
def bundled(tiny_base, tiny_stage1, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    model = train_stage2(tiny_stage2_config(root / "stage2", tiny_base, tiny_stage1, steps=1))
    return model, tiny_base, bundle_toy_model(model, tiny_base, root / "toy")


def _generate(pipe):
    subject = pipe.encode_subject([Image.new("RGB", (32, 32), (200, 40, 40))], "star")
    return pipe("on the beach", subject, num_inference_steps=2, height=32, width=32, output_type="np",
                generator=torch.Generator().manual_seed(0)).images


def test_weights_are_float16_and_shared_components_are_links(bundled):
    _, _, out = bundled
    for path in out.rglob("*.safetensors"):
        with safe_open(str(path), framework="pt") as reader:
            assert all(reader.get_tensor(k).dtype in (torch.float16, torch.int64) for k in reader.keys()), path  # noqa: SIM118 (not a dict)
    for component in ("vae", "scheduler"):
        link = out / BASE_FOLDER / component
        assert link.is_symlink() and link.resolve() == (out / MODEL_FOLDER / component).resolve(), component
    assert not (out / BASE_FOLDER / "unet").is_symlink()  # stage 2 trained its own UNet


def test_bundled_models_load_in_float32_and_draw_what_the_originals_draw(bundled):
    model, _, out = bundled
    original = BlipDiffusionPipeline.from_pretrained(model)
    again = BlipDiffusionPipeline.from_pretrained(out / MODEL_FOLDER)
    assert {p.dtype for p in again.unet.parameters()} == {torch.float32}
    np.testing.assert_allclose(_generate(again), _generate(original), atol=0.05)
    text_to_image = DiffusionPipeline.from_pretrained(out / BASE_FOLDER, torch_dtype=torch.float32)
    picture = text_to_image("a star on the beach", num_inference_steps=2, height=32, width=32, output_type="np",
                            generator=torch.Generator().manual_seed(0)).images
    assert picture.shape == (1, 32, 32, 3) and np.isfinite(picture).all()


def test_rebundling_keeps_model_cards_and_bad_folders_are_refused(bundled, tmp_path):
    model, base, out = bundled
    (out / MODEL_FOLDER / "README.md").write_text("card")
    bundle_toy_model(model, base, out)
    assert (out / MODEL_FOLDER / "README.md").read_text() == "card"
    with pytest.raises(InputError, match="has no model_index.json"):
        bundle_toy_model(tmp_path, base, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_base_only_bundle_holds_the_same_bytes_as_the_full_bundle(bundled, tmp_path):
    _, base, out = bundled
    alone = bundle_toy_model(None, base, tmp_path / "alone")
    assert [p.name for p in alone.iterdir()] == [BASE_FOLDER]
    for path in (alone / BASE_FOLDER).rglob("*.safetensors"):
        twin = out / BASE_FOLDER / path.relative_to(alone / BASE_FOLDER)
        assert path.read_bytes() == twin.read_bytes(), path  # links resolve to the model's copies
    assert not any(p.is_symlink() for p in (alone / BASE_FOLDER).iterdir())


def test_a_controlnet_is_bundled_into_the_blip_diffusion_folder(bundled, tmp_path):
    from diffusers import ControlNetModel

    from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline
    from blip_diffusion.training.controlnet import CONDITIONING_CHANNELS

    model, base, _ = bundled
    unet = DiffusionPipeline.from_pretrained(base).unet
    ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=CONDITIONING_CHANNELS[:3]).save_pretrained(
        tmp_path / "controlnet")
    out = bundle_toy_model(model, base, tmp_path / "toy", controlnet=tmp_path / "controlnet")
    assert (out / MODEL_FOLDER / "controlnet" / "config.json").is_file()
    assert BlipDiffusionPipeline.from_pretrained(out / MODEL_FOLDER).unet is not None  # the ControlNet left out
    control = BlipDiffusionControlNetPipeline.from_pretrained(out / MODEL_FOLDER)
    assert {p.dtype for p in control.controlnet.parameters()} == {torch.float32}
    with pytest.raises(InputError, match="give the stage-2 model too"):
        bundle_toy_model(None, base, tmp_path / "x", controlnet=tmp_path / "controlnet")
    with pytest.raises(InputError, match="has no config.json"):
        bundle_toy_model(model, base, tmp_path / "x", controlnet=tmp_path)
    assert not (tmp_path / "x").exists()
