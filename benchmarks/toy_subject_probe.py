"""What does a toy BLIP-Diffusion's subject encoder keep of a subject? Linear probes on its image
features and on its subject embeddings.

    .venv/bin/python benchmarks/toy_subject_probe.py assets/models/toy/blip-diffusion [--train 2000 --test 500]

For photos of training subjects (to fit) and of held-out subjects (to test, attribute combinations
no training photo shows), a ridge classifier per identity attribute reads it from (1) the frozen
image encoder's features, averaged over its tokens, and (2) the subject embeddings (the Q-Former's
16 projected outputs, what the text encoder receives). Prints the held-out accuracy of each, chance,
and the embeddings' accuracy on fresh photos of training subjects (the combinations the encoder was
trained on). Where (1) is high and (2) low, the Q-Former loses the attribute; where both are low,
the image encoder never had it; where (2) is far above on training subjects, the encoder learned
the subjects it saw rather than their attributes. The Q-Former is given the true class word, as at
generation, so its class reading is not a test of the picture.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.toyworld.photos import random_photo
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES, random_subject

STRENGTHS = (0.001, 0.01, 0.1, 1.0, 10.0)  # ridge penalty per photo, on standardized features


def features(pipe: BlipDiffusionPipeline, photos: list, batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(image-encoder features averaged over tokens (N, W), subject embeddings flattened (N, Q * D))."""
    encoder, vision, embeds = pipe.qformer, [], []
    for start in range(0, len(photos), batch):
        chunk = photos[start:start + batch]
        pixels = pipe.image_processor.preprocess([p.pil() for p in chunk]).to(encoder.dtype)
        text = pipe.qformer_tokenizer([p.subject.class_name for p in chunk], return_tensors="pt", padding=True)
        image_embeds = encoder.visual_encoder(pixels)
        hidden = encoder.run(image_embeds, text.input_ids, None if text.attention_mask.all() else text.attention_mask)
        vision.append(image_embeds.mean(dim=1).float())
        embeds.append(encoder.proj_layer(hidden[:, : encoder.num_query_tokens]).flatten(1).float())
    return torch.cat(vision), torch.cat(embeds)


def ridge_accuracy(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, test_y: np.ndarray,
                   classes: int) -> float:
    """Held-out accuracy of a one-vs-rest ridge classifier on standardized features, its strength
    chosen on a fifth of the fitting photos."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    a, b = torch.cat([a, torch.ones(len(a), 1)], 1), torch.cat([b, torch.ones(len(b), 1)], 1)
    targets = torch.nn.functional.one_hot(torch.from_numpy(train_y), classes).float()

    def solve(x: torch.Tensor, y: torch.Tensor, strength: float) -> torch.Tensor:
        return torch.linalg.solve(x.T @ x + strength * len(x) * torch.eye(x.shape[1]), x.T @ y)

    def accuracy(weights: torch.Tensor, x: torch.Tensor, y: np.ndarray) -> float:
        return float(((x @ weights).argmax(1).numpy() == y).mean())

    split = len(a) * 4 // 5
    strength = max(STRENGTHS, key=lambda k: accuracy(solve(a[:split], targets[:split], k), a[split:], train_y[split:]))
    return accuracy(solve(a, targets, strength), b, test_y)


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a BLIP-Diffusion model folder")
    parser.add_argument("--train", type=int, default=2000, help="photos of training subjects (fit)")
    parser.add_argument("--test", type=int, default=500, help="photos of held-out subjects (scored)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    pipe = BlipDiffusionPipeline.from_pretrained(args.model)
    size = pipe.image_processor.size[0]
    rng = np.random.default_rng(args.seed)
    fit = [random_photo(rng, random_subject(rng, held_out=False), size) for _ in range(args.train)]
    scored = [random_photo(rng, random_subject(rng, held_out=True), size) for _ in range(args.test)]
    seen = [random_photo(rng, random_subject(rng, held_out=False), size) for _ in range(args.test)]
    fit_features, scored_features, seen_features = features(pipe, fit), features(pipe, scored), features(pipe, seen)
    print(f"{args.model}: ridge probes fitted on {args.train} photos of training subjects, "
          f"accuracy on {args.test} photos of held-out subjects")
    print("| attribute (values) | chance | image-encoder features | subject embeddings | subject embeddings, "
          "training subjects |")
    print("|---|---|---|---|---|")
    for attribute in IDENTITY_ATTRIBUTES:
        vocabulary = VOCABULARIES[attribute]
        fit_y, scored_y, seen_y = (np.array([vocabulary.index(getattr(p.subject, attribute)) for p in photos])
                                   for photos in (fit, scored, seen))
        readings = [ridge_accuracy(fit_features[k], fit_y, test[k], test_y, len(vocabulary))
                    for k, test, test_y in ((0, scored_features, scored_y), (1, scored_features, scored_y),
                                            (1, seen_features, seen_y))]
        print(f"| {attribute} ({len(vocabulary)}) | {1 / len(vocabulary):.3f} | "
              + " | ".join(f"{r:.3f}" for r in readings) + " |")


if __name__ == "__main__":
    main()
