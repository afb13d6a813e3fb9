"""Generation speed and memory: our pipeline next to the original, on identical weights, in one run.

    python benchmarks/bench_generate.py                 # CPU, the small fixture model
    python benchmarks/bench_generate.py --toy --batch 4  # CPU, the bundled toy model
    python benchmarks/bench_generate.py --toy --batch 4 --compile --compile-vae --interleave  # CPU, compiled
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
STAND_IN_VOCAB = 81  # the stand-in Q-Former tokenizer, [DEC] included
TOY_MODEL = ROOT / "assets" / "models" / "toy" / "blip-diffusion"
SUBJECT = ROOT / "assets" / "dreambench" / "dog" / "00.jpg"


def build_sd15(device: torch.device, qformer_vocab: int = 30523):
    """Our pipeline with random weights in the real architecture (float32; cast afterwards).

    The Q-Former's tokenizer is a small stand-in; a folder written with ``save_pretrained`` loads only
    when the vocabulary matches it (``qformer_vocab=STAND_IN_VOCAB``), which changes nothing but the
    size of one embedding table.
    """
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
        qformer_config={"cross_attention_frequency": 1, "encoder_hidden_size": 1024, "vocab_size": qformer_vocab},
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


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's architecture, threads and vector instructions: CPU hosts of the same
    kind differ (AVX2 or AVX-512), and with them every CPU time here."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return (f"{platform.machine()} cpu, {torch.get_num_threads()} threads, "
            f"{torch.backends.cpu.get_cpu_capability()}")


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
    seconds = [timed(call, device) for _ in range(runs)]
    return seconds, peak_memory_gib(device)


def timed(call, device: torch.device) -> float:
    """Seconds of one call, the device's queued work included."""
    start = time.perf_counter()
    call()
    sync(device)
    return time.perf_counter() - start


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--sd15", action="store_true", help="real-size architecture, random weights (needs a GPU)")
    model.add_argument("--toy", action="store_true", help="the bundled toy model at its own size (no reference)")
    parser.add_argument("--compile", action="store_true", help="also time pipe.compile(vae=False): the UNet compiled")
    parser.add_argument("--compile-vae", action="store_true", help="with --compile, also compile the VAE decoder")
    parser.add_argument("--interleave", action="store_true",
                        help="with --compile (toy or fixture model): time the eager and the compiled pipeline call by "
                             "call in turn, so that a shared host's changing speed falls on both alike")
    parser.add_argument("--tuned", action="store_true",
                        help="also time pipe.compile(tuned=True, encoders=True), then with cached embeddings")
    parser.add_argument("--feature-cache", type=int, nargs="*", default=[], metavar="N",
                        help="also time approximate mode with pipe.enable_feature_cache(N) after the exact variants, "
                             "with its PSNR against the last exact one")
    parser.add_argument("--memory", action="store_true",
                        help="ours alone: peak memory plain, with VAE slicing and tiling, and also with model CPU offload")
    parser.add_argument("--profile", default=None, help="write a torch.profiler table of one call of the last variant")
    parser.add_argument("--no-reference", action="store_true", help="skip the original pipeline")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default 50, fixture model 10)")
    parser.add_argument("--scheduler", default="pndm",
                        help="our pipeline's sampler: pndm (the original's), ddim, dpm, euler, euler_a")
    parser.add_argument("--batch", type=int, default=1, help="images per call")
    parser.add_argument("--runs", type=int, default=3, help="timed calls per variant")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args()

    if args.interleave and (args.sd15 or not args.compile or args.tuned or args.feature_cache or args.memory):
        sys.exit("--interleave compares --compile (alone) with eager, on the toy or fixture model")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    pipe, size, steps = load_pipeline(args, device)
    image = Image.open(SUBJECT)
    factor = pipe.vae_scale_factor
    latents = torch.randn((args.batch, pipe.unet.config.in_channels, size // factor, size // factor),
                          generator=torch.Generator().manual_seed(0))
    prompts = ["swimming underwater"] * args.batch
    common = {"guidance_scale": 7.5, "num_inference_steps": steps, "height": size, "width": size}

    def generator(pipe):
        def generate(output_type: str = "np"):
            return pipe(prompts, image, "dog", latents=latents, output_type=output_type, **common).images
        return generate

    ours = generator(pipe)

    results: dict = {"device": device_name(device),
                     "torch": torch.__version__, "size": size, "steps": steps, "scheduler": args.scheduler,
                     "batch": args.batch, "variants": {}}
    float32_images = None
    if args.sd15:
        float32_images = ours()
        pipe.to(dtype=torch.float16)
    bench = Bench(device, args.runs, args.batch, results, float32_images)
    if args.memory:
        memory_variants(pipe, ours, bench)
    else:
        if not args.no_reference and not args.toy:
            bench.time("reference", reference_call(pipe, prompts, image, latents, common, args.batch))
        if not args.interleave:
            bench.time("ours", ours)
        if args.sd15:
            results["subject_encoding_ms"] = {"eager": subject_encoding_ms(pipe, image, device)}
        compiled_name = "ours_compiled_vae" if args.compile_vae else "ours_compiled"
        if args.interleave:
            twin = load_pipeline(args, device)[0].compile(vae=args.compile_vae)
            compiled = generator(twin)
            bench.time_together({"ours": ours, compiled_name: compiled}, compiled=[compiled_name])
            exact, images = np.asarray(ours()), np.asarray(compiled())
            results["variants"][compiled_name]["vs_exact"] = {"max_abs": float(np.abs(images - exact).max()),
                                                              "psnr_db": psnr(images, exact)}
        elif args.compile:
            pipe.compile(vae=args.compile_vae)
            bench.time(compiled_name, ours, first_call=True)
        if args.tuned:
            torch._dynamo.reset()  # compile anew, with the tuned settings
            pipe.compile(tuned=True, encoders=True)
            bench.time("ours_tuned", ours, first_call=True)
            if args.sd15:
                results["subject_encoding_ms"]["compiled"] = subject_encoding_ms(pipe, image, device)
            pipe.enable_embedding_cache()
            bench.time("ours_tuned_cached", ours)
        if args.feature_cache:
            feature_cache_variants(pipe, ours, bench, args.feature_cache, compiled=args.compile or args.tuned)
    if args.profile:
        write_profile(ours, device, args.profile)
    report(results, steps)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


def load_pipeline(args: argparse.Namespace, device: torch.device):
    """(pipeline, image size, steps): real size in float32 (cast after the float32 images), toy, or fixture;
    with ``--scheduler``'s sampler and no progress bar."""
    from blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.pipelines.schedulers import make_scheduler

    if args.sd15:
        if device.type != "cuda":
            sys.exit("--sd15 needs a CUDA GPU")
        pipe, size, steps = build_sd15(device), 512, args.steps or 50
    elif args.toy:
        pipe = BlipDiffusionPipeline.from_pretrained(TOY_MODEL).to(device)
        size, steps = pipe.default_size, args.steps or 50
    else:
        pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER).to(device)
        size, steps = 64, args.steps or 10
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler != "pndm":  # ours only: the reference keeps PNDM (built from the same config)
        pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    return pipe, size, steps


