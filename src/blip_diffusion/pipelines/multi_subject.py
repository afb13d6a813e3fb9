"""Several subjects in one prompt: "a [dog] dog and a [cat] cat on the beach".

``[name]`` marks where subject ``name``'s 16 embeddings go: before the word that follows it (its
class word), as BLIP-Diffusion places its single subject before "dog" in "a dog ...". Each
subject costs 16 of the text encoder's 77 positions. Optionally a subject is confined to a region
(left half, right half, a mask): the prompt is then encoded once per region with only that region's
subject in it, and the UNet's cross-attention lets each pixel see only its region's encoding, so that
identities do not bleed into each other.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import PIL.Image
import torch
from diffusers.models.attention_processor import Attention
from torch.nn import functional as F

from blip_diffusion.errors import InputError
from blip_diffusion.models.ctx_clip import SubjectContext
from blip_diffusion.pipelines.blip_diffusion import (
    BlipDiffusionPipeline,
    BlipDiffusionPipelineOutput,
    SubjectInput,
)
from blip_diffusion.pipelines.control_images import check_aspect, open_image

logger = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\[([^\[\]]*)\]")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
Region = str | os.PathLike | PIL.Image.Image | torch.Tensor
NAMED_REGIONS = ("left", "right", "top", "bottom", "full")


@dataclass
class PromptSubject:
    """A subject referenced as ``[name]`` in a multi-subject prompt.

    reference: photos, a subject file, a SubjectEmbedding or (Q, D) embeddings (as ``reference_image``).
    category: class word of the photos (subject files carry theirs).
    region: where its embeddings may act: one of NAMED_REGIONS, a mask image or path (white = inside),
    a (H, W) tensor, or None for everywhere.
    """

    reference: SubjectInput
    category: str | None = None
    region: Region | None = None


@dataclass
class PromptLayout:
    """text: the prompt without placeholders; names[i] goes before token positions[i] (BOS = 0)."""

    text: str
    names: list[str]
    positions: list[int] = field(default_factory=list)


# ---------------------------------------------------------------------- prompt syntax
def parse_subject_prompt(prompt: str, subjects: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """-> (text without placeholders, subject names in prompt order, the text before each placeholder)."""
    pieces, names, prefixes, start = [], [], [], 0
    for match in PLACEHOLDER.finditer(prompt):
        _check_plain(prompt, prompt[start:match.start()], start)
        pieces.append(prompt[start:match.start()])
        name = match.group(1).strip()
        if not NAME.fullmatch(name):
            raise InputError(f"prompt: bad subject reference [{match.group(1)}]: a name is letters, digits, _ or -")
        if name not in subjects:
            raise InputError(f"prompt references unknown subject [{name}]; given subjects: {', '.join(subjects)}")
        if not re.match(r"\s*\w", prompt[match.end():]):
            raise InputError(f"prompt: [{name}] must be followed by its class word, e.g. '[{name}] dog'")
        names.append(name)
        prefixes.append(_clean("".join(pieces)))
        start = match.end()
    _check_plain(prompt, prompt[start:], start)
    if not names:
        raise InputError(f"prompt has no subject reference such as '[dog] dog': {prompt!r}")
    if unused := [name for name in subjects if name not in names]:
        raise InputError(f"subjects given but not referenced in the prompt: {', '.join(unused)} (write [name])")
    return _clean("".join(pieces) + prompt[start:]), names, prefixes


def _check_plain(prompt: str, text: str, offset: int) -> None:
    for i, char in enumerate(text):
        if char in "[]":
            raise InputError(f"prompt: unmatched {char!r} at character {offset + i} of {prompt!r}")


def _clean(text: str) -> str:
    return " ".join(text.split())


def layout_prompt(pipe: BlipDiffusionPipeline, prompt: str, subjects: Sequence[str]) -> PromptLayout:
    """Parse ``prompt`` and find each subject's token position; error if it does not fit 77 positions."""
    text, names, prefixes = parse_subject_prompt(prompt, subjects)
    ids = pipe.tokenizer(text).input_ids  # BOS ... EOS
    budget = pipe.text_encoder.config.max_position_embeddings - len(names) * pipe.qformer.num_query_tokens
    if len(ids) > budget:
        raise InputError(
            f"prompt is too long: {len(ids)} tokens + {pipe.qformer.num_query_tokens} per subject x {len(names)} > "
            f"{pipe.text_encoder.config.max_position_embeddings} positions; shorten it to {budget} tokens"
        )
    positions = []
    for name, prefix in zip(names, prefixes):
        prefix_ids = pipe.tokenizer(prefix).input_ids[:-1]  # BOS + the prefix's tokens, no EOS
        if ids[: len(prefix_ids)] != prefix_ids:
            raise InputError(f"prompt: [{name}] splits a word; put spaces around it")
        positions.append(len(prefix_ids))
    return PromptLayout(text, names, positions)


