"""The similarity arithmetic against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from blip_diffusion.evaluation.metrics import (
    cosine_matrix,
    cosine_to_references,
    distinct_pairs_cosine,
    paired_cosine,
)

E1, E2 = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]


def test_identical_features_give_one_and_orthogonal_zero():
    features = torch.tensor([[0.3, -1.2, 5.0], [2.0, 2.0, -1.0]])
    assert torch.allclose(cosine_matrix(features, features).diagonal(), torch.ones(2, dtype=torch.float64))
    assert cosine_matrix(torch.tensor([E1]), torch.tensor([E2])).item() == 0.0
    assert torch.allclose(paired_cosine(features, features), torch.ones(2, dtype=torch.float64))


def test_scale_does_not_matter():
    a, b = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 1.0]])
    assert cosine_matrix(a, b).item() == pytest.approx(cosine_matrix(7 * a, 0.1 * b).item())
    assert cosine_matrix(a, b).item() == pytest.approx(5 / (math.sqrt(5) * math.sqrt(10)))


def test_mean_over_references():
    # generated [1,0,0] vs real [1,0,0] (cos 1), [0,1,0] (cos 0), [1,1,0] (cos 1/sqrt2)
    generated = torch.tensor([E1, E2])
    real = torch.tensor([E1, E2, [1.0, 1.0, 0.0]])
    expected = (1 + 0 + 1 / math.sqrt(2)) / 3
    assert cosine_to_references(generated, real).tolist() == pytest.approx([expected, expected])


def test_paired_cosine_is_row_by_row():
    images = torch.tensor([E1, E2, [1.0, 1.0, 0.0]])
    texts = torch.tensor([E1, E1, E2])
    assert paired_cosine(images, texts).tolist() == pytest.approx([1.0, 0.0, 1 / math.sqrt(2)])


def test_real_vs_real_leaves_out_each_image_with_itself():
    features = torch.tensor([E1, E2, [1.0, 1.0, 0.0]])
    # pairs (0,1)=0, (0,2)=(1,2)=1/sqrt2, each counted in both orders: 4/sqrt2 over 6
    assert distinct_pairs_cosine(features) == pytest.approx(4 / math.sqrt(2) / 6)
    assert distinct_pairs_cosine(torch.tensor([E1, E1])) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least 2"):
        distinct_pairs_cosine(torch.tensor([E1]))
