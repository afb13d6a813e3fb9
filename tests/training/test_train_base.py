"""Stage 0: each part's loss falls on a tiny model, and the assembled base model loads in diffusers."""

from pathlib import Path

import pytest
import torch
from transformers import CLIPVisionConfig, CLIPVisionModel

from blip_diffusion.toyworld.photos import LABEL_VALUES
from blip_diffusion.toyworld.scenes import SCENE_NAMES
from blip_diffusion.toyworld.subjects import VOCABULARIES
from blip_diffusion.training.base import clip_config, unet_config, vae_config, vision_config
from blip_diffusion.training.base_tasks import (
    ClipTask,
    UnetTask,
    VaeTask,
    VisionLabelsTask,
    encode_captions,
    load_text_encoder,
)
from blip_diffusion.training.data import ToyCaptions, ToyLabelled, unit_pixels
from blip_diffusion.training.diffusion import denoising_loss
from blip_diffusion.training.toy_tokenizers import toy_clip_tokenizer, toy_words
from tests.conftest import run_script

from .conftest import encoded_photos, fit, fixed_batch, tiny_base_config

CPU = torch.device("cpu")
CHECKPOINT_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "toy_base_checkpoint.py"


def test_toy_tokenizer_keeps_every_toy_word_whole():
    tokenizer = toy_clip_tokenizer()
    assert all(len(tokenizer(w, add_special_tokens=False).input_ids) == 1 for w in toy_words())


def test_clip_contrastive_loss_falls():
    config = tiny_base_config("unused")
    tokenizer = toy_clip_tokenizer()
    torch.manual_seed(0)
    task = ClipTask(clip_config(config.clip, tokenizer, 32), tokenizer, ToyCaptions(0, 32), CPU, False)
    losses = fit(task, 6, 2e-3, batch_size=6)
    assert losses[-1] < 0.5 * losses[0], losses


def test_vae_reconstruction_loss_falls():
    config = tiny_base_config("unused")
    torch.manual_seed(0)
    task = VaeTask(vae_config(config.vae), 1e-6, ToyCaptions(0, 32), CPU, False)
    losses = fit(task, 6, 5e-3, batch_size=2)
    assert losses[-1] < 0.75 * losses[0], losses


def test_toy_labels_index_each_attribute_and_the_scene_in_its_vocabulary():
    data = ToyLabelled(0, 32)
    for position in range(5):
        photo, labels = data.photos[position], data[position]["labels"]
        assert labels.keys() == LABEL_VALUES.keys()
        assert SCENE_NAMES[labels["scene"]] == photo.scene
        assert all(VOCABULARIES[name][labels[name]] == getattr(photo.subject, name)
                   for name in labels if name != "scene")
        assert all(0 <= labels[name] < LABEL_VALUES[name] for name in labels)


def _vision_task(held_out_photos: int = 8) -> VisionLabelsTask:
    part = tiny_base_config("unused").vision
    config = CLIPVisionConfig(**vision_config(part.width, part.layers, part.heads, part.patch_size, 32))
    torch.manual_seed(0)
    return VisionLabelsTask(config, ToyLabelled(0, 32), CPU, False, held_out_photos)


def test_vision_label_loss_falls_and_sums_one_cross_entropy_per_label():
    task = _vision_task()
    batch = fixed_batch(task, 6)
    loss, logs = task.loss(batch)
    assert sorted(logs) == sorted(f"loss_{name}" for name in LABEL_VALUES)
    assert loss.item() == pytest.approx(sum(logs.values()), rel=1e-5)
    losses = fit(task, 12, 3e-3, batch_size=6)
    assert losses[-1] < 0.5 * losses[0], losses


def test_a_vision_run_exports_a_tower_stage1_reads_with_its_held_out_accuracy(tmp_path):
    import json

    from blip_diffusion.training.base import train_base
    from blip_diffusion.training.subject_model import read_clip_vision

    folder = train_base(tiny_base_config(tmp_path, parts="vision"))
    assert folder == tmp_path / "vision" / "model"
    assert not (tmp_path / "model").exists() and not (tmp_path / "clip").exists()  # only the part asked for
    accuracy = json.loads((folder / "held_out_accuracy.json").read_text())
    assert accuracy.keys() == LABEL_VALUES.keys() and all(v in {i / 8 for i in range(9)} for v in accuracy.values())
    config, state = read_clip_vision(folder)
    assert (config.hidden_size, config.num_hidden_layers, config.image_size) == (32, 2, 32)
    tower = CLIPVisionModel.from_pretrained(folder).state_dict()
    assert {k.removeprefix("vision_model.") for k in state} == {k.removeprefix("vision_model.") for k in tower}