def subject_spans(layout: PromptLayout, num_tokens: int) -> list[tuple[int, int]]:
    """Where each placeholder's embeddings sit in the text encoder's output sequence: [start, stop)."""
    return [(position + num_tokens * sum(p < position for p in layout.positions),
             position + num_tokens * (1 + sum(p < position for p in layout.positions)))
            for position in layout.positions]


def encode_subject_prompt(
    pipe: BlipDiffusionPipeline, layout: PromptLayout, embeds: Mapping[str, torch.Tensor],
    prompt_strength: float = 1.0, prompt_reps: int = 20, names: Sequence[str] | None = None,
) -> torch.Tensor:
    """Text conditioning (1, 77, D): the prompt repeated as in BLIP-Diffusion, the embeddings (1, Q, D)
    of the subjects ``names`` (default: all of the layout's) spliced into the first copy; the other
    subjects' class words stay plain text."""
    copies = int(prompt_strength * prompt_reps)
    if copies < 1:
        raise InputError(f"prompt_strength x prompt_reps must be at least 1, got {prompt_strength} x {prompt_reps}")
    spliced = [(name, position) for name, position in zip(layout.names, layout.positions)
               if names is None or name in names]
    max_length = pipe.text_encoder.config.max_position_embeddings - len(spliced) * pipe.qformer.num_query_tokens
    input_ids = pipe._tokenize([", ".join([layout.text] * copies)], max_length)
    contexts = [SubjectContext(embeds[name], position) for name, position in spliced]
    return pipe.text_encoder(input_ids, subjects=contexts).last_hidden_state


