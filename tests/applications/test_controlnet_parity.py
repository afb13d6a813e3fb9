"""Parity of the ControlNet pipeline with the original implementation: the ctrl_edge_teapot case.

Tolerances are the fixtures' suggested ones (max abs difference): 1e-4, final latents 1e-3.
"""

from __future__ import annotations

import numpy as np
import torch

from tests.conftest import load_case


def _max_diff(actual: torch.Tensor | np.ndarray, expected_file) -> float:
    actual = actual.detach().cpu().numpy() if isinstance(actual, torch.Tensor) else actual
    return float(np.abs(actual - np.load(expected_file)).max())


def test_controlnet_case_matches_reference(control_pipe):
    args, folder = load_case("ctrl_edge_teapot")
    assert args.pop("pipeline") == "BlipDiffusionControlNetPipeline"
    args.pop("model")
    pipe = control_pipe
    subject = pipe.encode_subject(args["reference_image"], args["source_subject_category"])
    assert _max_diff(subject.embeds[None], folder / "expected_subject_embeds.npy") < 1e-4
    with torch.no_grad():
        built = pipe.build_prompt(args["prompt"], args["target_subject_category"], args["prompt_strength"],
                                  args["prompt_reps"])
        assert _max_diff(pipe.encode_prompt([built], subject.embeds[None]), folder / "expected_text_embeds.npy") < 1e-4
        uncond = pipe.encode_negative_prompt([args["negative_prompt"]])
        assert _max_diff(uncond, folder / "expected_uncond_embeds.npy") < 1e-4

    latents = pipe(**args | {"output_type": "latent"}).images
    assert _max_diff(latents, folder / "expected_final_latents.npy") < 1e-3
    with torch.no_grad():
        image = pipe.decode_latents(latents, "np")[0]  # the decode step of the same call with output_type "np"
    assert image.shape == (args["height"], args["width"], 3)
    assert _max_diff(image, folder / "expected_image.npy") < 1e-4

