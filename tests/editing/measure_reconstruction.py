"""Measures DDIM inversion, null-text optimisation and the blend mask on the fixture model (docs/editing.md).

    .venv/bin/python -m tests.editing.measure_reconstruction [--threads 1]

Prints markdown tables: the relative latent error ||z_rec - z_0|| / ||z_0|| of the reconstruction
after DDIM inversion, for the fixture model and for the same model with its input convolution
zeroed (a noise prediction that ignores the latents, for which inversion is exact); the guided
reconstruction error with and without null-text optimisation; the blend mask's coverage.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from PIL import Image

from blip_diffusion.pipelines.attention_control import AttentionEditConfig
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline
from blip_diffusion.pipelines.inversion import ddim_reconstruct, ddim_schedulers
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

DOG = ASSETS / "dreambench" / "dog" / "00.jpg"
PROMPT, CLASS = "on the grass", "dog"


def relative_error(pipe: BlipDiffusionEditPipeline, image: Image.Image, steps: int, size: int,
                   guidance: float = 1.0, null_text: bool = False) -> float:
    inversion = pipe.invert(image, PROMPT, CLASS, steps, size, size, null_text=null_text,
                            guidance_scale=guidance)
    cond = pipe.encode_negative_prompt([f"a {CLASS} {PROMPT}"])
    sampler, _ = ddim_schedulers(pipe.scheduler.config, steps, pipe.device)
    uncond = inversion.null_embeds or pipe.encode_negative_prompt([""])
    latents = ddim_reconstruct(pipe.unet, sampler, inversion, cond, uncond, guidance)
    return ((latents - inversion.image_latents).norm() / inversion.image_latents.norm()).item()


def flat_copy(pipe: BlipDiffusionEditPipeline) -> BlipDiffusionEditPipeline:
    """The pipeline with the UNet's input convolution zeroed: its noise prediction ignores the latents."""
    flat = BlipDiffusionEditPipeline.from_pipeline(pipe)
    flat.unet = copy.deepcopy(pipe.unet)
    with torch.no_grad():
        flat.unet.conv_in.weight.zero_()
        flat.unet.conv_in.bias.zero_()
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    torch.set_num_threads(parser.parse_args().threads)
    pipe = BlipDiffusionEditPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipe.set_progress_bar_config(disable=True)
    flat, image = flat_copy(pipe), Image.open(DOG)
    print("| size | steps | fixture model, guidance 1 | latent-independent prediction, guidance 1 |")
    print("| --- | --- | --- | --- |")
    for size in (32, 64):
        for steps in (1, 2, 5, 10, 25, 50):
            print(f"| {size}x{size} | {steps} | {relative_error(pipe, image, steps, size):.4g} "
                  f"| {relative_error(flat, image, steps, size):.2g} |")
    print("\n| size | steps | guidance 7.5, empty prompt | guidance 7.5, null-text (10 Adam steps) | time |")
    print("| --- | --- | --- | --- | --- |")
    for steps in (2, 5, 10):
        plain = relative_error(pipe, image, steps, 32, guidance=7.5)
        start = time.perf_counter()
        fitted = relative_error(pipe, image, steps, 32, guidance=7.5, null_text=True)
        print(f"| 32x32 | {steps} | {plain:.4g} | {fitted:.4g} | {time.perf_counter() - start:.0f} s |")
    subject = pipe.encode_subject(image, CLASS)
    print("\n| blend threshold | mask coverage (32x32, 10 steps, blend_downsample 1) |\n| --- | --- |")
    for threshold in (0.3, 0.5, 0.7, 0.9):
        attention = AttentionEditConfig(blend_threshold=threshold, blend_downsample=1)
        edited = pipe.edit(PROMPT, subject, source_class="cat", attention=attention, num_inference_steps=10,
                           height=32, width=32, generator=torch.Generator().manual_seed(0),
                           output_type="latent")
        print(f"| {threshold} | {edited.mask.mean().item():.3f} |")


if __name__ == "__main__":
    main()
