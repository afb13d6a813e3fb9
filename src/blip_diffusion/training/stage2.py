"""Stage 2: subject representation learning by prompted context generation (BLIP-Diffusion Sec. 3.2).

The subject is alpha-composited on a random background (the input the subject encoder sees, with
the class word); the target is the original picture, the text its caption with the subject
embeddings spliced in at ``ctx_begin_pos``. Image encoder and VAE frozen; Q-Former, projection,
text encoder and UNet trained. Per example, with probability ``subject_drop_prob`` the caption is
encoded without subject embeddings, and with ``caption_dropout`` the text is empty (guidance).

Ablation switches (paper Table 2): ``skip_stage1`` (a fresh Q-Former), ``freeze_text_encoder``,
``class_text_to_qformer = false`` (queries read the image alone), ``subject_drop_prob = 0``.
``pooled_text_embedding`` gives the UNet a second, global path for the prompt (training.pooled_text).
The result, ``OUT/model``, is a BlipDiffusionPipeline folder in the official layout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import extract_model_from_parallel
from torch import nn
from torch.utils.data import Dataset

from blip_diffusion.errors import InputError
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.image_processing import SubjectImageProcessor
from blip_diffusion.pipelines.model_folder import load_component, load_qformer_tokenizer
from blip_diffusion.training import loop
from blip_diffusion.training.base_tasks import load_text_to_image_parts
from blip_diffusion.training.batches import Shuffled
from blip_diffusion.training.config import RunConfig, to_dict
from blip_diffusion.training.data import FolderSubjects, ToySubjects, clip_pixels, unit_pixels
from blip_diffusion.training.diffusion import (
    denoising_loss,
    encode_latents,
    inference_scheduler,
    latent_means,
    subject_weights,
)
from blip_diffusion.training.encoded import encoded_once, fingerprint
from blip_diffusion.training.pooled_text import with_pooled_text_embedding
from blip_diffusion.training.subject_model import SubjectModel, fresh_qformer, image_features

QFORMER = ["blip_diffusion", "Blip2QFormerModel"]
ENCODED_FILE = "encoded.safetensors"


@dataclasses.dataclass(frozen=True)
class SubjectData:
    kind: str = "toy"  # "toy" or "folder" (see docs/training.md)
    path: str = ""  # folder: images + captions.jsonl (+ masks)
    backgrounds: str = ""  # folder: background pictures for the composites
    clipseg: str = ""  # folder: CLIPSeg model, for pictures without a mask
    resolution: int = 64
    seed: int = 2
    caption: str = "prompt"  # toy only: "prompt" (class plus context) or "full" description
    pool_size: int = 4096  # toy only: number of backgrounds
    photos: int = 20000  # toy only: samples whose target latents are encoded once (OUT/encoded.safetensors)


@dataclasses.dataclass(frozen=True)
class Stage2Config:
    out: str = "outputs/train/stage2"
    base_model: str = "outputs/train/base/model"  # text-to-image folder: text_encoder, tokenizer, unet, vae
    stage1_model: str = "outputs/train/stage1/model"  # qformer/, qformer_tokenizer/, image_processor/
    qformer_tokenizer: str = ""  # "" = stage1_model/qformer_tokenizer
    skip_stage1: bool = False
    freeze_text_encoder: bool = False
    class_text_to_qformer: bool = True
    subject_drop_prob: float = 0.15
    caption_dropout: float = 0.05
    subject_loss_weight: float = 0.0  # extra loss weight on the subject's latent pixels (as the toy base UNet's)
    pooled_text_embedding: bool = False  # also add the pooled prompt (subject included) to the UNet's time embedding
    ctx_begin_pos: int = 2  # after BOS and "a"
    # Copies of the caption in the text, joined by ", ": the pipeline repeats its prompt (prompt_reps,
    # 20 by default); a text encoder trained from scratch must see that form in training.
    prompt_reps: int = 1
    data: SubjectData = SubjectData()
    run: RunConfig = RunConfig(max_steps=2000, batch_size=32, learning_rate=2e-4, warmup_steps=100)  # noqa: RUF009 (frozen)

    def __post_init__(self) -> None:
        if self.data.kind not in ("toy", "folder"):
            raise InputError(f"data.kind must be 'toy' or 'folder', got {self.data.kind!r}")
        for name in ("subject_drop_prob", "caption_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.prompt_reps < 1:
            raise InputError(f"prompt_reps must be at least 1, got {self.prompt_reps}")
        if self.data.photos < 1:
            raise InputError(f"data.photos must be at least 1, got {self.data.photos}")


def load_parts(config: Stage2Config, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """The components stage 2 starts from: base text-to-image model + stage-1 subject encoder."""
    base, stage1 = Path(config.base_model), Path(config.stage1_model)
    for folder, what in ((base, "base_model"), (stage1, "stage1_model")):
        if not folder.is_dir():
            raise InputError(f"{what} {folder} is not a folder: train that stage first or set {what}=FOLDER")
    parts = load_text_to_image_parts(base, dtype)
    parts["qformer"] = load_component(stage1, "qformer", QFORMER, dtype)
    vocab = parts["qformer"].embeddings.word_embeddings.num_embeddings
    parts["qformer_tokenizer"] = load_qformer_tokenizer(stage1, config.qformer_tokenizer or None, vocab)
    size = parts["qformer"].config.vision_config.image_size
    processor = stage1 / "image_processor"
    parts["image_processor"] = (SubjectImageProcessor.from_pretrained(processor) if processor.is_dir()
                                else SubjectImageProcessor(size=(size, size)))
    if config.skip_stage1:
        fresh_qformer(parts["qformer"])
    if config.pooled_text_embedding:
        parts["unet"] = with_pooled_text_embedding(parts["unet"])
    width, text_width = parts["qformer"].config.qformer_config.hidden_size, parts["text_encoder"].config.hidden_size
    if width != text_width:
        raise InputError(f"the Q-Former's width {width} must equal the text encoder's {text_width}")
    return parts


class Stage2Task:
    """Denoising the original picture from its caption with the composite's subject embeddings spliced in."""

    def __init__(self, config: Stage2Config, parts: dict[str, Any], data: Any, device: torch.device,
                 weight_dtype: torch.dtype):
        self.config, self.parts, self.data, self.device = config, parts, data, device
        self.subject = SubjectModel(parts["qformer"]).to(device)
        self.text_encoder = parts["text_encoder"].to(device).requires_grad_(not config.freeze_text_encoder)
        self.unet = parts["unet"].to(device)
        self.vae = parts["vae"].to(device, weight_dtype).requires_grad_(False).eval()
        if config.run.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
            self.text_encoder.text_model.encoder.gradient_checkpointing = True
        self.image_size = parts["qformer"].config.vision_config.image_size
        self.num_queries = parts["qformer"].num_query_tokens
        self.text_length = parts["text_encoder"].config.max_position_embeddings

    def modules(self) -> dict[str, nn.Module]:
        trained = ["subject", "unet"] + ([] if self.config.freeze_text_encoder else ["text_encoder"])
        return {name: getattr(self, name) for name in trained}

    def dataset(self) -> Any:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        classes = self.parts["qformer_tokenizer"]([i["class"] for i in items], padding=True, return_tensors="pt")
        tokenizer = self.parts["tokenizer"]
        length = self.text_length
        subject_length = length - self.num_queries
        captions = [", ".join([i["caption"]] * self.config.prompt_reps) for i in items]
        target = ({"latents": torch.stack([i["latents"] for i in items])} if "latents" in items[0]
                  else {"target": unit_pixels([i["image"] for i in items])})
        source = ({"features": torch.stack([i["features"] for i in items])} if "features" in items[0]
                  else {"source": clip_pixels([i["source"] for i in items], self.image_size)})
        return {**target, **source,
                "alpha": torch.from_numpy(np.stack([i["alpha"] for i in items]))[:, None],
                "class_ids": classes.input_ids, "class_mask": classes.attention_mask,
                "ids_subject": tokenizer(captions, padding="max_length", truncation=True, max_length=subject_length,
                                         return_tensors="pt").input_ids,
                "ids_plain": tokenizer(captions, padding="max_length", truncation=True, max_length=length,
                                       return_tensors="pt").input_ids,
                "ids_empty": tokenizer([""] * len(items), padding="max_length", max_length=length,
                                       return_tensors="pt").input_ids}

    def subject_embeddings(self, batch: dict[str, Any]) -> torch.Tensor:
        """The composite's subject embeddings (B, Q, D), from its pixels or its encoded image features; the
        class word joins the queries unless ablated."""
        image = ({"features": batch["features"].to(self.device)} if "features" in batch
                 else {"pixels": batch["source"].to(self.device)})
        if not self.config.class_text_to_qformer:
            return self.subject(**image)
        return self.subject(**image, input_ids=batch["class_ids"].to(self.device),
                            attention_mask=batch["class_mask"].to(self.device))

    def loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, device = self.config, self.device
        subjects = self.subject_embeddings(batch)  # (B, Q, D)
        draw = torch.rand(len(subjects))
        empty = draw < cfg.caption_dropout  # guidance: empty text, no subject
        plain = ~empty & (torch.rand(len(subjects)) < cfg.subject_drop_prob)  # caption without subject
        with_subject = (~empty & ~plain).to(device)
        ids = torch.where(empty[:, None], batch["ids_empty"], batch["ids_plain"]).to(device)
        cond = self.text_encoder(ids).last_hidden_state
        if with_subject.any():
            rows = with_subject.nonzero().squeeze(1)
            spliced = self.text_encoder(batch["ids_subject"].to(device)[rows], subjects[rows], cfg.ctx_begin_pos)
            cond = cond.index_put((rows,), spliced.last_hidden_state)
        cond = cond + 0.0 * subjects.sum()  # every trained weight in the graph, whatever was dropped (DDP)
        latents = (batch["latents"].to(device) if "latents" in batch
                   else encode_latents(self.vae, batch["target"].to(device)))
        weight = subject_weights(batch["alpha"].to(device), latents.shape[-2:], cfg.subject_loss_weight)
        loss = denoising_loss(self.unet, self.parts["noise"], latents, cond, weight)
        return loss, {"subject_rows": with_subject.float().mean().item()}

    def export(self, out: Path) -> None:
        parts = self.parts
        pipe = BlipDiffusionPipeline(
            tokenizer=parts["tokenizer"], text_encoder=extract_model_from_parallel(self.text_encoder).eval(),
            vae=parts["vae"].float(), unet=extract_model_from_parallel(self.unet).eval(),
            scheduler=inference_scheduler(parts["noise"].config.prediction_type),
            qformer=extract_model_from_parallel(self.subject).encoder.eval(),
            image_processor=parts["image_processor"], qformer_tokenizer=parts["qformer_tokenizer"],
            ctx_begin_pos=self.config.ctx_begin_pos)
        pipe.save_pretrained(out)


