"""Multi-subject prompts: syntax, token budget, where the embeddings land, regional attention, CLI, bleeding score."""

from __future__ import annotations

import argparse

import pytest
import torch
from PIL import Image

from blip_diffusion.cli import multi_subject as multi_subject_cli
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.multi_subject import (
    PromptSubject,
    bleeding_rate,
    crop_region,
    encode_subject_prompt,
    generate_multi_subject,
    layout_prompt,
    parse_subject_prompt,
    region_mask,
    subject_spans,
)
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

DOG, CAT = ASSETS / "dreambench" / "dog" / "00.jpg", ASSETS / "dreambench" / "cat" / "00.jpg"
PROMPT = "a [dog] dog and a [cat] cat on the beach"
FAST = {"num_inference_steps": 1, "height": 32, "width": 32, "output_type": "latent"}


@pytest.fixture(scope="module")
def subjects(pipe):
    dog, cat = pipe.encode_subject(DOG, "dog"), pipe.encode_subject(CAT, "cat")
    return {"dog": PromptSubject(dog), "cat": PromptSubject(cat)}


def _seed(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("prompt, message", [
    ("a dog and a cat", r"no subject reference such as '\[dog\] dog'"),
    ("a [dog] dog and a [cow] cow", r"unknown subject \[cow\]; given subjects: dog, cat"),
    ("a [dog] dog and a cat", "not referenced in the prompt: cat"),
    ("a [dog dog and a [cat] cat", "unmatched '\\['"),
    ("a [dog] dog] and a [cat] cat", "unmatched '\\]'"),
    ("a [my dog] dog and a [cat] cat", r"bad subject reference \[my dog\]"),
    ("a [cat] cat and a [dog]", r"\[dog\] must be followed by its class word"),
    ("a [cat][dog] dog", r"\[cat\] must be followed by its class word"),
])
def test_bad_syntax_is_a_clear_error(prompt, message):
    with pytest.raises(InputError, match=message):
        parse_subject_prompt(prompt, ["dog", "cat"])


def test_parse_and_layout(pipe):
    text, names, prefixes = parse_subject_prompt("  a [dog] dog and  a [ cat ] cat on the beach", ["dog", "cat"])
    assert text == "a dog and a cat on the beach" and names == ["dog", "cat"] and prefixes == ["a", "a dog and a"]
    layout = layout_prompt(pipe, PROMPT, ["dog", "cat"])
    ids = pipe.tokenizer(layout.text).input_ids
    assert [pipe.tokenizer.decode(ids[p]) for p in layout.positions] == ["dog", "cat"]  # before each class word
    assert subject_spans(layout, 16) == [(2, 18), (layout.positions[1] + 16, layout.positions[1] + 32)]


def test_token_budget_shrinks_by_16_per_subject(pipe):
    words = " ".join(["dog"] * 45)
    one = layout_prompt(pipe, f"a [dog] dog {words}", ["dog"])  # fits 77 - 16 = 61 tokens
    assert len(pipe.tokenizer(one.text).input_ids) > 77 - 32
    with pytest.raises(InputError, match=r"prompt is too long: \d+ tokens \+ 16 per subject x 2 > 77 positions; "
                                         r"shorten it to 45 tokens"):
        layout_prompt(pipe, f"a [dog] dog and a [cat] cat {words}", ["dog", "cat"])


def test_subject_embeddings_land_before_their_class_words(pipe, subjects):
    captured = []
    embeddings = pipe.text_encoder.text_model.embeddings
    handle = embeddings.register_forward_pre_hook(lambda module, inputs: captured.append(inputs[0]))
    try:
        generate_multi_subject(pipe, PROMPT, subjects, guidance_scale=1.0, generator=_seed(), **FAST)
    finally:
        handle.remove()
    inputs = captured[0][0]  # (77, D): token embeddings with the subjects spliced in
    layout = layout_prompt(pipe, PROMPT, ["dog", "cat"])
    (dog_start, dog_stop), (cat_start, cat_stop) = subject_spans(layout, 16)
    assert torch.equal(inputs[dog_start:dog_stop], subjects["dog"].reference.embeds)
    assert torch.equal(inputs[cat_start:cat_stop], subjects["cat"].reference.embeds)
    ids = pipe.tokenizer(", ".join([layout.text] * 20), truncation=True, max_length=45, padding="max_length",
                         return_tensors="pt").input_ids[0]
    text_rows = torch.cat([inputs[:dog_start], inputs[dog_stop:cat_start], inputs[cat_stop:]])
    assert torch.equal(text_rows, embeddings.token_embedding(ids))


def test_one_subject_reproduces_the_single_subject_pipeline(pipe, subjects):
    ours = generate_multi_subject(pipe, "a [dog] dog on the beach", {"dog": subjects["dog"]}, generator=_seed(),
                                  **FAST).images
    base = pipe("on the beach", subjects["dog"].reference, generator=_seed(), **FAST).images
    assert torch.equal(ours, base)


def test_regions_give_each_pixel_its_own_regions_encoding(pipe, subjects):
    regional = {"dog": PromptSubject(subjects["dog"].reference, region="left"),
                "cat": PromptSubject(subjects["cat"].reference, region="right")}
    store, processors = [], pipe.unet.attn_processors
    confined = generate_multi_subject(pipe, PROMPT, regional, generator=_seed(), attention_store=store, **FAST).images
    assert len(store) == 4  # the fixture UNet's 4 cross-attention layers, 1 UNet evaluation
    for probs in store:  # (2 rows: unconditional, conditional; heads; pixels; 3 views x 77 tokens)
        side = int(probs.shape[2] ** 0.5)
        left = (torch.arange(side * side) % side) < side // 2
        background, dog, cat = (probs[1, :, :, 77 * view:77 * (view + 1)].sum(dim=-1) for view in range(3))
        assert (background == 0).all()  # left and right cover every pixel
        assert torch.allclose(dog[:, left], torch.tensor(1.0)) and (dog[:, ~left] == 0).all()
        assert torch.allclose(cat[:, ~left], torch.tensor(1.0)) and (cat[:, left] == 0).all()
        assert (probs[0] > 0).all()  # the unconditional row sees every view
    free = generate_multi_subject(pipe, PROMPT, subjects, generator=_seed(), **FAST).images
    assert (confined - free).abs().max() > 1e-4
    again = generate_multi_subject(pipe, PROMPT, regional, generator=_seed(), **FAST).images
    assert torch.equal(confined, again)
    assert pipe.unet.attn_processors == processors  # the UNet's own processors are back


def _conditioning(pipe, subjects):
    """The text conditioning the UNet gets in a one-step regional call (dog left, cat right)."""
    captured = []
    hook = pipe.unet.register_forward_pre_hook(
        lambda module, args, kwargs: captured.append(kwargs["encoder_hidden_states"]), with_kwargs=True)
    regional = {"dog": PromptSubject(subjects["dog"].reference, region="left"),
                "cat": PromptSubject(subjects["cat"].reference, region="right")}
    try:
        generate_multi_subject(pipe, PROMPT, regional, generator=_seed(), **FAST)
    finally:
        hook.remove()
    return captured[0]


def test_a_regions_encoding_holds_no_other_confined_subject(pipe, subjects):
    cond = _conditioning(pipe, subjects)  # (2 rows, 3 views x 77, D): background, dog's, cat's
    negative = pipe.encode_negative_prompt([""])[0]
    assert all(torch.equal(cond[0, 77 * view:77 * (view + 1)], negative) for view in range(3))
    layout = layout_prompt(pipe, PROMPT, ["dog", "cat"])
    embeds = {name: s.reference.embeds[None] for name, s in subjects.items()}
    for view, names in enumerate([[], ["dog"], ["cat"]]):
        expected = encode_subject_prompt(pipe, layout, embeds, names=names)[0]
        assert torch.equal(cond[1, 77 * view:77 * (view + 1)], expected)
    # The text encoder is causal: in one shared encoding the dog would reach every token after it.
    # Here another dog changes the dog's view and nothing else.
    other_dog = {"dog": PromptSubject(subjects["cat"].reference), "cat": subjects["cat"]}
    changed = _conditioning(pipe, other_dog)
    assert torch.equal(changed[1, :77], cond[1, :77]) and torch.equal(changed[1, 154:], cond[1, 154:])
    assert not torch.equal(changed[1, 77:154], cond[1, 77:154])


def test_an_empty_region_is_a_clear_error(pipe, subjects):
    nowhere = {"dog": PromptSubject(subjects["dog"].reference, region=torch.zeros(32, 32)), "cat": subjects["cat"]}
    with pytest.raises(InputError, match="the region of subject dog is empty at 32x32"):
        generate_multi_subject(pipe, PROMPT, nowhere, generator=_seed(), **FAST)


def test_full_regions_change_nothing(pipe, subjects):
    full = {name: PromptSubject(s.reference, region="full") for name, s in subjects.items()}
    ours = generate_multi_subject(pipe, PROMPT, full, guidance_scale=1.0, generator=_seed(), **FAST).images
    free = generate_multi_subject(pipe, PROMPT, subjects, guidance_scale=1.0, generator=_seed(), **FAST).images
    assert (ours - free).abs().max() < 1e-5  # explicit attention vs the fused kernel: rounding only


def test_region_masks(tmp_path):
    assert region_mask("left", 8, 4)[:, :4].all() and not region_mask("left", 8, 4)[:, 4:].any()
    assert region_mask("bottom", 8, 4).sum() == 16
    mask = Image.new("L", (16, 8))
    mask.paste(255, (0, 0, 4, 8))
    mask.save(tmp_path / "mask.png")
    assert torch.equal(region_mask(str(tmp_path / "mask.png"), 8, 4)[:, :2], torch.ones(4, 2))
    assert region_mask(tmp_path / "mask.png", 8, 4).sum() == 8
    with pytest.raises(InputError, match="region must be one of left, right, top, bottom, full"):
        region_mask("middle", 8, 4)
    with pytest.raises(InputError, match=r"region mask must have shape \(4, 8\)"):
        region_mask(torch.ones(3, 3), 8, 4)
    with pytest.raises(InputError, match="region mask is 16x8 but the output is 8x8"):
        region_mask(mask, 8, 8)


def test_crops_and_bleeding_rate():
    image = Image.new("RGB", (8, 4))
    assert crop_region(image, "right").size == (4, 4) and crop_region(image, "top").size == (8, 2)
    with pytest.raises(InputError, match="region is empty"):
        crop_region(image, torch.zeros(4, 8))
    assert bleeding_rate([0.9, 0.8, 0.4, 0.5], [0.1, 0.9, 0.2, 0.5]) == 0.5  # ties count as bleeding
    with pytest.raises(InputError, match="same non-zero number"):
        bleeding_rate([0.9], [])


def _command(argv):
    parser = argparse.ArgumentParser()
    multi_subject_cli.add_arguments(parser)
    return multi_subject_cli.run(parser.parse_args(
        ["--model", str(FIXTURE_MODEL), "--qformer-tokenizer", str(QFORMER_TOKENIZER), "--steps", "1",
         "--guidance", "1", "--size", "32x32", *argv]))


def test_multi_subject_command(tmp_path):
    assert _command(["--prompt", PROMPT, "--subject", f"dog={DOG},{DOG}", "--subject-class", "dog=dog",
                     "--subject", f"cat={CAT}", "--subject-class", "cat=cat", "--region", "dog=left",
                     "--region", "cat=right", "--num-images", "2", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid_000000.png", "image_000000.png", "image_000001.png"]
    with pytest.raises(InputError, match="--region names unknown subjects: cow"):
        _command(["--prompt", PROMPT, "--subject", f"dog={DOG}", "--region", "cow=left"])
    with pytest.raises(InputError, match="--subject: dog is given twice"):
        _command(["--prompt", PROMPT, "--subject", f"dog={DOG}", "--subject", f"dog={CAT}"])
    with pytest.raises(SystemExit):
        _command(["--prompt", PROMPT, "--subject", "dog"])
