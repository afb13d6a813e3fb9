"""From how much noise can a toy base model bring a subject's shape back? Held-out ToyBench photos
are noised to a fraction of the schedule (img2img's ``strength``) and denoised again with their own
caption, or with the class word swapped for another class.

    .venv/bin/python benchmarks/toy_base_sdedit.py assets/models/toy/base [--subjects 4] [--grid FILE]

For each strength it prints the timestep the noise starts from, the share of the latent's energy
left (``abar``), and the oracle's class reading of: the one-step estimate of the clean picture (the
UNet's single denoising prediction from that noise), the sampled picture with the photo's caption,
and the sampled picture with the swapped class word (read as the photo's class, and as the class
named). The photos through the VAE alone give the ceiling. ``--grid`` writes the first eight
photos, then per strength a row of one-step estimates and one of sampled pictures (own caption).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionImg2ImgPipeline
from PIL import Image
from toy_probe import STEPS, grid, oracle

from blip_diffusion.pipelines.schedulers import make_scheduler
from blip_diffusion.toyworld.benchset import bench_prompts, bench_subjects, truth_photo
from blip_diffusion.toyworld.oracle import read
from blip_diffusion.toyworld.subjects import CLASSES

STRENGTHS = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)


def swapped(class_name: str) -> str:
    return CLASSES[(CLASSES.index(class_name) + 3) % len(CLASSES)]


def share_of(read_classes: list[str], classes: list[str]) -> float:
    return float(np.mean([r == c for r, c in zip(read_classes, classes, strict=True)]))


def pictures(latents: torch.Tensor, pipe) -> list[Image.Image]:
    decoded = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return pipe.image_processor.postprocess(decoded, output_type="pil")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a base model folder (StableDiffusionPipeline layout)")
    parser.add_argument("--subjects", type=int, default=4, help="ToyBench subjects, 25 photos each")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--strengths", type=float, nargs="+", default=STRENGTHS)
    parser.add_argument("--grid", type=Path, help="write pictures of the first eight photos here (JPEG)")
    args = parser.parse_args()
    pipe = StableDiffusionImg2ImgPipeline.from_pretrained(args.model, safety_checker=None,
                                                          requires_safety_checker=False)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    photos = [truth_photo(member, prompt, 0) for member in bench_subjects(args.subjects)
              for prompt in range(len(bench_prompts(member.subject)))]
    images = [Image.fromarray(photo.image) for photo in photos]
    truth = [photo.subject.class_name for photo in photos]
    captions = [photo.caption for photo in photos]
    other = [c.replace(f" {t} ", f" {swapped(t)} ", 1) for c, t in zip(captions, truth, strict=True)]
    judge = oracle()

    def classes_read(drawn: list[Image.Image]) -> list[str]:
        readings = read(judge, drawn)
        return [readings.words(i)["class_name"] for i in range(len(drawn))]

    def share(drawn: list[Image.Image], classes: list[str]) -> float:
        return share_of(classes_read(drawn), classes)

    pixels = pipe.image_processor.preprocess(images)
    latents = pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor
    states = pipe.encode_prompt(captions, "cpu", 1, False)[0]
    print(f"{args.model}: {len(photos)} held-out photos, {STEPS} DPM-Solver++ steps at strength 1, "
          f"guidance {args.guidance}")
    print(f"through the VAE alone: class read {share(pictures(latents, pipe), truth):.2f}")
    print("strength  t    abar  | one-step estimate | own caption | swapped word: photo's class, named class")
    rows = [images[:8]]
    for strength in args.strengths:
        pipe.scheduler.set_timesteps(STEPS)
        start = pipe.get_timesteps(STEPS, strength, "cpu")[0][:1]
        abar = float(pipe.scheduler.alphas_cumprod[start])
        noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(0))
        noisy = pipe.scheduler.add_noise(latents, noise, start)
        output = pipe.unet(noisy, start, encoder_hidden_states=states).sample
        if pipe.scheduler.config.prediction_type == "v_prediction":
            clean = abar**0.5 * noisy - (1 - abar) ** 0.5 * output
        else:
            clean = (noisy - (1 - abar) ** 0.5 * output) / abar**0.5
        estimate = pictures(clean, pipe)
        common = {"image": images, "strength": strength, "num_inference_steps": STEPS,
                  "guidance_scale": args.guidance}
        own = pipe(captions, generator=torch.Generator().manual_seed(0), **common).images
        swap = classes_read(pipe(other, generator=torch.Generator().manual_seed(0), **common).images)
        print(f"{strength:<9} {int(start):<4} {abar:.3f} | {share(estimate, truth):>17.2f} | {share(own, truth):>11.2f} | "
              f"{share_of(swap, truth):.2f}, {share_of(swap, [swapped(t) for t in truth]):.2f}")
        rows += [estimate[:8], own[:8]]
    if args.grid:
        grid(rows, args.grid)


if __name__ == "__main__":
    main()
