"""Prompt-to-prompt on generated images: the editor's rules and the invariants of a whole edit."""

import pytest
import torch

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.attention_control import AttentionEditConfig, AttentionEditor, TokenMap
from tests.editing.conftest import NO_CONTROL, SMALL, noise

TOKENS = TokenMap(torch.tensor([0, 1, 0, 2, 3]), torch.tensor([1.0, 1.0, 0.0, 1.0, 1.0]), torch.tensor([2]))


def _editor(steps=10, **config):
    return AttentionEditor(AttentionEditConfig(**config), TOKENS, num_steps=steps, latent_shape=(8, 8))


def test_cross_attention_of_shared_tokens_comes_from_the_source_for_the_first_steps():
    editor = _editor(cross_replace_fraction=0.5)
    probs = torch.rand(3, 2, 64, 5)  # (uncond, source, target) x heads x pixels x tokens
    edited = editor.edit(probs, is_cross=True)
    source, target = probs[1], edited[2]
    assert torch.equal(edited[:2], probs[:2])
    assert torch.equal(target[..., [0, 1, 3, 4]], source[..., [0, 1, 2, 3]])  # aligned: mapped source columns
    assert torch.equal(target[..., 2], probs[2, ..., 2])  # the new token keeps its own attention
    editor.step = 5
    assert torch.equal(editor.edit(probs, is_cross=True), probs)


def test_self_attention_is_replaced_only_in_coarse_layers_and_early_steps():
    # 8x8 latents, downsample 2: maps of 16 pixels or fewer
    editor = _editor(self_replace_fraction=0.3, self_replace_downsample=2)
    assert editor.wants(False, 16) and not editor.wants(False, 64)
    probs = torch.rand(2, 2, 16, 16)
    assert torch.equal(editor.edit(probs, is_cross=False)[1], probs[0])
    editor.step = 3
    assert not editor.wants(False, 16) and editor.wants(True, 64)


def test_blend_mask_thresholds_the_normalised_class_word_attention():
    editor = _editor(blend_threshold=0.5, blend_downsample=1)
    probs = torch.zeros(2, 1, 64, 5)
    probs[0, 0, :8, 2] = 1.0  # the class word attends to the first row of the 8x8 map
    editor.edit(probs, is_cross=True)
    mask = editor.mask()
    assert mask.shape == (1, 1, 8, 8)
    assert mask[0, 0, :2].eq(1).all() and mask[0, 0, 2:].eq(0).all()  # the row, widened by one pixel
    latents = torch.randn(2, 4, 8, 8)
    blended = editor.blend(latents)
    assert torch.equal(blended[0], latents[0])
    assert torch.equal(blended[1, :, 2:], latents[0, :, 2:])
    assert torch.equal(blended[1, :, :2], latents[1, :, :2])


def test_without_control_the_edit_is_plain_generation_with_the_target_prompt(edit_pipe, dog_subject):
    edited = edit_pipe.edit("on the beach", dog_subject, source_class="cat", attention=NO_CONTROL,
                            latents=noise(), output_type="latent", **SMALL)
    plain = edit_pipe("on the beach", dog_subject, prompt_reps=1, latents=noise(), output_type="latent",
                      **SMALL).images
    assert edited.mask is None
    scale = plain.abs().max()
    assert (edited.edited_latents - plain).abs().max() <= 1e-5 * scale  # float error of another batch layout
    assert (edited.edited_latents - edited.source_latents).abs().max() > 1e-2 * scale


def test_an_empty_blend_mask_keeps_the_source_exactly(edit_pipe, dog_subject):
    attention = AttentionEditConfig(blend_threshold=1.5, blend_downsample=1)
    edited = edit_pipe.edit("on the beach", dog_subject, source_class="cat", attention=attention,
                            latents=noise(), output_type="np", **SMALL)
    assert edited.mask.sum() == 0
    assert torch.equal(edited.edited_latents, edited.source_latents)
    assert (edited.edited_images == edited.source_images).all()


def test_outside_the_blend_mask_the_edit_equals_the_source(edit_pipe, dog_subject):
    attention = AttentionEditConfig(blend_threshold=0.7, blend_downsample=1)
    edited = edit_pipe.edit("on the beach", dog_subject, source_class="cat", attention=attention,
                            latents=noise(), output_type="latent", **SMALL)
    outside = edited.mask == 0
    assert 0 < outside.sum() < outside.numel()
    difference = edited.edited_latents - edited.source_latents
    assert difference.masked_select(outside).eq(0).all()
    assert difference.masked_select(~outside).abs().max() > 0


def test_same_seed_same_edit_and_processors_restored(edit_pipe, dog_subject):
    before = edit_pipe.unet.attn_processors
    runs = [edit_pipe.edit("on the beach", dog_subject, generator=torch.Generator().manual_seed(3),
                           attention=AttentionEditConfig(blend_downsample=1), output_type="latent", **SMALL)
            for _ in range(2)]
    assert torch.equal(runs[0].edited_latents, runs[1].edited_latents)
    assert torch.equal(runs[0].mask, runs[1].mask)
    assert edit_pipe.unet.attn_processors == before


def test_processors_are_restored_after_an_error(edit_pipe, dog_subject):
    before = edit_pipe.unet.attn_processors
    with pytest.raises(InputError, match=r"blend_downsample=4: no cross-attention layer .* try one of: 1, 2"):
        # 16x16 latents have no 4x4 maps
        edit_pipe.edit("on the beach", dog_subject, output_type="latent", **SMALL)
    assert edit_pipe.unet.attn_processors == before


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": ["on the beach", "in the snow"]}, "prompt must be one non-empty text"),
        ({"target_prompt": "   "}, "target_prompt must be one non-empty text"),
        ({"target_prompt": "xyz"}, "target_prompt shares no word"),
        ({"attention": AttentionEditConfig(cross_replace_fraction=1.5)}, "cross_replace_fraction must be"),
        ({"attention": AttentionEditConfig(blend_downsample=3)}, "blend_downsample must be a power of two"),
        ({"attention": AttentionEditConfig(blend_threshold=-1)}, "blend_threshold must be >= 0"),
        ({"height": 33}, "height must be a positive multiple of 2"),
        ({"prompt_reps": 0}, "prompt_strength \\* prompt_reps must be at least 1"),
    ],
)
def test_bad_edit_input(edit_pipe, dog_subject, kwargs, message):
    arguments = {"prompt": "on the beach", "reference_image": dog_subject, **SMALL, "output_type": "latent",
                 **kwargs}
    with pytest.raises(InputError, match=message):
        edit_pipe.edit(**arguments)
