"""Token alignment of the source and target prompts: what shares attention, what the blend reads."""

import pytest
import torch

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.editing import EditPrompts
from blip_diffusion.pipelines.prompt_to_prompt import (
    PLACEHOLDER,
    align_tokens,
    build_token_map,
    find_word,
    with_placeholders,
)


def test_align_tokens_matches_the_longest_common_subsequence():
    index, matched = align_tokens([1, 5, 6, 7, 9], [1, 5, 8, 7, 9, 9])
    assert matched == [True, True, False, True, True, False]
    assert [i for i, m in zip(index, matched, strict=True) if m] == [0, 1, 3, 4]


def test_placeholders_never_match():
    target = with_placeholders([1, 5, 6, 2], position=2, count=3)
    assert target == [1, 5, PLACEHOLDER, PLACEHOLDER, PLACEHOLDER, 6, 2]
    index, matched = align_tokens([1, 5, 6, 2, 2, 2, 2], target)
    assert matched == [True, True, False, False, False, True, True]
    assert index[5] == 2 and index[6] == 3


def test_find_word_returns_every_token_of_every_occurrence():
    assert find_word([1, 4, 5, 9, 4, 5, 2], [4, 5]) == [1, 2, 4, 5]
    assert find_word([1, 2], [7]) == []


def test_an_edit_prompt_sharing_no_word_is_refused():
    with pytest.raises(InputError, match="target_prompt shares no word"):
        build_token_map([1, 3, 4, 10, 11, 2], [1, 3, PLACEHOLDER, 4, 20, 21, 2], [4], context=(3, 5))


def test_fixture_prompts_align_around_the_subject(edit_pipe, dog_subject):
    prompts = EditPrompts("on the beach", "on the sunny beach", source_class="cat", target_class="dog")
    cond, tokens = edit_pipe.edit_conditioning(prompts, dog_subject.embeds[None])
    assert cond.shape == (2, 77, 32)
    pos, num_subject = edit_pipe.ctx_begin_pos, dog_subject.embeds.shape[0]
    assert tokens.aligned[:pos].all()  # the start token and "a"
    assert not tokens.aligned[pos:pos + num_subject].any()  # the subject's vectors
    cat = edit_pipe.tokenizer("cat", add_special_tokens=False).input_ids
    dog = edit_pipe.tokenizer("dog", add_special_tokens=False).input_ids
    assert tokens.blend_tokens.tolist() == list(range(pos, pos + len(cat)))  # the source's class word
    new_class = slice(pos + num_subject, pos + num_subject + len(dog))
    assert not tokens.aligned[new_class].any()  # "dog" replaces "cat": its attention stays its own
    on = edit_pipe.tokenizer("on", add_special_tokens=False).input_ids
    first_context = pos + num_subject + len(dog)
    assert tokens.aligned[first_context:first_context + len(on)].all()
    assert torch.equal(tokens.source_index[first_context], torch.tensor(pos + len(cat)))
