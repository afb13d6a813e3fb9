"""BLIP-2 Q-Former: learned queries that read an image, optionally together with text.

A BERT encoder whose first ``num_query_tokens`` positions are learned query embeddings. Every
``cross_attention_frequency``-th layer lets the query positions (only them) cross-attend to the
image features. Query positions use their own feed-forward weights (``intermediate_query`` /
``output_query``), text positions BERT's (``intermediate`` / ``output``).

The three paths of BLIP-2's stage-1 training all go through :meth:`QFormer.forward`:
- multimodal (queries + text, bidirectional): BLIP-Diffusion's subject encoding and ITM;
- unimodal: text alone (ITC text side) or queries alone with the image (ITC image side);
- causal text (``causal_text=True``): queries see queries only, text sees all queries and the
  text before it (ITG, image-grounded captioning).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Blip2QFormerConfig
from transformers.activations import ACT2FN

from blip_diffusion.models.layers import additive_mask, attention


class QFormerEmbeddings(nn.Module):
    def __init__(self, config: Blip2QFormerConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.register_buffer("position_ids", torch.arange(config.max_position_embeddings).expand((1, -1)))

    def forward(self, query_embeds: torch.Tensor | None, input_ids: torch.Tensor | None) -> torch.Tensor:
        """query_embeds (B, Q, D) and/or input_ids (B, T) -> (B, Q + T, D). Queries carry no position."""
        parts = [] if query_embeds is None else [query_embeds]
        if input_ids is not None:
            positions = self.position_ids[:, : input_ids.shape[1]]
            parts.append(self.word_embeddings(input_ids) + self.position_embeddings(positions))
        dtype = self.LayerNorm.weight.dtype
        return self.dropout(self.LayerNorm(torch.cat([p.to(dtype) for p in parts], dim=1)))


class QFormerAttention(nn.Module):
    """BERT attention with its output sub-layer: LayerNorm(x + dense(attn(x, context)))."""

    def __init__(self, config: Blip2QFormerConfig, is_cross_attention: bool = False):
        super().__init__()
        context_width = config.encoder_hidden_size if is_cross_attention else config.hidden_size
        self.num_heads = config.num_attention_heads
        self.dropout_p = config.attention_probs_dropout_prob
        self.attention = nn.ModuleDict(
            {
                "query": nn.Linear(config.hidden_size, config.hidden_size),
                "key": nn.Linear(context_width, config.hidden_size),
                "value": nn.Linear(context_width, config.hidden_size),
            }
        )
        self.output = QFormerOutput(config.hidden_size, config.hidden_size, config)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        proj = self.attention
        dropout = self.dropout_p if self.training else 0.0
        attended = attention(proj["query"](x), proj["key"](context), proj["value"](context), self.num_heads, mask, dropout)
        return self.output(attended, x)


class QFormerIntermediate(nn.Module):
    def __init__(self, config: Blip2QFormerConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.dense(x))


class QFormerOutput(nn.Module):
    def __init__(self, in_width: int, out_width: int, config: Blip2QFormerConfig):
        super().__init__()
        self.dense = nn.Linear(in_width, out_width)
        self.LayerNorm = nn.LayerNorm(out_width, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class QFormerLayer(nn.Module):
    def __init__(self, config: Blip2QFormerConfig, index: int):
        super().__init__()
        self.attention = QFormerAttention(config)
        self.has_cross_attention = index % config.cross_attention_frequency == 0
        if self.has_cross_attention:
            self.crossattention = QFormerAttention(config, is_cross_attention=True)
        self.intermediate = QFormerIntermediate(config)
        self.output = QFormerOutput(config.intermediate_size, config.hidden_size, config)
        self.intermediate_query = QFormerIntermediate(config)
        self.output_query = QFormerOutput(config.intermediate_size, config.hidden_size, config)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None, image_embeds: torch.Tensor | None, num_queries: int
    ) -> torch.Tensor:
        x = self.attention(x, x, mask)
        queries, text = x[:, :num_queries], x[:, num_queries:]
        if num_queries and self.has_cross_attention:
            if image_embeds is None:
                raise ValueError("image_embeds are required when the Q-Former input contains queries")
            queries = self.crossattention(queries, image_embeds)
        queries = self.output_query(self.intermediate_query(queries), queries)
        text = self.output(self.intermediate(text), text)
        return torch.cat([queries, text], dim=1)


class QFormerEncoder(nn.Module):
    def __init__(self, config: Blip2QFormerConfig):
        super().__init__()
        self.layer = nn.ModuleList(QFormerLayer(config, i) for i in range(config.num_hidden_layers))

    def forward(self, x, mask, image_embeds, num_queries):
        for layer in self.layer:
            x = layer(x, mask, image_embeds, num_queries)
        return x


class QFormer(nn.Module):
    """The BLIP-2 Q-Former with its learned query tokens (weights: ``embeddings``, ``encoder``, ``query_tokens``)."""

    def __init__(self, config: Blip2QFormerConfig, num_query_tokens: int):
        super().__init__()
        self.embeddings = QFormerEmbeddings(config)
        self.encoder = QFormerEncoder(config)
        self.query_tokens = nn.Parameter(torch.zeros(1, num_query_tokens, config.hidden_size))

    @property
    def num_query_tokens(self) -> int:
        return self.query_tokens.shape[1]

    def run(
        self,
        image_embeds: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        use_queries: bool = True,
        causal_text: bool = False,
    ) -> torch.Tensor:
        """Encode queries and/or text; returns hidden states (B, Q + T, D), queries first.

        image_embeds (B, N, Dv): what the queries cross-attend to (needed when ``use_queries``).
        input_ids, attention_mask (B, T): text tokens and their padding mask (1 = real token).
        """
        batch = (image_embeds if image_embeds is not None else input_ids).shape[0]
        queries = self.query_tokens.expand(batch, -1, -1) if use_queries else None
        hidden = self.embeddings(queries, input_ids)
        num_queries = self.num_query_tokens if use_queries else 0
        mask = self._self_attention_mask(batch, num_queries, input_ids, attention_mask, causal_text, hidden)
        return self.encoder(hidden, mask, image_embeds, num_queries)

    @staticmethod
    def _self_attention_mask(batch, num_queries, input_ids, attention_mask, causal_text, hidden):
        """Additive mask (B, 1, L, L), or None when every position may see every other: no padding mask
        (callers pass None for one without padding) and no causal text. Decided without reading
        tensor values, so a compiled graph has no break here."""
        num_text = 0 if input_ids is None else input_ids.shape[1]
        if attention_mask is None and not (causal_text and num_text):
            return None
        length = num_queries + num_text
        keep = torch.ones(batch, 1, length, length, dtype=torch.bool, device=hidden.device)
        if attention_mask is not None:
            keep[:, 0, :, num_queries:] &= attention_mask.bool()[:, None, :]
        if causal_text and num_text:
            keep[:, :, :num_queries, num_queries:] = False  # queries never see the text
            causal = torch.ones(num_text, num_text, dtype=torch.bool, device=hidden.device).tril()
            keep[:, :, num_queries:, num_queries:] &= causal
        return additive_mask(keep, hidden.dtype)
