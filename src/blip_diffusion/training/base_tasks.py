"""Stage 0 (toy world only): the parts of the base text-to-image model, each a :class:`~blip_diffusion.training.loop.Task`.

- :class:`ClipTask`: a tiny CLIP (transformers ``CLIPModel``: text and vision towers, contrastive loss).
- :class:`VisionLabelsTask`: a CLIP vision tower pre-trained to read the toy world's attribute labels,
  the image encoder that stage 1 freezes (as BLIP-2 freezes an image encoder pre-trained elsewhere).
- :class:`VaeTask`: a tiny ``AutoencoderKL`` (reconstruction MSE + a small KL term).
- :class:`UnetTask`: a tiny text-to-image ``UNet2DConditionModel`` on frozen CLIP text features and
  frozen VAE latents (:class:`EncodedCaptions`, computed once), with captions dropped (replaced by "")
  for classifier-free guidance.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils.data import Dataset
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer, CLIPVisionConfig, CLIPVisionModel

from blip_diffusion.models.clip_towers import text_state_from_clip
from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.models.loading import build_with_state
from blip_diffusion.pipelines.model_folder import load_component, read_json, read_model_index
from blip_diffusion.toyworld.photos import LABEL_VALUES, Photo, random_photo
from blip_diffusion.toyworld.subjects import random_subject
from blip_diffusion.training.batches import Shuffled
from blip_diffusion.training.data import ToyCaptions, ToyLabelled, clip_pixels, unit_pixels
from blip_diffusion.training.diffusion import (
    denoising_loss,
    latent_means,
    subject_weights,
    training_scheduler,
)
from blip_diffusion.training.encoded import encoded_once, fingerprint
from blip_diffusion.utils.atomic import atomic_path


class ClipTask:
    """Contrastive image-text training of a tiny CLIP on toy-world captions."""

    def __init__(self, config: CLIPConfig, tokenizer: CLIPTokenizer, data: ToyCaptions, device: torch.device,
                 gradient_checkpointing: bool):
        self.model = CLIPModel(config).to(device)
        if gradient_checkpointing:
            self.model.gradient_checkpointing_enable()
        self.tokenizer, self.data, self.device = tokenizer, data, device
        self.image_size = config.vision_config.image_size

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"clip": self.model}

    def dataset(self) -> ToyCaptions:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        # Padded to the batch's longest caption, not to 77: under the causal mask the pooled end-of-text
        # state never sees the padding after it, and the text tower runs about 4x fewer positions.
        texts = [i["caption"] for i in items] + [text for i in items for text in i.get("negatives", ())]
        ids = self.tokenizer(texts, padding="longest", truncation=True, return_tensors="pt").input_ids
        batch = {"input_ids": ids[: len(items)], "pixel_values": clip_pixels([i["image"] for i in items], self.image_size)}
        if len(ids) > len(items):
            batch["negative_ids"] = ids[len(items):]
        return batch

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Symmetric InfoNCE over the (local) batch; only the causal mask, as CLIP and SD use it.

        Hard-negative captions (``negative_ids``), if any, join the texts each image is told apart
        from, as in NegCLIP: with full captions and a small batch, colour and scene alone identify
        most pairs, and without them the text tower learns to ignore the class and the pattern.
        """
        model = self.model
        ids = batch["input_ids"].to(self.device)
        if "negative_ids" in batch:
            ids = torch.cat([ids, batch["negative_ids"].to(self.device)])
        texts = model.text_projection(model.text_model(input_ids=ids).pooler_output)
        images = model.visual_projection(model.vision_model(pixel_values=batch["pixel_values"].to(self.device)).pooler_output)
        texts, images = F.normalize(texts, dim=-1), F.normalize(images, dim=-1)
        logits = model.logit_scale.exp() * images @ texts.T  # (B, B [+ B x negatives])
        targets = torch.arange(len(images), device=self.device)
        loss = (F.cross_entropy(logits, targets) + F.cross_entropy(logits[:, : len(images)].T, targets)) / 2
        return loss, {"accuracy": (logits.argmax(-1) == targets).float().mean().item()}

    def export(self, out: Path) -> None:
        save_clip(extract_model_from_parallel(self.model), self.tokenizer, out)


def save_clip(model: CLIPModel, tokenizer: CLIPTokenizer, out: Path) -> None:
    """Write a CLIP folder (model and tokenizer) atomically."""
    with atomic_path(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)