class EncodedTargets(Dataset):
    """Positions 0..N-1 of a stage-2 data set with the target's latents in place of its picture, encoded
    once by the frozen VAE, and where given, the composite's ``features`` from the frozen image encoder
    in place of the composite (the rest of each item is drawn again on access)."""

    def __init__(self, data: Any, tensors: dict[str, torch.Tensor]):
        self.data = data
        self.tensors = {key: tensors[key] for key in ("latents", "features") if key in tensors}
        self.replaced = ("image", "source") if "features" in self.tensors else ("image",)

    def __len__(self) -> int:
        return len(self.tensors["latents"])

    def __getitem__(self, index: int) -> dict[str, Any]:
        item = {key: value for key, value in self.data[index].items() if key not in self.replaced}
        return {**item, **{key: values[index] for key, values in self.tensors.items()}}


@torch.no_grad()
def encode_targets(data: Any, count: int, vae: Any, path: Path, device: torch.device, batch_size: int = 64,
                   subject_encoder: SubjectEncoder | None = None) -> EncodedTargets:
    """The target latents of ``data``'s first ``count`` items and, given the subject encoder, the image
    features of their composites (float16; the frozen tower's output is a third of a toy step); kept in
    ``path`` (written atomically) and read back from there when it holds as many, encoded by the same
    models (or when they are not given)."""
    encoders, required, size = [vae], (), 0
    if subject_encoder is not None:
        encoders, required = [vae, subject_encoder.visual_encoder], ("features",)
        size = subject_encoder.config.vision_config.image_size

    def encode(positions: range) -> dict[str, torch.Tensor]:
        items = [data[i] for i in positions]
        encoded = {"latents": latent_means(vae.to(device).eval(), unit_pixels([i["image"] for i in items]))}
        if subject_encoder is not None:
            pixels = clip_pixels([i["source"] for i in items], size).to(device)
            encoded["features"] = image_features(subject_encoder.to(device).eval(), pixels, False).half().cpu()
        return encoded

    tensors = encoded_once(path, count, encode, batch_size=batch_size, desc="encoding targets", required=required,
                           encoders=fingerprint(*encoders))
    return EncodedTargets(data, tensors)


def stage2_data(data: SubjectData) -> Any:
    if data.kind == "toy":
        return ToySubjects(data.seed, data.resolution, data.caption, data.pool_size)
    return FolderSubjects(data.path, data.backgrounds, data.resolution, data.clipseg, data.seed)


def train_stage2(config: Stage2Config, resume: bool = False) -> Path:
    """Train (toy data: on ``data.photos`` samples with their targets and composites encoded once) and export
    ``OUT/model``."""
    parts, out = load_parts(config), Path(config.out)
    data = stage2_data(config.data)

    def make_task(device: torch.device, dtype: torch.dtype) -> Stage2Task:
        examples = data
        if config.data.kind == "toy":
            encoded = encode_targets(data, config.data.photos, parts["vae"], out / ENCODED_FILE, device,
                                     subject_encoder=parts["qformer"])
            examples = Shuffled(encoded, config.data.seed)
        return Stage2Task(config, parts, examples, device, dtype)

    return loop.train(make_task, config.run, out, to_dict(config), resume, name="stage2")
