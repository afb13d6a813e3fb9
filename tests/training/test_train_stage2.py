"""Stage 2 on the tiny models of this session: the loss falls, frozen parts stay bitwise, the ablation switches."""

import torch

from blip_diffusion.models.loading import read_state_dict
from blip_diffusion.training.stage2 import Stage2Task, encode_targets, load_parts, stage2_data, train_stage2

from .conftest import fit, fixed_batch, state, tiny_stage2_config

CPU = torch.device("cpu")


def config_for(tmp_path, base, stage1, steps=2, extra=()):
    return tiny_stage2_config(tmp_path, base, stage1, steps, extra)


def make_task(tmp_path, base, stage1, extra=()):
    config = config_for(tmp_path, base, stage1, extra=extra)
    torch.manual_seed(0)
    return Stage2Task(config, load_parts(config), stage2_data(config.data), CPU, torch.float32)


def test_denoising_with_subject_loss_falls(tmp_path, tiny_base, tiny_stage1):
    task = make_task(tmp_path, tiny_base, tiny_stage1, ("subject_drop_prob=0", "caption_dropout=0"))
    losses = fit(task, 8, 2e-3, batch_size=2)
    assert losses[-1] < 0.7 * losses[0], losses


def test_trained_parts_change_frozen_parts_stay_bitwise(tmp_path, tiny_base, tiny_stage1):
    model = train_stage2(config_for(tmp_path / "run", tiny_base, tiny_stage1, steps=1,
                                    extra=("subject_drop_prob=0", "caption_dropout=0")))
    origin = {"qformer": tiny_stage1, "vae": tiny_base, "text_encoder": tiny_base, "unet": tiny_base}
    for component, frozen in (("qformer", "visual_encoder."), ("vae", "")):
        before, after = read_state_dict(origin[component] / component), read_state_dict(model / component)
        for key, value in before.items():
            if key.startswith(frozen):
                assert torch.equal(after[key], value), key
    qformer_before, qformer_after = read_state_dict(tiny_stage1 / "qformer"), read_state_dict(model / "qformer")
    for prefix in ("query_tokens", "encoder.layer.0.crossattention", "proj_layer.dense1"):
        keys = [k for k in qformer_before if k.startswith(prefix)]
        assert any(not torch.equal(qformer_before[k], qformer_after[k]) for k in keys), prefix
    for component in ("text_encoder", "unet"):
        before, after = read_state_dict(origin[component] / component), read_state_dict(model / component)
        assert any(not torch.equal(before[k], after[k]) for k in before), component


def test_freeze_text_encoder_keeps_it_and_still_trains_the_qformer(tmp_path, tiny_base, tiny_stage1):
    task = make_task(tmp_path, tiny_base, tiny_stage1, ("freeze_text_encoder=true",))
    assert set(task.modules()) == {"subject", "unet"}
    text_before = state(task.text_encoder)
    task.loss(fixed_batch(task, 2))[0].backward()
    assert all(p.grad is None for p in task.text_encoder.parameters())
    assert task.subject.encoder.query_tokens.grad is not None
    assert all(torch.equal(v, state(task.text_encoder)[k]) for k, v in text_before.items())


def test_skip_stage1_starts_from_a_fresh_qformer_with_the_same_image_encoder(tmp_path, tiny_base, tiny_stage1):
    normal = load_parts(config_for(tmp_path, tiny_base, tiny_stage1))["qformer"].state_dict()
    fresh = load_parts(config_for(tmp_path, tiny_base, tiny_stage1, extra=("skip_stage1=true",)))["qformer"].state_dict()
    for key in normal:
        same = torch.equal(normal[key], fresh[key])
        if key.startswith("visual_encoder.") or key.endswith("position_ids"):
            assert same, key
        elif not key.endswith(("LayerNorm.weight", "LayerNorm.bias", ".bias")):  # fresh ones, 1 and 0
            assert not same, key


def test_class_text_switch_decides_whether_the_word_reaches_the_queries(tmp_path, tiny_base, tiny_stage1):
    for with_text in (True, False):
        task = make_task(tmp_path, tiny_base, tiny_stage1, (f"class_text_to_qformer={str(with_text).lower()}",))
        task.subject.eval()
        batch = fixed_batch(task, 1)
        other = dict(batch, **task.collate([dict(task.dataset()[0], **{"class": "kite"})]))
        other["source"] = batch["source"]
        with torch.no_grad():
            same = torch.equal(task.subject_embeddings(batch), task.subject_embeddings(other))
        assert same is not with_text


