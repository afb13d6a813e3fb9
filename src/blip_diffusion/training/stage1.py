"""Stage 1: multimodal representation learning, BLIP-2's recipe on the Q-Former (BLIP-2 Sec. 3.2).

The image encoder is frozen (its last layers dropped, a fresh final LayerNorm trained, as BLIP-2's
ln_vision); the Q-Former learns ITC, ITM with hard negatives mined from ITC similarities, and ITG
(captioning with the queries as prefix). The result, ``OUT/model``, holds ``qformer/`` (the official
``Blip2QFormerModel`` component; its projection is still untrained), ``qformer_tokenizer/``,
``image_processor/`` and ``heads/`` (the stage-1 heads, to continue training).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel
from safetensors.torch import save_file
from torch import nn
from transformers import BertTokenizer, Blip2QFormerConfig

from blip_diffusion.errors import InputError
from blip_diffusion.models.stage1_heads import Stage1Heads
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines.image_processing import SubjectImageProcessor
from blip_diffusion.pipelines.model_folder import (
    QFORMER_TOKENIZER_FOLDER,
    load_qformer_tokenizer,
    save_component,
)
from blip_diffusion.training import loop
from blip_diffusion.training.batches import Shuffled
from blip_diffusion.training.config import RunConfig, to_dict
from blip_diffusion.training.data import FolderCaptions, ToyCaptions, clip_pixels
from blip_diffusion.training.subject_model import build_subject_encoder, image_features, read_clip_vision
from blip_diffusion.training.toy_tokenizers import toy_bert_tokenizer
from blip_diffusion.utils.atomic import atomic_path


@dataclasses.dataclass(frozen=True)
class QFormerSize:
    hidden_size: int = 64  # must equal the text encoder's width for stage 2
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    intermediate_size: int = 256
    num_query_tokens: int = 16
    cross_attention_frequency: int = 1
    max_text_length: int = 32


@dataclasses.dataclass(frozen=True)
class CaptionData:
    kind: str = "toy"  # "toy" or "folder" (images + captions.jsonl, see docs/training.md)
    path: str = ""
    resolution: int = 64  # of the pictures; the image encoder resizes to its own size
    seed: int = 1
    caption: str = "full"  # toy only: "full" description or "prompt"


@dataclasses.dataclass(frozen=True)
class Stage1Config:
    out: str = "outputs/train/stage1"
    vision_model: str = "outputs/train/base/vision/model"  # CLIPVisionModel or CLIPModel folder
    drop_last_vision_layers: int = 1
    bert_init: str = ""  # a BertModel folder to start the Q-Former from (real scale); "" = from scratch
    qformer_tokenizer: str = ""  # BERT tokenizer folder; "" = the toy world's (or bert_init's)
    qformer: QFormerSize = QFormerSize()
    embed_dim: int = 32  # ITC space (256 in BLIP-2)
    itc_weight: float = 1.0
    itm_weight: float = 1.0
    itg_weight: float = 1.0
    data: CaptionData = CaptionData()
    run: RunConfig = RunConfig(max_steps=800, batch_size=32, learning_rate=5e-4, warmup_steps=100)  # noqa: RUF009 (frozen)

    def __post_init__(self) -> None:
        if self.data.kind not in ("toy", "folder"):
            raise InputError(f"data.kind must be 'toy' or 'folder', got {self.data.kind!r}")
        if self.run.batch_size < 2:
            raise InputError(f"run.batch_size must be at least 2 (ITM mines negatives in the batch), got {self.run.batch_size}")


class Stage1Model(nn.Module):
    """The subject encoder with the stage-1 heads (the LM head's decoder is the Q-Former's word embeddings)."""

    def __init__(self, encoder: SubjectEncoder, embed_dim: int):
        super().__init__()
        qformer = encoder.config.qformer_config
        self.encoder = encoder
        self.heads = Stage1Heads(qformer.hidden_size, embed_dim, qformer.hidden_act, qformer.layer_norm_eps,
                                 encoder.embeddings.word_embeddings)

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, bos: int,
                train_ln_vision: bool) -> dict[str, torch.Tensor]:
        """pixels (B, 3, S, S), text ids and mask (B, T) -> the three losses (scalars)."""
        encoder, heads = self.encoder, self.heads
        images = image_features(encoder, pixels, train_ln_vision)  # (B, N, Dv)
        queries = encoder.run(images)  # (B, Q, D)
        image_feats = F.normalize(heads.vision_proj(queries), dim=-1)  # (B, Q, E)
        text_cls = encoder.run(input_ids=ids, attention_mask=mask, use_queries=False)[:, 0]
        text_feat = F.normalize(heads.text_proj(text_cls), dim=-1)  # (B, E)
        sim = torch.einsum("bqe,ce->bcq", image_feats, text_feat).max(-1).values / heads.temp  # (B_img, B_txt)
        targets = torch.arange(len(ids), device=ids.device)
        itc = (F.cross_entropy(sim, targets, label_smoothing=0.1) + F.cross_entropy(sim.t(), targets, label_smoothing=0.1)) / 2
        itm = self._itm(images, ids, mask, sim.detach())
        decoder_ids = ids.clone()
        decoder_ids[:, 0] = bos  # ITG: [DEC] replaces [CLS]
        hidden = encoder.run(images, decoder_ids, mask, causal_text=True)[:, encoder.num_query_tokens:]
        labels = decoder_ids.masked_fill(mask == 0, -100)[:, 1:]
        logits = heads.lm_head(hidden)[:, :-1]
        itg = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), label_smoothing=0.1)
        return {"itc": itc, "itm": itm, "itg": itg}

    def _itm(self, images: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, sim: torch.Tensor) -> torch.Tensor:
        """Matching on positives and on one hard negative per image and per text, drawn in proportion to
        softmax ITC similarity; texts identical to the positive are never negatives."""
        same = (ids[:, None, :] == ids[None, :, :]).all(-1)  # (B, B)
        neg_text = _draw(sim.float().softmax(1).masked_fill(same, 0))  # one per image
        neg_image = _draw(sim.float().t().softmax(1).masked_fill(same, 0))  # one per text
        all_images = torch.cat([images, images[neg_image], images])
        all_ids, all_mask = torch.cat([ids, ids, ids[neg_text]]), torch.cat([mask, mask, mask[neg_text]])
        queries = self.encoder.run(all_images, all_ids, all_mask)[:, : self.encoder.num_query_tokens]
        logits = self.heads.itm_head(queries).mean(1)  # (3B, 2)
        labels = torch.cat([torch.ones(len(ids)), torch.zeros(2 * len(ids))]).long().to(ids.device)
        return F.cross_entropy(logits, labels)


def _draw(weights: torch.Tensor) -> torch.Tensor:
    """One index per row of (B, B) weights (uniform where a row has none: every text is identical)."""
    empty = weights.sum(1, keepdim=True) <= 0
    weights = torch.where(empty, torch.ones_like(weights), weights)
    return torch.multinomial(weights.cpu(), 1).squeeze(1).to(weights.device)


class Stage1Task:
    """ITC + ITM + ITG on image-caption pairs (see :class:`Stage1Model`)."""

    def __init__(self, config: Stage1Config, tokenizer: BertTokenizer, device: torch.device):
        qformer = config.qformer
        vision_width = _vision_width(Path(config.vision_model))
        qformer_config = Blip2QFormerConfig(
            vocab_size=len(tokenizer), hidden_size=qformer.hidden_size, num_hidden_layers=qformer.num_hidden_layers,
            num_attention_heads=qformer.num_attention_heads, intermediate_size=qformer.intermediate_size,
            cross_attention_frequency=qformer.cross_attention_frequency, encoder_hidden_size=vision_width,
            pad_token_id=tokenizer.pad_token_id)
        encoder = build_subject_encoder(Path(config.vision_model), qformer_config, qformer.num_query_tokens,
                                        config.drop_last_vision_layers, config.bert_init)
        self.train_ln_vision = config.drop_last_vision_layers > 0
        encoder.visual_encoder.requires_grad_(False)
        encoder.visual_encoder.post_layernorm.requires_grad_(self.train_ln_vision)
        encoder.proj_layer.requires_grad_(False)  # trained in stage 2
        self.model = Stage1Model(encoder, config.embed_dim).to(device)
        self.config, self.tokenizer, self.device = config, tokenizer, device
        self.image_size = encoder.config.vision_config.image_size
        data = config.data
        self.data = (ToyCaptions(data.seed, data.resolution, data.caption) if data.kind == "toy"
                     else Shuffled(FolderCaptions(data.path, data.resolution), data.seed))

    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def dataset(self) -> Any:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        text = self.tokenizer([i["caption"] for i in items], padding="max_length", truncation=True,
                              max_length=self.config.qformer.max_text_length, return_tensors="pt")
        return {"pixels": clip_pixels([i["image"] for i in items], self.image_size),
                "ids": text.input_ids, "mask": text.attention_mask}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.config
        losses = self.model(batch["pixels"].to(self.device), batch["ids"].to(self.device),
                            batch["mask"].to(self.device), self.tokenizer.bos_token_id, self.train_ln_vision)
        total = cfg.itc_weight * losses["itc"] + cfg.itm_weight * losses["itm"] + cfg.itg_weight * losses["itg"]
        return total, {name: value.item() for name, value in losses.items()}

    def export(self, out: Path) -> None:
        model = extract_model_from_parallel(self.model)
        with atomic_path(out) as tmp:
            save_component(model.encoder, tmp / "qformer")
            self.tokenizer.save_pretrained(tmp / QFORMER_TOKENIZER_FOLDER)
            SubjectImageProcessor(size=(self.image_size, self.image_size)).save_pretrained(tmp / "image_processor")
            (tmp / "heads").mkdir()
            save_file({k: v.contiguous() for k, v in model.heads.own_state_dict().items()},
                      tmp / "heads" / "model.safetensors", metadata={"format": "pt"})
            (tmp / "heads" / "config.json").write_text(json.dumps({"embed_dim": self.config.embed_dim}) + "\n")


def _vision_width(folder: Path) -> int:
    return read_clip_vision(folder)[0].hidden_size


def stage1_tokenizer(config: Stage1Config, out: Path) -> BertTokenizer:
    """The Q-Former tokenizer with [DEC]: the named one, bert_init's, or the toy world's (written to OUT)."""
    source = config.qformer_tokenizer or config.bert_init
    if not source:
        source = str(out / "toy_qformer_tokenizer")
        toy_bert_tokenizer(source)
    tokenizer = BertTokenizer.from_pretrained(source, truncation_side="right")
    return load_qformer_tokenizer(out, tokenizer, len(tokenizer) + (tokenizer.bos_token != "[DEC]"))


def train_stage1(config: Stage1Config, resume: bool = False) -> Path:
    out = Path(config.out)
    if not Path(config.vision_model).is_dir():
        raise InputError(f"vision_model {config.vision_model} is not a folder: train the base model first "
                         "(blip-diffusion train base) or point it at a CLIP checkpoint")
    tokenizer = stage1_tokenizer(config, out)
    return loop.train(lambda device, dtype: Stage1Task(config, tokenizer, device), config.run, out,
                      to_dict(config), resume, name="stage1")
