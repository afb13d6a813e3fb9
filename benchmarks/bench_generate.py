"""Generation speed and memory: our pipeline next to the original, on identical weights, in one run.

    python benchmarks/bench_generate.py                 # CPU, the small fixture model
    python benchmarks/bench_generate.py --sd15 --compile # GPU, random weights at the real SD1.5 / BLIP-2 size

Prints a table (seconds per image, UNet iterations/s, peak memory, ratio against the reference)
and, with --json, writes the numbers. With --sd15 it also reports how far float16 output is from
float32 output (max abs difference and PSNR) for the same latents.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURE_MODEL = ROOT / "tests" / "fixtures" / "models" / "blipdiffusion-small"
QFORMER_TOKENIZER = ROOT / "tests" / "fixtures" / "models" / "qformer_tokenizer"
SUBJECT = ROOT / "assets" / "dreambench" / "dog" / "00.jpg"


def build_sd15(device: torch.device):
    """Our pipeline with random weights in the real architecture (float32; cast afterwards)."""
    from diffusers import AutoencoderKL, PNDMScheduler, UNet2DConditionModel
    from transformers import BertTokenizer, Blip2Config, CLIPTextConfig, CLIPTokenizer

    from blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
    from blip_diffusion.models.subject_encoder import SubjectEncoder
    from blip_diffusion.pipelines.image_processing import SubjectImageProcessor

    blip = Blip2Config(
        vision_config={"hidden_size": 1024, "num_hidden_layers": 23, "num_attention_heads": 16,
                       "intermediate_size": 4096, "hidden_act": "quick_gelu", "image_size": 224, "patch_size": 14,
                       "layer_norm_eps": 1e-5},
        qformer_config={"cross_attention_frequency": 1, "encoder_hidden_size": 1024, "vocab_size": 30523},
        num_query_tokens=16,
    )
    text = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                          num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                          bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)
    with torch.device(device):
        torch.manual_seed(0)
        qformer, text_encoder = SubjectEncoder(blip), ContextCLIPTextModel(text)
        for module in (qformer, text_encoder):
            for p in module.parameters():
                torch.nn.init.normal_(p, std=0.02)
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4, sample_size=512,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        )
    scheduler = PNDMScheduler.from_pretrained(FIXTURE_MODEL / "scheduler")
    qformer_tokenizer = BertTokenizer.from_pretrained(str(QFORMER_TOKENIZER))
    qformer_tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    return BlipDiffusionPipeline(
        tokenizer=CLIPTokenizer.from_pretrained(FIXTURE_MODEL / "tokenizer"), text_encoder=text_encoder.eval(),
        vae=vae.eval(), unet=unet.eval(), scheduler=scheduler, qformer=qformer.eval(),
        image_processor=SubjectImageProcessor(), qformer_tokenizer=qformer_tokenizer,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS (KiB -> GiB)


def time_calls(call, device: torch.device, runs: int) -> tuple[list[float], float]:
    """Seconds of each call after one warm-up, and the peak memory over the timed calls."""
    call()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        sync(device)
        seconds.append(time.perf_counter() - start)
    return seconds, peak_memory_gib(device)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sd15", action="store_true", help="real-size architecture, random weights (needs a GPU)")
    parser.add_argument("--compile", action="store_true", help="also time our pipeline with a compiled UNet")
    parser.add_argument("--compile-vae", action="store_true", help="with --compile, also compile the VAE decoder")
    parser.add_argument("--profile", default=None, help="write a torch.profiler table of one call of the last variant")
    parser.add_argument("--no-reference", action="store_true", help="skip the original pipeline")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 50, CPU 10)")
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per variant")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()

    from blip_diffusion import BlipDiffusionPipeline

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.sd15:
        if device.type != "cuda":
            sys.exit("--sd15 needs a CUDA GPU")
        pipe, size, steps, dtype = build_sd15(device), 512, args.steps or 50, torch.float16
    else:
        pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER).to(device)
        size, steps, dtype = 64, args.steps or 10, torch.float32
    pipe.set_progress_bar_config(disable=True)
    image = Image.open(SUBJECT)
    latent_shape = (args.batch, 4, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
    latents = torch.randn(latent_shape, generator=torch.Generator().manual_seed(0))
    prompts = ["swimming underwater"] * args.batch
    common = {"guidance_scale": 7.5, "num_inference_steps": steps, "height": size, "width": size}

    def ours(output_type: str = "np"):
        return pipe(prompts, image, "dog", latents=latents, output_type=output_type, **common).images

    results: dict = {"device": torch.cuda.get_device_name() if device.type == "cuda" else platform.machine(),
                     "torch": torch.__version__, "size": size, "steps": steps, "batch": args.batch, "variants": {}}
    if args.sd15:
        reference_image = ours()  # float32
        pipe.to(dtype=dtype)
        results["float16_vs_float32"] = {"max_abs": float(np.abs(ours() - reference_image).max()),
                                         "psnr_db": psnr(ours(), reference_image)}
    variants = {"ours": ours}
    if not args.no_reference:
        from benchmarks.reference_pipeline import build_reference

        reference = build_reference(pipe, str(QFORMER_TOKENIZER))
        reference.set_progress_bar_config(disable=True)

        def original():
            # The original takes one reference image per call and no batch of subjects: loop over the batch.
            return [reference(prompts[:1], image, ["dog"], ["dog"], latents=latents[i : i + 1], output_type="np",
                              neg_prompt="", **common).images for i in range(args.batch)]

        variants = {"reference": original, **variants}
    for name, call in variants.items():
        seconds, peak = time_calls(call, device, args.runs)
        results["variants"][name] = {"s_per_image": min(seconds) / args.batch, "all_s": seconds, "peak_GiB": peak}
    if args.compile:
        pipe.unet = torch.compile(pipe.unet, mode="reduce-overhead" if device.type == "cuda" else "default")
        compile_and_time(ours, device, args, results, "ours_compiled")
        if args.compile_vae:
            pipe.vae.decoder = torch.compile(pipe.vae.decoder)
            compile_and_time(ours, device, args, results, "ours_compiled_vae")
    if args.profile:
        write_profile(ours, device, args.profile)
    report(results, steps)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def compile_and_time(call, device: torch.device, args: argparse.Namespace, results: dict, name: str) -> None:
    start = time.perf_counter()
    call()
    sync(device)
    results.setdefault("compile_s", {})[name] = time.perf_counter() - start
    seconds, peak = time_calls(call, device, args.runs)
    results["variants"][name] = {"s_per_image": min(seconds) / args.batch, "all_s": seconds, "peak_GiB": peak}


def write_profile(call, device: torch.device, path: str) -> None:
    """The operators of one call, by CPU and by device time: where the seconds outside the UNet go."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profile:
        call()
        sync(device)
    table = profile.key_averages()
    sort_keys = ["cpu_time_total"] + (["cuda_time_total"] if device.type == "cuda" else [])
    Path(path).write_text("\n\n".join(table.table(sort_by=key, row_limit=40) for key in sort_keys))


def report(results: dict, steps: int) -> None:
    base = results["variants"].get("reference", {}).get("s_per_image")
    print(f"{results['device']}, torch {results['torch']}, {results['size']}px, {steps} steps, batch {results['batch']}")
    print(f"{'variant':<16}{'s/image':>10}{'it/s':>10}{'peak GiB':>10}{'speed-up':>10}")
    for name, row in results["variants"].items():
        ratio = f"{base / row['s_per_image']:.2f}x" if base else "-"
        it_s = steps / (row["s_per_image"] * results["batch"])
        print(f"{name:<16}{row['s_per_image']:>10.4f}{it_s:>10.1f}{row['peak_GiB']:>10.2f}{ratio:>10}")
    if "float16_vs_float32" in results:
        print("float16 vs float32:", results["float16_vs_float32"])
    for name, seconds in results.get("compile_s", {}).items():
        print(f"first call of {name} (compilation included): {seconds:.1f} s")


if __name__ == "__main__":
    main()