def test_subject_drop_probability_sets_the_share_of_rows_with_a_subject(tmp_path, tiny_base, tiny_stage1):
    kept = make_task(tmp_path, tiny_base, tiny_stage1, ("subject_drop_prob=0", "caption_dropout=0"))
    assert kept.loss(fixed_batch(kept, 2))[1]["subject_rows"] == 1.0
    dropped = make_task(tmp_path, tiny_base, tiny_stage1, ("subject_drop_prob=1",))
    loss, logs = dropped.loss(fixed_batch(dropped, 2))
    loss.backward()
    assert logs["subject_rows"] == 0.0
    assert torch.count_nonzero(dropped.subject.encoder.query_tokens.grad) == 0  # in the graph, no signal


def test_prompt_reps_train_on_the_text_the_pipeline_writes(tmp_path, tiny_base, tiny_stage1):
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline

    task = make_task(tmp_path, tiny_base, tiny_stage1, ("prompt_reps=3",))
    item = dict(task.dataset()[0], caption="a star on the beach")
    batch = task.collate([item])
    written = BlipDiffusionPipeline.build_prompt("on the beach", "star", 1.0, 3)
    tokenizer = task.parts["tokenizer"]
    expected = tokenizer([written], padding="max_length", truncation=True,
                         max_length=task.text_length, return_tensors="pt").input_ids
    assert torch.equal(batch["ids_plain"], expected)


def test_toy_targets_are_encoded_once_and_the_run_trains_on_them(tmp_path, tiny_base, tiny_stage1):
    from safetensors.torch import load_file

    from blip_diffusion.training.data import clip_pixels, unit_pixels
    from blip_diffusion.training.diffusion import latent_means
    from blip_diffusion.training.subject_model import image_features

    config = config_for(tmp_path / "run", tiny_base, tiny_stage1, steps=1, extra=("data.photos=6",))
    train_stage2(config)
    latents = load_file(tmp_path / "run" / "encoded.safetensors")["latents"]
    parts, data = load_parts(config), stage2_data(config.data)
    assert len(latents) == 6
    assert torch.allclose(latents[4], latent_means(parts["vae"], unit_pixels([data[4]["image"]]))[0], atol=1e-5)
    features = load_file(tmp_path / "run" / "encoded.safetensors")["features"]
    size = parts["qformer"].config.vision_config.image_size
    with torch.no_grad():
        expected = image_features(parts["qformer"], clip_pixels([data[4]["source"]], size), False)[0]
    assert features.dtype == torch.float16 and torch.allclose(features[4].float(), expected, atol=1e-2)
    task = Stage2Task(config, parts, encode_targets(data, 6, None, tmp_path / "run" / "encoded.safetensors", CPU),
                      CPU, torch.float32)  # read back: no VAE or image encoder needed
    batch = fixed_batch(task, 2)
    assert "target" not in batch and "source" not in batch and torch.equal(batch["latents"], latents[:2])
    drawn = Stage2Task(config, parts, data, CPU, torch.float32)
    task.subject.eval()
    with torch.no_grad():  # the composites' cached features give the embeddings their pixels give
        cached, direct = task.subject_embeddings(batch), drawn.subject_embeddings(fixed_batch(drawn, 2))
    assert torch.allclose(cached, direct, atol=1e-2)


def test_targets_encoded_by_other_models_are_encoded_again(tmp_path, tiny_base, tiny_stage1):
    config = config_for(tmp_path, tiny_base, tiny_stage1)
    parts, data, path = load_parts(config), stage2_data(config.data), tmp_path / "encoded.safetensors"
    first = encode_targets(data, 4, parts["vae"], path, CPU, subject_encoder=parts["qformer"])
    written = path.stat().st_ino
    encode_targets(data, 4, parts["vae"], path, CPU, subject_encoder=parts["qformer"])
    assert path.stat().st_ino == written  # the same models: read back
    with torch.no_grad():
        parts["qformer"].visual_encoder.post_layernorm.bias.add_(1.0)
    second = encode_targets(data, 4, parts["vae"], path, CPU, subject_encoder=parts["qformer"])
    assert path.stat().st_ino != written
    assert torch.allclose(second.tensors["features"].float(), first.tensors["features"].float() + 1, atol=1e-2)
    assert torch.equal(second.tensors["latents"], first.tensors["latents"])


def test_subject_loss_weight_changes_the_loss_only_through_the_subject(tmp_path, tiny_base, tiny_stage1):
    plain = make_task(tmp_path, tiny_base, tiny_stage1, ("subject_drop_prob=0", "caption_dropout=0"))
    weighted = make_task(tmp_path, tiny_base, tiny_stage1, ("subject_drop_prob=0", "caption_dropout=0",
                                                             "subject_loss_weight=4"))
    batch = fixed_batch(plain, 2)
    losses = []
    for task, alpha in ((plain, batch["alpha"]), (weighted, batch["alpha"]), (weighted, torch.zeros_like(batch["alpha"]))):
        torch.manual_seed(3)
        with torch.no_grad():
            losses.append(task.loss({**batch, "alpha": alpha})[0])
    assert not torch.allclose(losses[0], losses[1])
    assert torch.allclose(losses[0], losses[2])  # no subject pixels: the plain loss