def reference_call(pipe, prompts: list[str], image, latents: torch.Tensor, common: dict, batch: int):
    """The original pipeline on ``pipe``'s weights; it takes one subject image per call, so it loops."""
    from benchmarks.reference_pipeline import build_reference

    reference = build_reference(pipe, str(QFORMER_TOKENIZER))
    reference.set_progress_bar_config(disable=True)
    return lambda: np.concatenate([
        reference(prompts[:1], image, ["dog"], ["dog"], latents=latents[i : i + 1], output_type="np", neg_prompt="",
                  **common).images for i in range(batch)])


class Bench:
    """Times variants into ``results``: seconds per image, peak memory, first-call time, distance to float32."""

    def __init__(self, device: torch.device, runs: int, batch: int, results: dict, float32_images=None):
        self.device, self.runs, self.batch, self.results = device, runs, batch, results
        self.float32_images = float32_images

    def time(self, name: str, call, first_call: bool = False) -> None:
        if first_call:
            self.first_call(name, call)
        seconds, peak = time_calls(call, self.device, self.runs)
        self.record(name, call, seconds, peak)

    def time_together(self, calls: dict, compiled: list[str]) -> None:
        """Time ``calls`` in turn, one call of each per round, after one warm-up call of each (the
        first call of those named in ``compiled`` is timed: compilation happens there)."""
        for name, call in calls.items():
            if name in compiled:
                self.first_call(name, call)
            call()
        seconds: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(self.runs):
            for name, call in calls.items():
                seconds[name].append(timed(call, self.device))
        for name, call in calls.items():
            self.record(name, call, seconds[name], peak_memory_gib(self.device))

    def first_call(self, name: str, call) -> None:
        self.results.setdefault("compile_s", {})[name] = timed(call, self.device)

    def record(self, name: str, call, seconds: list[float], peak: float) -> None:
        row = {"s_per_image": min(seconds) / self.batch, "all_s": seconds, "peak_GiB": peak}
        if self.float32_images is not None:
            images = np.asarray(call())
            row["vs_float32"] = {"max_abs": float(np.abs(images - self.float32_images).max()),
                                 "psnr_db": psnr(images, self.float32_images)}
        self.results["variants"][name] = row
        print(f"{name}: {row}", flush=True)


