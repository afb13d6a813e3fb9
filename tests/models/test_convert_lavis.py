"""A LAVIS checkpoint folder, written by hand in LAVIS's naming from the fixture model, converts back exactly."""

import shutil

import pytest
import torch
from safetensors.torch import load_file

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.cli.main import main
from blip_diffusion.errors import InputError
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER


def _lavis_name(key: str) -> str:
    """Our key -> LAVIS's (written independently of the converter's table)."""
    vision = "visual_encoder.encoder.layers."
    if key.startswith(vision):
        index, rest = key[len(vision):].split(".", 1)
        rest = (rest.replace("layer_norm1", "ln_1").replace("layer_norm2", "ln_2")
                .replace("self_attn.qkv.weight", "attn.in_proj_weight").replace("self_attn.qkv.bias", "attn.in_proj_bias")
                .replace("self_attn.projection", "attn.out_proj").replace("mlp.fc1", "mlp.c_fc")
                .replace("mlp.fc2", "mlp.c_proj"))
        return f"visual_encoder.transformer.resblocks.{index}.{rest}"
    fixed = {
        "visual_encoder.embeddings.class_embedding": "visual_encoder.class_embedding",
        "visual_encoder.embeddings.position_embedding": "visual_encoder.positional_embedding",
        "visual_encoder.embeddings.patch_embedding.weight": "visual_encoder.conv1.weight",
        "visual_encoder.pre_layernorm.weight": "visual_encoder.ln_pre.weight",
        "visual_encoder.pre_layernorm.bias": "visual_encoder.ln_pre.bias",
        "visual_encoder.post_layernorm.weight": "ln_vision.weight",
        "visual_encoder.post_layernorm.bias": "ln_vision.bias",
        "query_tokens": "query_tokens",
    }
    if key in fixed:
        return fixed[key]
    return "Qformer.bert." + key.replace(".attention.attention.", ".attention.self.").replace(
        ".crossattention.attention.", ".crossattention.self.")


def _write_lavis_folder(root):
    state = load_file(FIXTURE_MODEL / "qformer" / "model.safetensors")
    blip, proj = {}, {}
    for key, value in state.items():
        if key.startswith("proj_layer."):
            proj[key[len("proj_layer."):]] = value
        elif key != "embeddings.position_ids":
            value = value.reshape(-1) if key.endswith("class_embedding") else value
            value = value[0] if key.endswith("position_embedding") else value
            blip[_lavis_name(key)] = value
    blip["itm_head.weight"] = torch.zeros(2, 32)  # stage-1 heads are dropped
    blip["temp"] = torch.tensor(0.07)
    (root / "blip_model").mkdir(parents=True)
    (root / "proj_layer").mkdir()
    torch.save(blip, root / "blip_model" / "blip_weight.pt")
    torch.save(proj, root / "proj_layer" / "proj_weight.pt")
    for name, weights, target in (("unet", "diffusion_pytorch_model", "diffusion_pytorch_model.bin"),
                                  ("vae", "diffusion_pytorch_model", "diffusion_pytorch_model.bin"),
                                  ("text_encoder", "model", "pytorch_model.bin")):
        (root / name).mkdir()
        torch.save(load_file(FIXTURE_MODEL / name / f"{weights}.safetensors"), root / name / target)


def test_lavis_folder_converts_to_identical_weights(tmp_path, pipe):
    _write_lavis_folder(tmp_path / "lavis")
    code = main(["convert-lavis", str(tmp_path / "lavis"), "--config-from", str(FIXTURE_MODEL),
                 "--qformer-tokenizer", str(QFORMER_TOKENIZER), "--out", str(tmp_path / "converted")])
    assert code == 0
    converted = BlipDiffusionPipeline.from_pretrained(tmp_path / "converted")
    for name in ("qformer", "text_encoder", "unet", "vae"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(converted, name).state_dict()
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours), name


def test_unknown_lavis_key_is_an_error(tmp_path):
    _write_lavis_folder(tmp_path / "lavis")
    blip = torch.load(tmp_path / "lavis" / "blip_model" / "blip_weight.pt")
    blip["surprise.weight"] = torch.zeros(1)
    torch.save(blip, tmp_path / "lavis" / "blip_model" / "blip_weight.pt")
    with pytest.raises(InputError, match="unknown key in LAVIS blip_weight.pt: surprise.weight"):
        main_or_raise(tmp_path)


def test_missing_lavis_file_is_an_error(tmp_path):
    _write_lavis_folder(tmp_path / "lavis")
    shutil.rmtree(tmp_path / "lavis" / "proj_layer")
    with pytest.raises(InputError, match="proj_weight.pt is missing"):
        main_or_raise(tmp_path)


def main_or_raise(tmp_path):
    from blip_diffusion.pipelines.convert import convert_lavis_folder

    convert_lavis_folder(tmp_path / "lavis", FIXTURE_MODEL, tmp_path / "out", QFORMER_TOKENIZER)


def test_missing_lavis_folder_is_named_before_the_configs_are_fetched(tmp_path):
    from blip_diffusion.pipelines.convert import convert_lavis_folder

    with pytest.raises(InputError, match="LAVIS checkpoint folder not found: .*nowhere"):
        convert_lavis_folder(tmp_path / "nowhere", "owner/not-in-the-cache", tmp_path / "out")
    assert not (tmp_path / "out").exists()