class LabelReader(torch.nn.Module):
    """A CLIP vision tower and one linear head per label on its pooled class token: pixels -> logits per label."""

    def __init__(self, config: CLIPVisionConfig, label_values: dict[str, int]):
        super().__init__()
        self.tower = CLIPVisionModel(config)
        self.heads = torch.nn.ModuleDict({name: torch.nn.Linear(config.hidden_size, count)
                                          for name, count in label_values.items()})

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.tower(pixel_values=pixels).pooler_output
        return {name: head(pooled) for name, head in self.heads.items()}


class VisionLabelsTask:
    """Supervised pre-training of the image encoder: the sum of one cross-entropy per label (the five
    identity attributes and the scene) on photos of training subjects.

    Contrastive training on toy captions leaves a vision tower that reads a subject's class and pattern
    near chance (docs/results.md): the captions' colours and scene already tell a small batch apart.
    Labels make it look at the subject. The export is the tower alone, a ``CLIPVisionModel`` folder
    for stage 1, with ``held_out_accuracy.json``: each head's accuracy on photos of held-out subjects.
    """

    def __init__(self, config: CLIPVisionConfig, data: ToyLabelled, device: torch.device,
                 gradient_checkpointing: bool, held_out_photos: int = 500):
        self.model = LabelReader(config, LABEL_VALUES).to(device)
        if gradient_checkpointing:
            self.model.tower.gradient_checkpointing_enable()
        self.data, self.device, self.image_size = data, device, config.image_size
        self.held_out_photos = held_out_photos

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"model": self.model}

    def dataset(self) -> ToyLabelled:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labels = stack_labels([i["labels"] for i in items])
        return {"pixel_values": clip_pixels([i["image"] for i in items], self.image_size), **labels}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.model(batch["pixel_values"].to(self.device))
        losses = {name: F.cross_entropy(logits[name], batch[name].to(self.device)) for name in LABEL_VALUES}
        return sum(losses.values()), {f"loss_{name}": value.item() for name, value in losses.items()}

    def export(self, out: Path) -> None:
        model = extract_model_from_parallel(self.model).eval()
        accuracy = label_accuracy(model, held_out_photos(self.held_out_photos, self.image_size), self.image_size)
        with atomic_path(out) as tmp:
            model.tower.save_pretrained(tmp)
            (tmp / "held_out_accuracy.json").write_text(json.dumps(accuracy, indent=2) + "\n")


def stack_labels(labels: list[dict[str, int]]) -> dict[str, torch.Tensor]:
    """Per-photo labels (``Photo.labels()``) -> one tensor of indices per label."""
    return {name: torch.tensor([photo[name] for photo in labels]) for name in LABEL_VALUES}


def held_out_photos(count: int, resolution: int, seed: int = 1) -> list[Photo]:
    """``count`` photos of ToyBench's held-out subjects (never in training), the same for the same seed."""
    rng = np.random.default_rng(seed)
    return [random_photo(rng, random_subject(rng, held_out=True), resolution) for _ in range(count)]


@torch.no_grad()
def label_accuracy(model: torch.nn.Module, photos: list[Photo], image_size: int,
                   batch_size: int = 100) -> dict[str, float]:
    """The share of ``photos`` whose label each head of ``model`` (pixels -> logits per label) reads right."""
    device = next(model.parameters()).device
    hits = dict.fromkeys(LABEL_VALUES, 0)
    for start in range(0, len(photos), batch_size):
        chunk = photos[start:start + batch_size]
        logits = model(clip_pixels([p.image for p in chunk], image_size).to(device))
        for name, truth in stack_labels([p.labels() for p in chunk]).items():
            hits[name] += int((logits[name].argmax(-1).cpu() == truth).sum())
    return {name: hits[name] / len(photos) for name in LABEL_VALUES}


class VaeRoundTrip(torch.nn.Module):
    """Encode, sample, decode in one ``forward`` (what DDP wraps): pixels -> (reconstruction, KL per image)."""

    def __init__(self, vae: AutoencoderKL):
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(pixels).latent_dist
        return self.vae.decode(posterior.sample()).sample, posterior.kl()


