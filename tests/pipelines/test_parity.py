"""Parity with the original implementation: every base-pipeline case of tests/fixtures/cases.

Tolerances are the fixtures' suggested ones (max abs difference): 1e-4, final latents 1e-3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import CASES, load_case

BASE_CASES = sorted(p.name for p in CASES.iterdir() if p.name.startswith("base_"))


def _max_diff(actual: torch.Tensor | np.ndarray, expected_file) -> float:
    actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else actual
    return float(np.abs(actual - np.load(expected_file)).max())


@pytest.mark.parametrize("case", BASE_CASES)
def test_matches_reference(pipe, case):
    args, folder = load_case(case)
    args.pop("pipeline"), args.pop("model")
    subject = pipe.encode_subject(args["reference_image"], args["source_subject_category"])
    assert _max_diff(subject.embeds[None], folder / "expected_subject_embeds.npy") < 1e-4

    with torch.no_grad():
        built = pipe.build_prompt(args["prompt"], args["target_subject_category"], args["prompt_strength"],
                                  args["prompt_reps"])
        text = pipe.encode_prompt([built], subject.embeds[None])
        assert _max_diff(text, folder / "expected_text_embeds.npy") < 1e-4
        if args["guidance_scale"] > 1:
            uncond = pipe.encode_negative_prompt([args["negative_prompt"]])
            assert _max_diff(uncond, folder / "expected_uncond_embeds.npy") < 1e-4

    latents = pipe(**args | {"output_type": "latent"}).images
    assert _max_diff(latents, folder / "expected_final_latents.npy") < 1e-3
    image = pipe(**args).images[0]
    assert image.shape == (args["height"], args["width"], 3)
    assert _max_diff(image, folder / "expected_image.npy") < 1e-4
