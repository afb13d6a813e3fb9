"""How well a toy CLIP tells each attribute of a photo apart, and how much its text tower says about it.

    .venv/bin/python benchmarks/toy_clip_probe.py assets/models/toy/base/clip [--photos 500]

Two readings on held-out subjects' photos (never seen in training):

- **swap retrieval**: for each photo and attribute, the true caption against every caption with that
  attribute swapped for another value of its vocabulary; the share of photos whose true caption
  scores highest (chance: 1 / vocabulary size). It says what the CLIP's embedding space separates.
- **text-state spread**: the text tower's last hidden states (what the UNet's cross-attention reads),
  for captions that differ only in one attribute: the variance across its values, summed over
  channels and over the 77 positions, as a share of the states' total energy. It says how loudly the
  text conditioning carries each attribute.
- **image-tower probe**: a ridge classifier per attribute on the vision tower's features at the layer
  stage 1 reads (``--layer -2``: the last one dropped), its class token joined to the mean of its patch
  tokens, fitted on ``--fit`` photos of training subjects. It says what the image encoder of stages 1
  and 2 can hand the Q-Former at all, caption or no caption.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from toy_subject_probe import ridge_accuracy
from transformers import CLIPModel, CLIPTokenizer

from blip_diffusion.toyworld.photos import Photo, random_photo
from blip_diffusion.toyworld.scenes import SCENE_NAMES
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES, random_subject
from blip_diffusion.training.data import clip_pixels

ATTRIBUTES = (*IDENTITY_ATTRIBUTES, "scene")


def values(photo: Photo, attribute: str) -> tuple[str, tuple[str, ...]]:
    """The photo's value of ``attribute`` and every value it can take."""
    if attribute == "scene":
        return photo.scene, tuple(SCENE_NAMES)
    return getattr(photo.subject, attribute), tuple(VOCABULARIES[attribute])


def photos(rng: np.random.Generator, count: int, held_out: bool, size: int) -> list[Photo]:
    """``count`` photos of subjects drawn from ToyBench's side (``held_out``) or the training side."""
    return [random_photo(rng, random_subject(rng, held_out=held_out), size) for _ in range(count)]


def variants(photo: Photo, attribute: str) -> list[str]:
    """The photo's caption with ``attribute`` set to each value it can take (the true one first)."""
    true, vocabulary = values(photo, attribute)
    return [photo.caption, *(photo.caption_with(attribute, v) for v in vocabulary if v != true)]


def value_index(photo: Photo, attribute: str) -> int:
    true, vocabulary = values(photo, attribute)
    return vocabulary.index(true)


def tower_features(model: CLIPModel, photos: list[Photo], layer: int,
                   batch: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """One pass of the vision tower: (class token joined to the mean patch token of hidden states ``layer``
    (0: the embeddings), (N, 2W); the normalized image embeddings, (N, P))."""
    probed, embedded = [], []
    for start in range(0, len(photos), batch):
        pixels = clip_pixels([p.image for p in photos[start:start + batch]], model.config.vision_config.image_size)
        out = model.vision_model(pixel_values=pixels, output_hidden_states=True)
        hidden = out.hidden_states[layer]
        probed.append(torch.cat([hidden[:, 0], hidden[:, 1:].mean(dim=1)], dim=1))
        embedded.append(F.normalize(model.visual_projection(out.pooler_output), dim=-1))
    return torch.cat(probed), torch.cat(embedded)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", help="a CLIPModel folder (a base model's clip/)")
    parser.add_argument("--photos", type=int, default=500)
    parser.add_argument("--fit", type=int, default=1500, help="photos of training subjects for the image-tower probe")
    parser.add_argument("--layer", type=int, default=-2,
                        help="vision hidden states the image-tower probe reads (-2: stage 1's, -1: the last)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    model, tokenizer = CLIPModel.from_pretrained(args.clip).eval(), CLIPTokenizer.from_pretrained(args.clip)
    rng = np.random.default_rng(args.seed)
    size = model.config.vision_config.image_size
    sample = photos(rng, args.photos, True, size)
    fit = photos(rng, args.fit, False, size)
    fit_features, _ = tower_features(model, fit, args.layer)
    sample_features, images = tower_features(model, sample, args.layer)

    def text_states(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids = tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt").input_ids
        out = model.text_model(input_ids=ids)
        embeds = model.text_projection(out.pooler_output)
        return out.last_hidden_state, embeds / embeds.norm(dim=-1, keepdim=True)

    print(f"{args.clip}: {args.photos} held-out photos (image-tower probe: vision hidden states {args.layer}, "
          f"fitted on {args.fit} others)")
    print("| attribute | values | swap retrieval | chance | text-state spread | image-tower probe |")
    print("|---|---|---|---|---|---|")
    for attribute in ATTRIBUTES:
        hits, spread, energy = 0, 0.0, 0.0
        for photo, image in zip(sample, images, strict=True):
            texts = variants(photo, attribute)
            states, embeds = text_states(texts)
            hits += int((embeds @ image).argmax() == 0)
            spread += states.var(dim=0).sum().item()
            energy += states.pow(2).mean(dim=0).sum().item()
        values = len(variants(sample[0], attribute))
        probe = ridge_accuracy(fit_features, np.array([value_index(p, attribute) for p in fit]), sample_features,
                               np.array([value_index(p, attribute) for p in sample]), values)
        print(f"| {attribute} | {values} | {hits / len(sample):.3f} | {1 / values:.3f} | {spread / energy:.4f} "
              f"| {probe:.3f} |")


if __name__ == "__main__":
    main()
