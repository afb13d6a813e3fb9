"""Loading and saving the official layout: strict keys, clear errors, exact round trips."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.errors import InputError
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER


def _copy_model(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(FIXTURE_MODEL, target)
    return target


def _generate(pipe, dog_image):
    return pipe("on the beach", dog_image, "dog", num_inference_steps=2, height=64, width=64,
                generator=torch.Generator().manual_seed(0), output_type="np").images


def test_save_and_load_round_trip_is_exact(pipe, dog_image, tmp_path):
    pipe.save_pretrained(tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "model_index.json").read_text())
    assert index["qformer"] == ["blip_diffusion", "Blip2QFormerModel"]
    assert index["ctx_begin_pos"] == 2 and len(index["mean"]) == 3
    assert (tmp_path / "saved" / "qformer_tokenizer").is_dir()  # self-contained: no tokenizer argument needed
    reloaded = BlipDiffusionPipeline.from_pretrained(tmp_path / "saved")
    reloaded.set_progress_bar_config(disable=True)
    for name in ("qformer", "text_encoder", "unet", "vae"):
        ours, theirs = getattr(pipe, name).state_dict(), getattr(reloaded, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert (_generate(pipe, dog_image) == _generate(reloaded, dog_image)).all()


def test_bin_weights_load_like_safetensors(dog_image, pipe, tmp_path):
    model = _copy_model(tmp_path)
    weights = model / "qformer" / "model.safetensors"
    torch.save(load_file(weights), model / "qformer" / "pytorch_model.bin")
    weights.unlink()
    from_bin = BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)
    assert torch.equal(from_bin.qformer.query_tokens, pipe.qformer.query_tokens)


def test_missing_key_is_an_error_naming_it(tmp_path):
    model = _copy_model(tmp_path)
    path = model / "text_encoder" / "model.safetensors"
    state = load_file(path)
    del state["text_model.final_layer_norm.bias"]
    save_file(state, path)
    with pytest.raises(InputError, match=r"1 missing: text_model\.final_layer_norm\.bias"):
        BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)


def test_unexpected_and_mis_shaped_keys_are_errors(tmp_path):
    model = _copy_model(tmp_path)
    path = model / "qformer" / "model.safetensors"
    state = load_file(path)
    state["extra.weight"] = torch.zeros(1)
    state["query_tokens"] = torch.zeros(1, 8, 32)
    save_file(state, path)
    with pytest.raises(InputError, match=r"1 unexpected: extra\.weight; 1 mis-shaped: query_tokens"):
        BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)


def test_missing_component_folder_is_an_error(tmp_path):
    model = _copy_model(tmp_path)
    shutil.rmtree(model / "vae")
    with pytest.raises(InputError, match="lacks component 'vae'"):
        BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)


def test_not_a_model_folder(tmp_path):
    with pytest.raises(InputError, match="model_index.json is missing"):
        BlipDiffusionPipeline.from_pretrained(tmp_path)


def test_unknown_model_name():
    with pytest.raises(InputError, match="neither a model folder nor a Hub repo id"):
        BlipDiffusionPipeline.from_pretrained("no-such-folder")


def test_hub_id_offline_without_cache_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(InputError, match="Salesforce/blipdiffusion"):
        BlipDiffusionPipeline.from_pretrained("Salesforce/blipdiffusion")


def test_wrong_qformer_tokenizer_is_an_error(tmp_path):
    with pytest.raises(InputError, match="Q-Former tokenizer"):
        BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=tmp_path)


def test_float16_and_bfloat16_load(dog_image):
    for dtype in (torch.float16, torch.bfloat16):
        pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER,
                                                     torch_dtype=dtype)
        assert pipe.unet.dtype == dtype and pipe.qformer.dtype == dtype
        if dtype == torch.bfloat16:  # CPU float16 convolutions are not supported everywhere
            pipe.set_progress_bar_config(disable=True)
            image = _generate(pipe, dog_image)
            assert image.shape == (1, 64, 64, 3) and torch.isfinite(torch.from_numpy(image)).all()
