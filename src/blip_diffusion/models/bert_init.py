"""Initialising the Q-Former from a BERT checkpoint, as BLIP-2 does at real scale.

BERT's embeddings, self-attention and feed-forward weights go to the same places in the Q-Former;
the query positions' feed-forward (``intermediate_query``/``output_query``) starts as a copy of
BERT's; cross-attention layers and the learned queries have no BERT counterpart and keep their
fresh initialisation. The vocabulary grows by the ``[DEC]`` token (a new row).
"""

from __future__ import annotations

import torch

from blip_diffusion.models.qformer import QFormer

_LAYER_MAP = {
    "attention.self.query": "attention.attention.query",
    "attention.self.key": "attention.attention.key",
    "attention.self.value": "attention.attention.value",
    "attention.output.dense": "attention.output.dense",
    "attention.output.LayerNorm": "attention.output.LayerNorm",
    "intermediate.dense": ("intermediate.dense", "intermediate_query.dense"),
    "output.dense": ("output.dense", "output_query.dense"),
    "output.LayerNorm": ("output.LayerNorm", "output_query.LayerNorm"),
}


def bert_to_qformer(bert: dict[str, torch.Tensor], qformer: QFormer) -> dict[str, torch.Tensor]:
    """The Q-Former state with every weight BERT has replaced by BERT's (``bert``: ``BertModel`` keys,
    with or without a ``bert.`` prefix). Raises ValueError on a shape or layer-count mismatch."""
    bert = {k.removeprefix("bert."): v for k, v in bert.items()}
    state = {k: v.clone() for k, v in qformer.state_dict().items()}
    for name in ("position_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"):
        _copy(state, f"embeddings.{name}", bert[f"embeddings.{name}"])
    words = state["embeddings.word_embeddings.weight"]
    source = bert["embeddings.word_embeddings.weight"]
    if source.shape[0] > words.shape[0] or source.shape[1] != words.shape[1]:
        raise ValueError(f"BERT word embeddings {tuple(source.shape)} do not fit the Q-Former's {tuple(words.shape)}")
    words[: source.shape[0]] = source  # rows past BERT's vocabulary ([DEC]) keep their fresh values
    layers = len(qformer.encoder.layer)
    if f"encoder.layer.{layers - 1}.output.dense.weight" not in bert:
        raise ValueError(f"the BERT checkpoint has fewer than the Q-Former's {layers} layers")
    for i in range(layers):
        for src, destinations in _LAYER_MAP.items():
            for dst in (destinations,) if isinstance(destinations, str) else destinations:
                for part in ("weight", "bias"):
                    _copy(state, f"encoder.layer.{i}.{dst}.{part}", bert[f"encoder.layer.{i}.{src}.{part}"])
    return state


def _copy(state: dict[str, torch.Tensor], key: str, value: torch.Tensor) -> None:
    if state[key].shape != value.shape:
        raise ValueError(f"{key}: BERT has shape {tuple(value.shape)}, the Q-Former {tuple(state[key].shape)}")
    state[key] = value.clone().to(state[key].dtype)