def test_held_out_photos_show_held_out_subjects_and_label_accuracy_counts_right_readings():
    from blip_diffusion.toyworld.subjects import is_held_out
    from blip_diffusion.training.base_tasks import held_out_photos, label_accuracy

    photos = held_out_photos(6, 32)
    assert all(is_held_out(p.subject) for p in photos)
    assert [p.caption for p in held_out_photos(6, 32)] == [p.caption for p in photos]

    class Oracle(torch.nn.Module):  # reads every label right but the scene of the first three photos
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(()))
            self.calls = 0

        def forward(self, pixels):
            chunk = photos[self.calls * 6:(self.calls + 1) * 6]
            self.calls += 1
            logits = {n: torch.nn.functional.one_hot(torch.tensor([p.labels()[n] for p in chunk]), c).float()
                      for n, c in LABEL_VALUES.items()}
            logits["scene"][:3] = logits["scene"][:3].roll(1, dims=-1)
            return logits

    accuracy = label_accuracy(Oracle(), photos, 32)
    assert accuracy == {**dict.fromkeys(LABEL_VALUES, 1.0), "scene": 0.5}


def test_encoded_photos_hold_what_the_frozen_encoders_give_and_are_read_back(tiny_base, tmp_path):
    parts, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors")
    item = ToyCaptions(0, 32)[5]
    with torch.no_grad():
        ids = parts["tokenizer"]([item["caption"]], padding="max_length", return_tensors="pt").input_ids
        states = parts["text_encoder"](ids).last_hidden_state[0]
        latents = parts["vae"].encode(unit_pixels([item["image"]])).latent_dist.mean[0]
    assert torch.allclose(encoded[5]["states"].float(), states, atol=1e-2)
    assert torch.allclose(encoded[5]["latents"], latents * parts["vae"].config.scaling_factor, atol=1e-5)
    assert encoded[5]["subject"].shape == (1, *latents.shape[-2:])
    assert abs(encoded[5]["subject"].mean().item() - item["alpha"].mean()) < 1e-5
    again = encode_captions(ToyCaptions(0, 32), 8, {}, tmp_path / "encoded.safetensors", CPU)  # no encoders needed
    assert torch.equal(again.tensors["latents"], encoded.tensors["latents"])
    assert torch.equal(again.empty, encoded.empty)


def test_unet_denoising_loss_falls_and_caption_dropout_uses_the_empty_text(tiny_base, tmp_path):
    _, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors")
    config = tiny_base_config("unused")
    cfg = unet_config(config.unet, 32, 4, 8)
    torch.manual_seed(0)
    task = UnetTask(cfg, encoded, 0.0, 3.0, 0, CPU, False)
    losses = fit(task, 6, 2e-3)
    assert losses[-1] < 0.7 * losses[0], losses
    assert [n for n, p in task.unet.named_parameters() if not p.requires_grad] == []

    task.caption_dropout = 1.0  # every caption dropped: the loss cannot depend on the captions' states
    batch = fixed_batch(task, 4)
    other = {**batch, "states": torch.randn_like(batch["states"].float())}
    torch.manual_seed(1)
    dropped = task.loss(batch)[0]
    torch.manual_seed(1)
    assert task.loss(other)[0] == dropped


def test_subject_weighted_loss_equals_the_plain_loss_under_uniform_weights(tiny_base, tmp_path):
    _, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors", count=4)
    cfg = unet_config(tiny_base_config("unused").unet, 32, 4, 8)
    task = UnetTask(cfg, encoded, 0.0, 0.0, 0, CPU, False)
    batch = fixed_batch(task, 4)
    latents, states = batch["latents"], batch["states"].float()
    torch.manual_seed(2)
    plain = denoising_loss(task.unet, task.scheduler, latents, states)
    torch.manual_seed(2)
    weighted = denoising_loss(task.unet, task.scheduler, latents, states, torch.full_like(batch["subject"], 2.5))
    assert torch.allclose(plain, weighted, atol=1e-6)


