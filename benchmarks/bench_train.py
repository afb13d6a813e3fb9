"""Training speed: optimizer steps per second of each stage on the toy configs (CPU), and with
--sd15 (GPU) stage 2 and subject fine-tuning at the real SD1.5 / BLIP-2 size with random weights.

    python benchmarks/bench_train.py                      # toy configs, CPU
    python benchmarks/bench_train.py --sd15 --mixed-precision fp16   # GPU, real size

Each stage is timed over --steps optimizer steps after --warmup steps, data generation included
(one process, no data workers), the same work as one step of ``blip_diffusion.training.loop``.
The toy stage-1/2 parts start from randomly initialised toy models written to a temporary folder.
Prints a table; --json writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_generate import build_sd15, device_name, peak_memory_gib, sync

CONFIGS = ROOT / "configs" / "train"
SUBJECT = sorted((ROOT / "assets" / "dreambench" / "dog").glob("*.jpg"))[:3]


def time_task(task, batch_size: int, steps: int, warmup: int, device: torch.device,
              autocast: torch.dtype | None) -> tuple[float, float]:
    """(optimizer steps per second, peak memory GiB) of ``task`` at ``batch_size``."""
    params = [p for m in task.modules().values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast == torch.float16)
    dataset, position = task.dataset(), 0

    def step() -> None:
        nonlocal position
        batch = task.collate([dataset[position + i] for i in range(batch_size)])
        position += batch_size
        with torch.autocast(device.type, dtype=autocast or torch.float32, enabled=autocast is not None):
            loss, _ = task.loss(batch)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps / (time.perf_counter() - start), peak_memory_gib(device)


def toy_tasks(folder: Path, device: torch.device):
    """(name, batch size, task factory) of every toy stage, from the committed toy configs."""
    from transformers import CLIPVisionConfig

    from blip_diffusion.training import base, base_tasks, controlnet, stage1, stage2
    from blip_diffusion.training.config import load
    from blip_diffusion.training.data import ToyCaptions, ToyLabelled

    base_config = load(base.BaseConfig, CONFIGS / "toy_base.toml", [f"out={folder / 'base'}"] + [
        f"{p}.run.max_steps=1" for p in base.PARTS] + [f"{p}.run.log_with=none" for p in base.PARTS])
    base.train_base(base_config)  # random-ish toy models (one step each) for the later stages
    tokenizer = base.toy_clip_tokenizer()
    data = ToyCaptions(0, base_config.data.resolution)
    clip_cfg = base.clip_config(base_config.clip, tokenizer, base_config.data.resolution)
    yield "base: CLIP", base_config.clip.run.batch_size, lambda: base_tasks.ClipTask(clip_cfg, tokenizer, data, device, False)
    vision = base_config.vision
    vision_cfg = CLIPVisionConfig(**base.vision_config(vision.width, vision.layers, vision.heads, vision.patch_size,
                                                       base_config.data.resolution))
    yield "base: image encoder", vision.run.batch_size, lambda: base_tasks.VisionLabelsTask(
        vision_cfg, ToyLabelled(0, base_config.data.resolution), device, False)
    yield "base: VAE", base_config.vae.run.batch_size, lambda: base_tasks.VaeTask(
        base.vae_config(base_config.vae), 1e-6, data, device, False)
    model = folder / "base" / "model"

    def unet_task():
        from diffusers import AutoencoderKL
        from transformers import CLIPTokenizer

        parts = {"text_encoder": base_tasks.load_text_encoder(model / "clip"),
                 "vae": AutoencoderKL.from_pretrained(model / "vae"), "tokenizer": CLIPTokenizer.from_pretrained(model / "tokenizer")}
        encoded = base_tasks.encode_captions(data, 256, parts, folder / "encoded.safetensors", device)
        unet = base.unet_config(base_config.unet, parts["text_encoder"].config.hidden_size,
                                parts["vae"].config.latent_channels, 16)
        return base_tasks.UnetTask(unet, encoded, 0.1, base_config.unet.subject_loss_weight, 0, device, False)

    yield "base: UNet", base_config.unet.run.batch_size, unet_task
    s1 = load(stage1.Stage1Config, CONFIGS / "toy_stage1.toml", [f"out={folder / 's1'}", f"vision_model={model / 'clip'}",
                                                                   "run.max_steps=1", "run.log_with=none"])
    yield "stage 1", s1.run.batch_size, lambda: stage1.Stage1Task(s1, stage1.stage1_tokenizer(s1, folder / "s1"), device)
    stage1.train_stage1(s1)
    s2 = load(stage2.Stage2Config, CONFIGS / "toy_stage2.toml", [f"base_model={model}",
                                                                   f"stage1_model={folder / 's1' / 'model'}"])
    yield "stage 2", s2.run.batch_size, lambda: stage2.Stage2Task(s2, stage2.load_parts(s2), stage2.stage2_data(s2.data),
                                                                    device, torch.float32)
    cn = load(controlnet.ControlNetConfig, CONFIGS / "toy_controlnet.toml", [f"out={folder / 'cn'}", f"base_model={model}"])
    yield "ControlNet (canny)", cn.run.batch_size, lambda: controlnet.ControlNetTask(
        cn, controlnet.load_base_parts(str(model)), controlnet.controlnet_data(cn.data), device, torch.float32)
    yield from finetune_tasks(str(folder / "s2-model"), device, lambda: _stage2_model(s2, folder))


def _stage2_model(config, folder: Path) -> None:
    from blip_diffusion.training import stage2

    stage2.Stage2Task(config, stage2.load_parts(config), None, torch.device("cpu"), torch.float32).export(folder / "s2-model")


def finetune_tasks(model: str, device: torch.device, prepare=None, parts=None, dtype: torch.dtype = torch.float32):
    """The LoRA fine-tune as ``blip-diffusion finetune`` runs it: frozen weights in the mixed-precision ``dtype``."""
    from blip_diffusion.training.finetune import FinetuneConfig, FinetuneTask, load_base

    config = FinetuneConfig(model=model, subject=tuple(map(str, SUBJECT)), subject_class="dog", out="unused")

    def task():
        if prepare:
            prepare()
        return FinetuneTask(config, parts() if parts else load_base(config), device, dtype)

    yield "fine-tune (LoRA r4, batch 3)", config.run.batch_size, task


def sd15_tasks(device: torch.device, gradient_checkpointing: bool, dtype: torch.dtype):
    """Stage 2 and fine-tuning with the real architecture and random weights."""
    from blip_diffusion.training.config import RunConfig
    from blip_diffusion.training.data import ToySubjects
    from blip_diffusion.training.diffusion import training_scheduler
    from blip_diffusion.training.stage2 import Stage2Config, Stage2Task, SubjectData

    pipe = build_sd15(torch.device("cpu"))
    parts = {name: getattr(pipe, name) for name in ("tokenizer", "text_encoder", "unet", "vae", "qformer",
                                                     "qformer_tokenizer", "image_processor")}
    parts["noise"] = training_scheduler()
    config = Stage2Config(data=SubjectData(resolution=512), run=RunConfig(gradient_checkpointing=gradient_checkpointing))
    yield "stage 2 (SD1.5 size, batch 4)", 4, lambda: Stage2Task(config, parts, ToySubjects(0, 512), device,
                                                                   torch.float32)

    def finetune_parts():
        from blip_diffusion.utils.images import load_image

        return {**parts, "pipe": pipe, "ctx_begin_pos": 2, "photos": [load_image(p) for p in SUBJECT]}

    yield from finetune_tasks("unused", device, parts=finetune_parts, dtype=dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sd15", action="store_true", help="real-size stage 2 and fine-tuning (needs a GPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 5 CPU, 20 GPU)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--mixed-precision", default="no", choices=["no", "fp16", "bf16"])
    parser.add_argument("--gradient-checkpointing", action="store_true", help="--sd15: stage 2 with gradient checkpointing")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if args.sd15 and device.type != "cuda":
        sys.exit("--sd15 needs a CUDA GPU")
    steps = args.steps or (20 if device.type == "cuda" else 5)
    autocast = {"no": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.mixed_precision]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tasks = (sd15_tasks(device, args.gradient_checkpointing, autocast or torch.float32) if args.sd15
                 else toy_tasks(Path(tmp), device))
        for name, batch, make in tasks:
            torch.manual_seed(0)
            rate, memory = time_task(make(), batch, steps, args.warmup, device, autocast)
            rows.append({"stage": name, "batch": batch, "steps_per_s": rate, "samples_per_s": rate * batch,
                         "peak_memory_gib": memory})
            print(f"{name:34s} batch {batch:3d}  {rate:7.3f} steps/s  {rate * batch:8.1f} samples/s  "
                  f"peak {memory:6.2f} GiB", flush=True)
    where = device_name(device)
    print(f"device: {where}; torch {torch.__version__}; mixed precision {args.mixed_precision}; "
          f"gradient checkpointing {args.gradient_checkpointing}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "torch": torch.__version__, "mixed_precision": args.mixed_precision,
                                                "gradient_checkpointing": args.gradient_checkpointing, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
