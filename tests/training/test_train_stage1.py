"""Stage 1: ITC, ITM and ITG losses fall; hard negatives; what is frozen stays bitwise unchanged."""

import torch
from transformers import BertConfig, BertModel

from blip_diffusion.models.bert_init import bert_to_qformer
from blip_diffusion.models.loading import read_state_dict
from blip_diffusion.training.stage1 import Stage1Task, _draw, stage1_tokenizer

from .conftest import changed, fixed_batch, state, tiny_stage1_config

CPU = torch.device("cpu")


def make_task(tiny_base, tmp_path, extra=()):
    config = tiny_stage1_config(tmp_path, tiny_base / "clip", extra=extra)
    torch.manual_seed(0)
    return Stage1Task(config, stage1_tokenizer(config, tmp_path), CPU)


def test_each_objective_falls(tiny_base, tmp_path):
    task = make_task(tiny_base, tmp_path)
    batch = fixed_batch(task, 6)
    params = [p for p in task.model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=3e-3)
    history = []
    for _ in range(8):
        torch.manual_seed(0)
        total, logs = task.loss(batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(logs)
    for name in ("itc", "itm", "itg"):
        assert history[-1][name] < 0.9 * history[0][name], (name, [h[name] for h in history])


def test_hard_negatives_never_draw_an_identical_text():
    same = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    weights = torch.rand(3, 3).masked_fill(same, 0)
    draws = torch.stack([_draw(weights) for _ in range(50)])
    assert set(draws[:, 0].tolist()) == {2} and set(draws[:, 2].tolist()) <= {0, 1}
    assert _draw(torch.zeros(2, 2)).shape == (2,)  # all identical: any index, no error


def test_frozen_tower_unchanged_qformer_and_ln_vision_trained(tiny_base, tiny_stage1):
    from blip_diffusion.training.subject_model import (
        blip2_vision_config,
        read_clip_vision,
        vision_state_from_clip,
    )

    clip_config, clip_state = read_clip_vision(tiny_base / "clip")
    initial = vision_state_from_clip(clip_state, blip2_vision_config(clip_config, 1), False)
    trained = read_state_dict(tiny_stage1 / "qformer")
    tower = {k: v for k, v in initial.items() if not k.startswith("post_layernorm")}
    assert all(torch.equal(trained[f"visual_encoder.{k}"], v) for k, v in tower.items())
    assert not torch.equal(trained["visual_encoder.post_layernorm.weight"], initial["post_layernorm.weight"])
    assert len(trained) > 0 and "query_tokens" in trained


def test_a_saved_clip_vision_model_reads_as_its_clip(tiny_base, tmp_path):
    from transformers import CLIPVisionModel

    from blip_diffusion.models.clip_towers import VISION_PREFIX
    from blip_diffusion.training.subject_model import read_clip_vision

    clip_config, clip_state = read_clip_vision(tiny_base / "clip")
    tower = {k: v for k, v in clip_state.items() if k.startswith(VISION_PREFIX)}
    model = CLIPVisionModel(clip_config)  # built fresh, as a vision tower trained on its own is
    model.load_state_dict({k.removeprefix(VISION_PREFIX): v for k, v in tower.items()}, strict=False)
    model.save_pretrained(tmp_path, safe_serialization=True)
    vision_config, vision_state = read_clip_vision(tmp_path)
    shape = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size", "patch_size")
    assert all(getattr(vision_config, k) == getattr(clip_config, k) for k in shape)
    assert all(torch.equal(v, vision_state[k]) for k, v in tower.items() if not k.endswith("position_ids"))


def test_one_loop_step_changes_only_trained_weights(tiny_base, tmp_path):
    task = make_task(tiny_base, tmp_path)
    before = state(task.model)
    params = [p for p in task.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    loss, _ = task.loss(fixed_batch(task, 4))
    loss.backward()
    optimizer.step()
    moved = changed(before, state(task.model))
    frozen = {k for k in before if k.startswith("encoder.visual_encoder.") and "post_layernorm" not in k}
    frozen |= {k for k in before if k.startswith("encoder.proj_layer.")}
    assert not moved & frozen
    assert {"encoder.query_tokens", "heads.temp", "encoder.visual_encoder.post_layernorm.weight"} <= moved


def test_bert_weights_initialise_the_qformer(tiny_base, tmp_path):
    task = make_task(tiny_base, tmp_path)
    encoder = task.model.encoder
    qformer = encoder.config.qformer_config
    bert = BertModel(BertConfig(vocab_size=qformer.vocab_size - 1, hidden_size=qformer.hidden_size,
                                num_hidden_layers=qformer.num_hidden_layers, intermediate_size=qformer.intermediate_size,
                                num_attention_heads=qformer.num_attention_heads))
    mapped = bert_to_qformer(bert.state_dict(), encoder)
    source = bert.state_dict()
    assert torch.equal(mapped["encoder.layer.1.attention.attention.key.weight"], source["encoder.layer.1.attention.self.key.weight"])
    assert torch.equal(mapped["encoder.layer.0.output_query.dense.weight"], source["encoder.layer.0.output.dense.weight"])
    assert torch.equal(mapped["embeddings.word_embeddings.weight"][:-1], source["embeddings.word_embeddings.weight"])
    assert torch.equal(mapped["encoder.layer.0.crossattention.attention.key.weight"],
                       encoder.state_dict()["encoder.layer.0.crossattention.attention.key.weight"])
