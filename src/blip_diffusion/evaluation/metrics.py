"""Cosine similarities behind DINO, CLIP-I and CLIP-T (DreamBooth, Ruiz et al. 2023, section 4.1).

- DINO / CLIP-I: mean cosine over all (generated, real) pairs of a subject's image features.
- CLIP-T: cosine between a generated image's CLIP feature and its prompt's CLIP text feature.
- Real-vs-real (upper bound): mean cosine over the pairs of distinct real photos of a subject.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cosine_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D) x (M, D) -> (N, M) cosine similarities."""
    return F.normalize(a.double(), dim=-1) @ F.normalize(b.double(), dim=-1).T


def cosine_to_references(generated: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
    """(N, D) generated x (M, D) real -> (N,): each generated image's mean cosine to the real ones."""
    return cosine_matrix(generated, references).mean(dim=1)


def paired_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, D) x (N, D) -> (N,): cosine of row i of ``a`` with row i of ``b``."""
    return F.cosine_similarity(a.double(), b.double(), dim=-1)


def distinct_pairs_cosine(features: torch.Tensor) -> float:
    """(M, D) features of one subject's real photos -> mean cosine over the M(M-1) pairs i != j."""
    count = features.shape[0]
    if count < 2:
        raise ValueError(f"real-vs-real similarity needs at least 2 images, got {count}")
    matrix = cosine_matrix(features, features)
    off_diagonal = matrix.sum() - matrix.diagonal().sum()
    return float(off_diagonal / (count * (count - 1)))