def test_subject_weights_add_the_coverage_and_peak_on_the_outline():
    from blip_diffusion.training.diffusion import subject_weights

    alpha = torch.zeros(1, 1, 4, 8)
    alpha[..., :2, :4] = 1.0  # latent pixel (0, 0) of a 2x2 grid: covered; (1, 1): half covered; the rest empty
    alpha[..., 2:, 4:6] = 1.0
    assert subject_weights(alpha, (2, 2), 0.0) is None
    assert torch.equal(subject_weights(alpha, (2, 2), 3.0), torch.tensor([[[[4.0, 1.0], [1.0, 2.5]]]]))
    # the outline term: 4c(1 - c) is 0 on covered and empty pixels and 1 on the half-covered one
    assert torch.equal(subject_weights(alpha, (2, 2), 0.0, edge=10.0), torch.tensor([[[[1.0, 1.0], [1.0, 11.0]]]]))
    assert torch.equal(subject_weights(alpha, (2, 2), 3.0, edge=10.0), torch.tensor([[[[4.0, 1.0], [1.0, 12.5]]]]))


def test_min_snr_weights_count_only_the_nearly_clean_timesteps_less():
    from blip_diffusion.training.diffusion import min_snr_weights, training_scheduler

    scheduler = training_scheduler()
    timesteps = torch.arange(1000)
    weights = min_snr_weights(scheduler, timesteps, 5.0)
    abar = scheduler.alphas_cumprod
    snr = abar / (1 - abar)
    assert torch.allclose(weights, torch.where(snr > 5, 5 / snr, torch.ones_like(snr)))
    assert weights[0] < 0.01 and weights[-1] == 1 and bool((weights.diff() >= 0).all())


def test_min_snr_loss_weighs_each_sample_by_its_timestep(tiny_base, tmp_path):
    from blip_diffusion.training.diffusion import min_snr_weights

    _, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors", count=4)
    task = UnetTask(unet_config(tiny_base_config("unused").unet, 32, 4, 8), encoded, 0.0, 0.0, 0, CPU, False)
    batch = fixed_batch(task, 4)
    latents, states = batch["latents"], batch["states"].float()
    torch.manual_seed(13)
    plain = denoising_loss(task.unet, task.scheduler, latents, states)
    torch.manual_seed(13)
    assert torch.allclose(denoising_loss(task.unet, task.scheduler, latents, states, snr_gamma=1e9), plain, atol=1e-6)

    torch.manual_seed(13)  # the same draws as denoising_loss makes: noise, then timesteps
    noise = torch.randn(latents.shape)
    timesteps = torch.randint(0, 1000, (4,))
    with torch.no_grad():
        prediction = task.unet(task.scheduler.add_noise(latents, noise, timesteps), timesteps, states).sample
    per_sample = (prediction - noise).pow(2).mean(dim=(1, 2, 3))
    expected = (per_sample * min_snr_weights(task.scheduler, timesteps, 5.0)).mean()
    torch.manual_seed(13)
    with torch.no_grad():
        weighted = denoising_loss(task.unet, task.scheduler, latents, states, snr_gamma=5.0)
    assert torch.allclose(weighted, expected, rtol=1e-5)
    assert weighted < plain  # seed 13 draws t = 45 (SNR above 5): that sample counts less


def test_a_negative_snr_gamma_is_refused():
    from blip_diffusion.errors import InputError

    with pytest.raises(InputError, match="unet.snr_gamma must be 0"):
        tiny_base_config("unused", extra=("unet.snr_gamma=-1",))


def test_base_model_loads_as_a_diffusers_pipeline(tiny_base):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(tiny_base)
    assert type(pipe).__name__ == "StableDiffusionPipeline"
    assert (tiny_base / "clip" / "config.json").is_file()
    pipe.set_progress_bar_config(disable=True)
    image = pipe("a red star on the beach", num_inference_steps=2, height=32, width=32, output_type="np",
                 generator=torch.Generator().manual_seed(0)).images
    assert image.shape == (1, 32, 32, 3)


