"""Token bookkeeping for prompt-to-prompt editing: which target tokens share their attention with the source.

The source prompt is ``a {source class} {context}`` (no subject); the target prompt is
``a {target class} {context}`` with the subject's vectors spliced in after ``a``. The target's
token sequence is therefore the tokenised target with one placeholder per subject vector, and it
is aligned with the source's token sequence by a longest common subsequence: shared tokens take
the source's cross-attention, placeholders and new words keep their own.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.attention_control import TokenMap

PLACEHOLDER = -1  # never equal to a token id


def with_placeholders(ids: Sequence[int], position: int, count: int) -> list[int]:
    """Token ids with ``count`` placeholders inserted before ``position``, where the subject's vectors go."""
    return [*ids[:position], *[PLACEHOLDER] * count, *ids[position:]]


def align_tokens(source: Sequence[int], target: Sequence[int]) -> tuple[list[int], list[bool]]:
    """Longest-common-subsequence alignment of two token sequences.

    Returns, for every target position, the source position it is matched with (0 where it is
    unmatched) and whether it is matched.
    """
    n, m = len(source), len(target)
    common = [[0] * (m + 1) for _ in range(n + 1)]  # common[i][j]: LCS length of source[i:] and target[j:]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            common[i][j] = (common[i + 1][j + 1] + 1 if source[i] == target[j]
                            else max(common[i + 1][j], common[i][j + 1]))
    index, matched = [0] * m, [False] * m
    i = j = 0
    while i < n and j < m:
        if source[i] == target[j]:
            index[j], matched[j] = i, True
            i, j = i + 1, j + 1
        elif common[i + 1][j] >= common[i][j + 1]:
            i += 1
        else:
            j += 1
    return index, matched


def find_word(ids: Sequence[int], word: Sequence[int]) -> list[int]:
    """Positions of every occurrence of the token sequence ``word`` in ``ids``."""
    k = len(word)
    starts = [i for i in range(len(ids) - k + 1) if k and list(ids[i:i + k]) == list(word)]
    return [i + offset for i in starts for offset in range(k)]


def build_token_map(
    source_ids: Sequence[int], target_ids: Sequence[int], class_ids: Sequence[int], context: tuple[int, int],
) -> TokenMap:
    """Align the source (L,) and placeholder-carrying target (L,) sequences; the blend reads the class word.

    ``context`` is the span [start, end) of the source's context tokens (after the class word,
    before the end of text). An edit that keeps none of them is refused: prompt-to-prompt has
    nothing to carry over.
    """
    index, matched = align_tokens(source_ids, target_ids)
    start, end = context
    kept = {index[j] for j in range(len(target_ids)) if matched[j]}
    if end > start and not kept & set(range(start, end)):
        raise InputError("target_prompt shares no word with the source prompt: prompt-to-prompt needs an "
                         "edit prompt that keeps some of its words ('on the beach' -> 'on a sunny beach')")
    blend = find_word(source_ids, class_ids)
    return TokenMap(torch.tensor(index), torch.tensor(matched, dtype=torch.float32), torch.tensor(blend))