def subject_encoding_ms(pipe, image, device: torch.device, runs: int = 20) -> dict:
    """Median milliseconds per subject encoding: the whole call (preprocessing included), the image
    preprocessing alone, the network alone and, on CUDA, the network under CUDA graphs (its output
    copied out of the graph's memory, as a cache holding it would need)."""
    pixels = pipe.image_processor.preprocess([image]).to(device, pipe.text_encoder.dtype)
    text = pipe.qformer_tokenizer(["dog"], return_tensors="pt").to(device)
    calls = {"encode_subject": lambda: pipe.encode_subject(image, "dog"),
             "preprocess": lambda: pipe.image_processor.preprocess([image]).to(device),
             "qformer_forward": lambda: pipe.qformer(pixels, text.input_ids, None)}
    if device.type == "cuda":
        graphed = torch.compile(pipe.qformer.forward, mode="reduce-overhead")
        calls["qformer_forward_cuda_graphs"] = lambda: graphed(pixels, text.input_ids, None).clone()
    out = {}
    with torch.no_grad():
        for name, call in calls.items():
            try:
                for _ in range(2):
                    call()
                seconds, _ = time_calls(call, device, runs)
            except Exception as error:  # noqa: BLE001 - a failing variant must not cost the rest of the GPU session
                out[f"{name}_error"] = f"{type(error).__name__}: {error}"[:300]
                continue
            out[name] = 1000 * float(np.median(seconds))
    return out


def feature_cache_variants(pipe, ours, bench: Bench, intervals: list[int], compiled: bool) -> None:
    """Approximate mode: each feature-cache interval, timed and compared with the exact images of ``ours``."""
    exact_name = list(bench.results["variants"])[-1]
    exact = np.asarray(ours())
    for interval in intervals:
        pipe.enable_feature_cache(interval)
        name = f"{exact_name}_feature_cache{interval}"
        bench.time(name, ours, first_call=compiled)
        images = np.asarray(ours())
        bench.results["variants"][name]["vs_exact"] = {"max_abs": float(np.abs(images - exact).max()),
                                                       "psnr_db": psnr(images, exact)}
    pipe.disable_feature_cache()


def memory_variants(pipe, ours, bench: Bench) -> None:
    """Ours alone: as is, with VAE slicing and tiling, then also with model CPU offload (CUDA only)."""
    bench.time("ours", ours)
    pipe.vae.enable_slicing()
    pipe.vae.enable_tiling()
    bench.time("ours_vae_slicing_tiling", ours)
    if bench.device.type == "cuda":
        pipe.enable_model_cpu_offload()
        bench.time("ours_vae_slicing_tiling_offload", ours)


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
    width = max(map(len, ["variant", *results["variants"]])) + 2
    print(f"{'variant':<{width}}{'s/image':>10}{'it/s':>10}{'peak GiB':>10}{'speed-up':>10}")
    for name, row in results["variants"].items():
        ratio = f"{base / row['s_per_image']:.2f}x" if base else "-"
        it_s = steps / (row["s_per_image"] * results["batch"])
        print(f"{name:<{width}}{row['s_per_image']:>10.4f}{it_s:>10.1f}{row['peak_GiB']:>10.2f}{ratio:>10}")
    for name, row in results["variants"].items():
        for against in ("float32", "exact"):
            if f"vs_{against}" in row:
                distance = row[f"vs_{against}"]
                print(f"{name} vs {against}: max abs {distance['max_abs']:.4f}, PSNR {distance['psnr_db']:.1f} dB")
    for name, ms in results.get("subject_encoding_ms", {}).items():
        print(f"subject encoding, {name}: " + ", ".join(f"{k} {v:.2f} ms" if isinstance(v, float) else f"{k} {v}"
                                                       for k, v in ms.items()))
    for name, seconds in results.get("compile_s", {}).items():
        print(f"first call of {name} (compilation included): {seconds:.1f} s")


if __name__ == "__main__":
    main()