def test_base_text_encoder_matches_the_trained_clip_tower(tiny_base):
    from transformers import CLIPModel, CLIPTextModel

    clip = CLIPModel.from_pretrained(tiny_base / "clip")
    exported = CLIPTextModel.from_pretrained(tiny_base / "text_encoder")
    ours = load_text_encoder(tiny_base / "clip")
    ids = torch.tensor([[49, 10, 20, 30] + [clip.config.text_config.eos_token_id] * 3])
    ids[0, 0] = clip.config.text_config.bos_token_id
    with torch.no_grad():
        reference = clip.text_model(ids).last_hidden_state
        assert torch.allclose(exported(ids).last_hidden_state, reference, atol=1e-5)
        assert torch.allclose(ours(ids).last_hidden_state, reference, atol=1e-5)


def test_hard_negative_captions_change_one_attribute_each_and_repeat_by_position():
    data = ToyCaptions(0, 32, negatives=3)
    item = data[7]
    words = item["caption"].split()
    assert len(item["negatives"]) == 3 and len(set(item["negatives"])) == 3
    for negative in item["negatives"]:
        changed = [(a, b) for a, b in zip(words, negative.split(), strict=True) if a != b]
        assert 1 <= len(changed) <= 2, (item["caption"], negative)  # two when body and accent swap
    assert data[7]["negatives"] == item["negatives"]
    assert "negatives" not in ToyCaptions(0, 32)[7]


def test_hard_negatives_need_full_captions_and_at_most_one_per_attribute():
    from blip_diffusion.errors import InputError

    with pytest.raises(InputError, match="full captions"):
        ToyCaptions(0, 32, caption="prompt", negatives=2)
    with pytest.raises(InputError, match="negatives must be 0..5"):
        ToyCaptions(0, 32, negatives=6)


def test_clip_loss_is_clip_models_own_without_negatives_and_falls_with_them():
    config = tiny_base_config("unused")
    tokenizer = toy_clip_tokenizer()
    torch.manual_seed(0)
    task = ClipTask(clip_config(config.clip, tokenizer, 32), tokenizer, ToyCaptions(0, 32), CPU, False)
    batch = fixed_batch(task, 4)
    expected = task.model(input_ids=batch["input_ids"], pixel_values=batch["pixel_values"], return_loss=True).loss
    torch.testing.assert_close(task.loss(batch)[0], expected)

    torch.manual_seed(0)
    task = ClipTask(clip_config(config.clip, tokenizer, 32), tokenizer, ToyCaptions(0, 32, negatives=2), CPU, False)
    batch = fixed_batch(task, 4)
    assert batch["negative_ids"].shape == (8, batch["input_ids"].shape[1])
    assert batch["input_ids"].shape[1] < tokenizer.model_max_length  # padded to the longest caption only
    padded = dict(batch)
    for key in ("input_ids", "negative_ids"):
        pad = torch.full((len(batch[key]), tokenizer.model_max_length - batch[key].shape[1]), tokenizer.pad_token_id)
        padded[key] = torch.cat([batch[key], pad], dim=1)
    torch.testing.assert_close(task.loss(padded)[0], task.loss(batch)[0])  # the padding changes nothing
    losses = fit(task, 6, 2e-3, batch_size=4)
    assert losses[-1] < 0.5 * losses[0], losses


