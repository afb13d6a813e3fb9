"""CLIP text encoder that splices subject embeddings into the token sequence.

The prompt is tokenised to ``max_position_embeddings - num_subject_tokens`` ids; each subject's
embeddings (16 vectors from the subject encoder) are inserted before the token at its position
(``ctx_begin_pos``, 2 in BLIP-Diffusion: after BOS and "a"). Position embeddings then cover the
full sequence and CLIP's causal mask applies to everything, subject vectors included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import CLIPTextConfig

from blip_diffusion.models.layers import MLP, LayerStack, PreNormLayer, attention


@dataclass
class SubjectContext:
    """One subject spliced into every prompt of a batch.

    embeddings: (B, K, D) subject embeddings.
    positions: token index (in the tokenised prompt) before which they go: one int for the whole
    batch or one per prompt.
    """

    embeddings: torch.Tensor
    positions: int | Sequence[int]


@dataclass
class TextEncoderOutput:
    last_hidden_state: torch.Tensor  # (B, L, D)
    pooler_output: torch.Tensor  # (B, D): hidden state at the end-of-text token


class TextEmbeddings(nn.Module):
    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embedding = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))

    def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return inputs_embeds + self.position_embedding(self.position_ids[:, : inputs_embeds.shape[1]])


class TextAttention(nn.Module):
    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        width = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(attention(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.num_heads, causal=True))


def text_layer(config: CLIPTextConfig) -> PreNormLayer:
    width = config.hidden_size
    return PreNormLayer(width, config.layer_norm_eps, TextAttention(config),
                        MLP(width, config.intermediate_size, config.hidden_act))


class ContextTextTransformer(nn.Module):
    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        self.config = config
        self.embeddings = TextEmbeddings(config)
        self.encoder = LayerStack([text_layer(config) for _ in range(config.num_hidden_layers)])
        self.final_layer_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)


class ContextCLIPTextModel(nn.Module):
    """CLIP text transformer with subject embeddings spliced in (weights under ``text_model``)."""

    def __init__(self, config: CLIPTextConfig):
        super().__init__()
        self.config = config
        self.text_model = ContextTextTransformer(config)

    @property
    def dtype(self) -> torch.dtype:
        return self.text_model.final_layer_norm.weight.dtype

    @property
    def device(self) -> torch.device:
        return self.text_model.final_layer_norm.weight.device

    def forward(
        self,
        input_ids: torch.Tensor,
        ctx_embeddings: torch.Tensor | None = None,
        ctx_begin_pos: int | Sequence[int] = 2,
        subjects: Sequence[SubjectContext] = (),
    ) -> TextEncoderOutput:
        """input_ids (B, T) -> hidden states (B, T + spliced tokens, D).

        ``ctx_embeddings`` (B, K, D) at ``ctx_begin_pos`` is BLIP-Diffusion's single subject;
        ``subjects`` adds any number of further subjects at their own positions.
        """
        if ctx_embeddings is not None:
            subjects = [SubjectContext(ctx_embeddings, ctx_begin_pos), *subjects]
        model = self.text_model
        tokens = model.embeddings.token_embedding(input_ids)
        hidden, eos_index = splice_subjects(tokens, subjects, eos_index=self._eos_index(input_ids))
        if hidden.shape[1] > self.config.max_position_embeddings:
            raise ValueError(
                f"prompt of {hidden.shape[1]} tokens with subjects exceeds the text encoder's "
                f"{self.config.max_position_embeddings} positions"
            )
        hidden = model.final_layer_norm(model.encoder(model.embeddings(hidden)))
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), eos_index]
        return TextEncoderOutput(last_hidden_state=hidden, pooler_output=pooled)

    def _eos_index(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Position of the first end-of-text token of each prompt (B,)."""
        return (input_ids == self.config.eos_token_id).int().argmax(dim=-1)


def splice_subjects(
    tokens: torch.Tensor, subjects: Sequence[SubjectContext], eos_index: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Insert each subject's embeddings before its token position.

    tokens (B, T, D) -> (B, T + sum K_i, D); also returns ``eos_index`` shifted by the subject
    tokens inserted before it.
    """
    if not subjects:
        return tokens, eos_index
    batch = tokens.shape[0]
    rows = []
    shifted_eos = eos_index.clone()
    for row in range(batch):
        inserts = sorted(
            ((_position(s.positions, row), s.embeddings[row]) for s in subjects), key=lambda item: item[0]
        )
        pieces, start = [], 0
        for position, embeds in inserts:
            pieces += [tokens[row, start:position], embeds.to(tokens.dtype)]
            start = position
            shifted_eos[row] += (eos_index[row] >= position).long() * embeds.shape[0]  # no branch on a tensor
        pieces.append(tokens[row, start:])
        rows.append(torch.cat(pieces, dim=0))
    return torch.stack(rows), shifted_eos


def _position(positions: int | Sequence[int], row: int) -> int:
    return positions if isinstance(positions, int) else int(positions[row])