class VaeTask:
    """A tiny AutoencoderKL: MSE reconstruction of toy photos plus ``kl_weight`` times the KL term."""

    def __init__(self, config: dict[str, Any], kl_weight: float, data: ToyCaptions, device: torch.device,
                 gradient_checkpointing: bool):
        self.vae = VaeRoundTrip(AutoencoderKL.from_config(config).to(device))
        if gradient_checkpointing:
            self.vae.vae.enable_gradient_checkpointing()
        self.kl_weight, self.data, self.device = kl_weight, data, device

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"vae": self.vae}

    def dataset(self) -> ToyCaptions:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        return {"pixels": unit_pixels([i["image"] for i in items])}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        pixels = batch["pixels"].to(self.device)
        reconstruction, kl = self.vae(pixels)
        mse = torch.nn.functional.mse_loss(reconstruction.float(), pixels.float())
        kl = kl.mean() / pixels[0].numel()
        return mse + self.kl_weight * kl, {"mse": mse.item(), "kl": kl.item()}

    @torch.no_grad()
    def export(self, out: Path) -> None:
        """Save with ``scaling_factor`` = 1 / std of the latents of 256 photos (SD's unit-variance rule)."""
        vae = extract_model_from_parallel(self.vae).vae.eval()
        pixels = unit_pixels([self.data[-1 - i]["image"] for i in range(256)]).to(self.device)
        latents = torch.cat([vae.encode(chunk).latent_dist.sample() for chunk in pixels.split(32)])
        vae.register_to_config(scaling_factor=float(1.0 / latents.float().std()))
        with atomic_path(out) as tmp:
            vae.save_pretrained(tmp)


def load_text_encoder(clip_folder: Path, dtype: torch.dtype | None = None) -> ContextCLIPTextModel:
    """The text tower of a CLIP folder as a :class:`ContextCLIPTextModel` (strict load)."""
    clip = CLIPModel.from_pretrained(clip_folder)
    state = text_state_from_clip(clip.state_dict())
    encoder = build_with_state(lambda: ContextCLIPTextModel(clip.config.text_config), state, str(clip_folder))
    return encoder.to(dtype) if dtype else encoder