# ---------------------------------------------------------------------- regions
def region_mask(region: Region, width: int, height: int) -> torch.Tensor:
    """A region -> (height, width) float mask in {0, 1}."""
    mask = torch.zeros(height, width)
    if isinstance(region, str) and region in NAMED_REGIONS:
        rows, cols = {"left": (slice(None), slice(0, width // 2)), "right": (slice(None), slice(width // 2, None)),
                      "top": (slice(0, height // 2), slice(None)), "bottom": (slice(height // 2, None), slice(None)),
                      "full": (slice(None), slice(None))}[region]
        mask[rows, cols] = 1.0
        return mask
    if isinstance(region, torch.Tensor):
        if region.shape != (height, width):
            raise InputError(f"region mask must have shape ({height}, {width}), got {tuple(region.shape)}")
        return (region > 0.5).float()
    if isinstance(region, str) and not os.path.splitext(region)[1]:
        raise InputError(f"region must be one of {', '.join(NAMED_REGIONS)} or a mask image, got {region!r}")
    image = open_image(region).convert("L")
    check_aspect(image.size, width, height, "region mask")
    resized = image.resize((width, height), resample=PIL.Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(resized) > 127).float()


class RegionalAttention:
    """Additive attention biases that let each pixel see only its own region's prompt encoding.

    The text conditioning of a regional call is several encodings of the prompt side by side, one per
    view, ``tokens`` each; masks[v] is view v's (H, W) image mask, or None for the background view
    (the pixels in no region). rows: (B,) bool, the batch rows that carry subjects (the unconditional
    rows repeat one encoding in every view and see all of them). ``store``, when a list, receives each
    layer's probabilities (B, heads, pixels, views x tokens), for inspection.
    """

    def __init__(self, masks: Sequence[torch.Tensor | None], tokens: int, rows: torch.Tensor,
                 latent_size: tuple[int, int], store: list | None = None):
        self.masks, self.tokens, self.rows, self.latent_size, self.store = list(masks), tokens, rows, latent_size, store
        self._cache: dict[tuple, torch.Tensor] = {}

    def bias(self, pixels: int, tokens: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """(B, pixels, tokens): 0, or -inf where a pixel meets the tokens of another region's view."""
        if tokens != self.tokens * len(self.masks):
            raise ValueError(f"expected {len(self.masks)} views of {self.tokens} tokens, got {tokens} tokens")
        key = (pixels, tokens, dtype, device)
        if key not in self._cache:
            height, width = self.layer_size(pixels)
            inside = [None if mask is None else
                      F.interpolate(mask[None, None], size=(height, width), mode="area")[0, 0].flatten() >= 0.5
                      for mask in self.masks]
            regions = [view for view in inside if view is not None]
            background = ~torch.stack(regions).any(dim=0)
            bias = torch.zeros(len(self.rows), pixels, tokens)
            for view, seen in enumerate(inside):
                hidden = ~(background if seen is None else seen)[:, None] & self.rows[:, None, None]  # (B, pixels, 1)
                columns = slice(view * self.tokens, (view + 1) * self.tokens)
                bias[:, :, columns] = bias[:, :, columns].masked_fill(hidden, float("-inf"))
            self._cache[key] = bias.to(device, dtype)
        return self._cache[key]

    def layer_size(self, pixels: int) -> tuple[int, int]:
        """(h, w) of a UNet layer with ``pixels`` positions: the latent size halved (rounding up) k times."""
        height, width = self.latent_size
        while height * width > pixels:
            height, width = -(-height // 2), -(-width // 2)
        if height * width != pixels:
            raise ValueError(f"no UNet resolution of latents {self.latent_size} has {pixels} positions")
        return height, width


class RegionalCrossAttnProcessor:
    """Cross-attention (diffusers' ``AttnProcessor`` computation, explicit probabilities) with a
    :class:`RegionalAttention` bias. For the transformer blocks of UNet2DConditionModel, whose
    cross-attention takes (B, N, C) hidden states without group or spatial norm."""

    def __init__(self, regions: RegionalAttention):
        self.regions = regions

    def __call__(self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None,
                 **kwargs: object) -> torch.Tensor:
        """hidden_states (B, N, C), encoder_hidden_states (B, M, D) -> (B, N, C)."""
        context = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        (batch, pixels), tokens = hidden_states.shape[:2], context.shape[1]
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B * heads, N, C / heads), batch-major
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        bias = self.regions.bias(pixels, tokens, query.dtype, query.device).repeat_interleave(attn.heads, dim=0)
        mask = attn.prepare_attention_mask(attention_mask, tokens, batch)
        probs = attn.get_attention_scores(query, key, bias if mask is None else mask + bias)  # (B * heads, N, M)
        if self.regions.store is not None:
            self.regions.store.append(probs.unflatten(0, (batch, attn.heads)).detach().cpu())
        out = attn.to_out[1](attn.to_out[0](attn.batch_to_head_dim(torch.bmm(probs, value))))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


@contextlib.contextmanager
def regional_cross_attention(unet: torch.nn.Module, regions: RegionalAttention) -> Iterator[RegionalAttention]:
    """Within the block, every cross-attention layer (``attn2``) of ``unet`` applies ``regions``."""
    original = unet.attn_processors
    unet.set_attn_processor({
        name: RegionalCrossAttnProcessor(regions) if name.endswith("attn2.processor") else processor
        for name, processor in original.items()
    })
    try:
        yield regions
    finally:
        unet.set_attn_processor(dict(original))


# ---------------------------------------------------------------------- generation
@torch.no_grad()
def generate_multi_subject(
    pipe: BlipDiffusionPipeline,
    prompt: str,
    subjects: Mapping[str, PromptSubject],
    negative_prompt: str = "",
    guidance_scale: float = 7.5,
    num_inference_steps: int = 50,
    height: int | None = None,
    width: int | None = None,
    prompt_strength: float = 1.0,
    prompt_reps: int = 20,
    num_images: int = 1,
    generator: torch.Generator | list[torch.Generator] | None = None,
    latents: torch.Tensor | None = None,
    output_type: str = "pil",
    attention_store: list | None = None,
) -> BlipDiffusionPipelineOutput:
    """Images of ``prompt`` with every ``[name]`` replaced by that subject's embeddings.

    With one subject and the prompt ``"a [dog] dog on the beach"`` this is exactly
    ``pipe("on the beach", ..., "dog")``. Subjects with a ``region`` are confined to it: the pixels of
    a region see, in the UNet's cross-attention, the prompt encoded with only their region's subject
    (and the subjects without a region); the pixels in no region see it with the unconfined subjects
    only (``attention_store`` receives those attention probabilities).
    """
    # 1. Check inputs and place the subjects in the prompt
    height, width = height or pipe.default_size, width or pipe.default_size
    _, _, _, negatives = pipe.check_inputs(prompt, None, None, negative_prompt, height, width,
                                           num_inference_steps, output_type)
    layout = layout_prompt(pipe, prompt, list(subjects))
    # 2. Subject embeddings (1, Q, D) each
    embeds = {name: pipe.prepare_subject_embeds(s.reference, s.category, None, 1)[0] for name, s in subjects.items()}
    # 3. Regions, and the text conditioning: [negative; prompt with subjects], one row per image. With
    #    regions, one encoding per view side by side: the text encoder is causal, so a subject
    #    spliced into a shared encoding would reach every later token, whatever the attention masks.
    views = _region_views(subjects, height, width)
    conds = [encode_subject_prompt(pipe, layout, embeds, prompt_strength, prompt_reps, names) for names, _ in views]
    cond = torch.cat(conds, dim=1)
    guided = guidance_scale > 1.0
    if guided:
        cond = torch.cat([pipe.encode_negative_prompt(negatives).repeat(1, len(views), 1), cond])
    cond = cond.repeat_interleave(num_images, dim=0).to(pipe.unet.dtype)
    # 4. Timesteps and initial noise
    pipe.scheduler.set_timesteps(num_inference_steps)  # on the CPU, as the base pipeline keeps them
    latents = pipe.prepare_latents(num_images, height, width, pipe.unet.dtype, generator, latents)
    # 5. Denoise, each pixel seeing its own region's view if there are regions
    regions = None
    if len(views) > 1:
        rows = torch.tensor([False] * (num_images if guided else 0) + [True] * num_images)
        regions = RegionalAttention([mask for _, mask in views], conds[0].shape[1], rows,
                                    tuple(latents.shape[-2:]), attention_store)
    with regional_cross_attention(pipe.unet, regions) if regions else contextlib.nullcontext():
        latents = pipe.denoise(latents, cond, guidance_scale, generator)
    # 6. Decode
    images = pipe.decode_latents(latents, output_type)
    pipe.maybe_free_model_hooks()
    return BlipDiffusionPipelineOutput(images=images)


def _region_views(subjects: Mapping[str, PromptSubject], height: int,
                  width: int) -> list[tuple[list[str], torch.Tensor | None]]:
    """The encodings a call needs, as (subjects spliced in, image mask of the pixels that see it).

    Without regions: one view of every subject, seen everywhere. With regions: first the background
    view (the unconfined subjects; mask None: the pixels in no region), then one view per confined
    subject (the unconfined subjects and that one). A region that covers the whole image confines
    nothing.
    """
    masks = {name: region_mask(s.region, width, height) for name, s in subjects.items() if s.region is not None}
    if empty := [name for name, mask in masks.items() if not mask.any()]:
        raise InputError(f"the region of subject {', '.join(empty)} is empty at {width}x{height}: it would appear nowhere")
    confined = {name: mask for name, mask in masks.items() if not mask.bool().all()}
    free = [name for name in subjects if name not in confined]
    if not confined:
        return [(list(subjects), None)]
    return [(free, None)] + [([*free, name], mask) for name, mask in confined.items()]


# ---------------------------------------------------------------------- measuring identity bleeding
def crop_region(image: PIL.Image.Image, region: Region) -> PIL.Image.Image:
    """The bounding box of ``region`` in ``image``: the part an attribute classifier should read."""
    mask = region_mask(region, image.width, image.height)
    rows, cols = mask.any(dim=1).nonzero(), mask.any(dim=0).nonzero()
    if not len(rows):
        raise InputError("region is empty: nothing to crop")
    return image.crop((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))


def bleeding_rate(own: Sequence[float], other: Sequence[float]) -> float:
    """Fraction of subject regions that look at least as much like another subject as like their own.

    own[i], other[i]: similarity of region i's crop to its own subject and to the most similar
    other subject of the prompt (e.g. identity cosines or attribute agreement from a classifier).
    """
    if len(own) != len(other) or not own:
        raise InputError(f"need the same non-zero number of own and other scores, got {len(own)} and {len(other)}")
    return sum(o >= s for s, o in zip(own, other)) / len(own)