def test_unet_attention_levels_follow_the_config():
    from blip_diffusion.errors import InputError

    default = unet_config(tiny_base_config("unused").unet, 32, 4, 8)
    assert default["down_block_types"] == ["CrossAttnDownBlock2D", "DownBlock2D"]
    assert default["up_block_types"] == ["UpBlock2D", "CrossAttnUpBlock2D"]
    config = tiny_base_config("unused", extra=("unet.block_out_channels=8,16,16", "unet.attention=false,true,false"))
    cfg = unet_config(config.unet, 32, 4, 8)
    assert cfg["down_block_types"] == ["DownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
    assert cfg["up_block_types"] == ["UpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"]
    with pytest.raises(InputError, match=r"unet.attention: expected 2 values"):
        tiny_base_config("unused", extra=("unet.attention=true",))


@pytest.mark.parametrize("part", ["unet", "clip"])
def test_a_checkpoint_exports_as_the_model_the_run_ends_with(tiny_base, tmp_path, part):
    from diffusers import UNet2DConditionModel
    from transformers import CLIPModel

    from .conftest import TINY_CLIP, TINY_UNET, TINY_VAE

    (tmp_path / "run.toml").write_text("[data]\nresolution = 32\n")
    run_script(CHECKPOINT_SCRIPT, "--part", part, str(tmp_path / "run.toml"), str(tmp_path / "model"),
               f"out={tiny_base.parent}", *TINY_CLIP, *TINY_VAE, *TINY_UNET)
    if part == "unet":
        exported = UNet2DConditionModel.from_pretrained(tmp_path / "model" / "unet").state_dict()
        final = UNet2DConditionModel.from_pretrained(tiny_base / "unet").state_dict()
    else:
        exported = CLIPModel.from_pretrained(tmp_path / "model").state_dict()
        final = CLIPModel.from_pretrained(tiny_base.parent / "clip" / "model").state_dict()
        assert (tmp_path / "model" / "tokenizer_config.json").is_file()
    assert exported.keys() == final.keys() and all(torch.equal(exported[k], final[k]) for k in final)


def test_an_encoded_file_without_token_ids_is_encoded_again(tiny_base, tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "encoded.safetensors"
    _, encoded = encoded_photos(tiny_base, path)
    older = {k: v for k, v in load_file(path).items() if k not in ("ids", "empty_ids")}  # as an older version wrote it
    save_file(older, path)
    _, again = encoded_photos(tiny_base, path)
    assert torch.equal(again.tensors["ids"], encoded.tensors["ids"])
    assert "ids" in load_file(path)


def test_a_text_encoder_trained_with_the_unet_reads_the_token_ids(tiny_base, tmp_path):
    _, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors")
    clip_dir = tiny_base.parent / "clip" / "model"
    cfg = unet_config(tiny_base_config("unused").unet, 32, 4, 8)
    torch.manual_seed(0)
    task = UnetTask(cfg, encoded, 0.0, 0.0, 0, CPU, False, text_encoder=load_text_encoder(clip_dir))
    assert list(task.modules()) == ["unet", "text_encoder"]
    batch = fixed_batch(task, 4)
    other_states = {**batch, "states": torch.randn_like(batch["states"].float())}
    other_ids = {**batch, "ids": batch["ids"].flip(0)}
    losses = []
    for changed in (batch, other_states, other_ids):
        torch.manual_seed(1)
        losses.append(task.loss(changed)[0])
    assert losses[1] == losses[0] and losses[2] != losses[0]  # the captions' ids count, the frozen states do not
    losses[0].backward()
    assert all(p.grad is not None for p in task.text_encoder.parameters() if p.requires_grad)

    task.caption_dropout = 1.0  # every caption dropped: the empty text's ids, whatever the captions
    torch.manual_seed(1)
    dropped = task.loss(batch)[0]
    torch.manual_seed(1)
    assert task.loss(other_ids)[0] == dropped


def test_a_base_run_with_a_trained_text_encoder_exports_it(tiny_base, tmp_path):
    import shutil

    from diffusers import DiffusionPipeline
    from transformers import CLIPTextModel

    from blip_diffusion.training.base import train_base

    from .conftest import TINY_UNET, TINY_VAE

    for part in ("clip", "vae"):
        shutil.copytree(tiny_base.parent / part / "model", tmp_path / "run" / part / "model")
    torch.manual_seed(0)
    model = train_base(tiny_base_config(tmp_path / "run", extra=("unet.train_text_encoder=true",)))
    exported = CLIPTextModel.from_pretrained(model / "text_encoder").state_dict()
    frozen = CLIPTextModel.from_pretrained(tiny_base / "text_encoder").state_dict()
    assert exported.keys() == frozen.keys()
    assert not all(torch.equal(exported[k], frozen[k]) for k in frozen)  # trained, not the CLIP's tower
    pipe = DiffusionPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    assert pipe("a red star", num_inference_steps=2, height=32, width=32, output_type="np").images.shape == (1, 32, 32, 3)

    (tmp_path / "run.toml").write_text("[data]\nresolution = 32\n")
    run_script(CHECKPOINT_SCRIPT, str(tmp_path / "run.toml"), str(tmp_path / "probe"), f"out={tmp_path / 'run'}",
               "unet.train_text_encoder=true", *TINY_VAE, *TINY_UNET)
    probe = CLIPTextModel.from_pretrained(tmp_path / "probe" / "text_encoder").state_dict()
    assert all(torch.equal(probe[k], exported[k]) for k in exported)