def load_text_to_image_parts(root: Path, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """tokenizer, unet, vae, the text encoder (as a :class:`ContextCLIPTextModel`) and the training noise
    schedule (``noise``, from the folder's scheduler settings) of a text-to-image model folder (the toy
    base model or SD1.5)."""
    index = read_model_index(root)
    parts = {name: load_component(root, name, index[name], dtype) for name in ("tokenizer", "unet", "vae")}
    parts["text_encoder"] = load_component(root, "text_encoder", ["blip_diffusion", "ContextCLIPTextModel"], dtype)
    scheduler_file = root / "scheduler" / "scheduler_config.json"
    parts["noise"] = training_scheduler(read_json(scheduler_file) if scheduler_file.is_file() else None)
    return parts


class EncodedCaptions(Dataset):
    """The UNet's training photos, encoded once by the frozen VAE and text encoder (the work each step
    would otherwise repeat, about half of a toy step on a CPU).

    Item ``i`` holds ``latents`` (C, h, w), the posterior mean scaled as the UNet sees it; ``states``
    (L, D), the text encoder's output for the caption (stored as float16); ``ids`` (L,), the caption's
    token ids (for a text encoder trained with the UNet); and ``subject`` (1, h, w), the subject's
    coverage averaged to latent size. ``empty`` (L, D) and ``empty_ids`` (L,) are the empty text's
    (classifier-free guidance's unconditional input).
    """

    def __init__(self, tensors: dict[str, torch.Tensor]):
        self.empty, self.empty_ids = tensors["empty"].float(), tensors["empty_ids"].long()
        self.tensors = {key: tensors[key] for key in ("latents", "states", "ids", "subject")}

    def __len__(self) -> int:
        return len(self.tensors["latents"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {key: values[index] for key, values in self.tensors.items()}


@torch.no_grad()
def encode_captions(data: ToyCaptions, count: int, parts: dict[str, Any], path: Path, device: torch.device,
                    batch_size: int = 64) -> EncodedCaptions:
    """The first ``count`` items of ``data`` encoded with ``parts`` (text_encoder, vae, tokenizer); kept in
    ``path`` (written atomically) and read back from there when it holds as many, encoded by the same
    text encoder and VAE (or when they are not given)."""
    text_encoder, vae, tokenizer = (parts.get(name) for name in ("text_encoder", "vae", "tokenizer"))

    def token_ids(captions: list[str]) -> torch.Tensor:
        return tokenizer(captions, padding="max_length", truncation=True, return_tensors="pt").input_ids.int()

    def states(ids: torch.Tensor) -> torch.Tensor:
        return text_encoder.to(device).eval()(ids.long().to(device)).last_hidden_state.half().cpu()

    def encode(positions: range) -> dict[str, torch.Tensor]:
        items = [data[i] for i in positions]
        latents = latent_means(vae.to(device).eval(), unit_pixels([i["image"] for i in items]))
        alpha = torch.from_numpy(np.stack([i["alpha"] for i in items]))[:, None]
        ids = token_ids([i["caption"] for i in items])
        return {"latents": latents, "states": states(ids), "ids": ids,
                "subject": F.adaptive_avg_pool2d(alpha, latents.shape[-2:])}

    def empty() -> dict[str, torch.Tensor]:
        ids = token_ids([""])
        return {"empty": states(ids)[0], "empty_ids": ids[0]}

    tensors = encoded_once(path, count, encode, empty, batch_size, "encoding photos", required=("ids", "empty_ids"),
                           encoders=fingerprint(text_encoder, vae))
    return EncodedCaptions(tensors)


class UnetTask:
    """Text-to-image denoising on pre-encoded photos (frozen CLIP text states, frozen VAE latents), with
    captions dropped (the empty text's states) for classifier-free guidance.

    ``subject_loss_weight`` w weighs each latent pixel by ``1 + w * subject coverage``: the toy's subjects
    fill a tenth of a picture, and their attributes are what the later stages need the model to draw;
    ``edge_loss_weight`` adds weight on the pixels the subject's outline crosses (:func:`subject_weights`).
    Given a ``text_encoder``, it is trained with the UNet from the captions' token ids (GLIDE's recipe)
    instead of the frozen states being read.
    """

    def __init__(self, config: dict[str, Any], encoded: EncodedCaptions, caption_dropout: float,
                 subject_loss_weight: float, seed: int, device: torch.device, gradient_checkpointing: bool,
                 export: Any = None, snr_gamma: float = 0.0, text_encoder: ContextCLIPTextModel | None = None,
                 edge_loss_weight: float = 0.0, prediction_type: str = "epsilon"):
        self.unet = UNet2DConditionModel.from_config(config).to(device)
        if gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.text_encoder = text_encoder.to(device).requires_grad_(True) if text_encoder is not None else None
        self.encoded, self.data = encoded, Shuffled(encoded, seed)
        self.scheduler = training_scheduler({"prediction_type": prediction_type})
        self.caption_dropout, self.subject_loss_weight, self.device = caption_dropout, subject_loss_weight, device
        self.snr_gamma, self.edge_loss_weight = snr_gamma, edge_loss_weight
        self.exporter = export

    def modules(self) -> dict[str, torch.nn.Module]:
        trained = {"unet": self.unet}
        if self.text_encoder is not None:
            trained["text_encoder"] = self.text_encoder
        return trained

    def dataset(self) -> Shuffled:
        return self.data

    def collate(self, items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        return {key: torch.stack([i[key] for i in items]) for key in items[0]}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        latents = batch["latents"].to(self.device)
        dropped = (torch.rand(len(latents)) < self.caption_dropout).to(self.device)
        cond = self.caption_states(batch, dropped)
        weight = subject_weights(batch["subject"].to(self.device), latents.shape[-2:], self.subject_loss_weight,
                                 self.edge_loss_weight)
        return denoising_loss(self.unet, self.scheduler, latents, cond, weight, self.snr_gamma), {}

    def caption_states(self, batch: dict[str, torch.Tensor], dropped: torch.Tensor) -> torch.Tensor:
        """The UNet's text input: the captions' states, the empty text's where ``dropped``."""
        if self.text_encoder is None:
            states = batch["states"].to(self.device, torch.float32)
            return torch.where(dropped[:, None, None], self.encoded.empty.to(self.device), states)
        ids = torch.where(dropped[:, None], self.encoded.empty_ids.to(self.device), batch["ids"].to(self.device).long())
        return self.text_encoder(ids).last_hidden_state

    def export(self, out: Path) -> None:
        self.exporter(self.unet, out, self.text_encoder)
