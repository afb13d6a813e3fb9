"""Tiny models and runs shared by the training tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from blip_diffusion.training.config import load

FIXTURES = Path(__file__).parent.parent / "fixtures"
FIXTURE_MODEL = FIXTURES / "models" / "blipdiffusion-small"
QFORMER_TOKENIZER = FIXTURES / "models" / "qformer_tokenizer"
DREAMBENCH = Path(__file__).parent.parent.parent / "assets" / "dreambench"
QUIET = ["log_with=none", "checkpoint_every=1000"]


@pytest.fixture(scope="package", autouse=True)
def one_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine two OpenMP threads
    wait on each other (a tiny stage-2 step measured 20x slower): these tests run on one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def encoded_photos(tiny_base: Path, path: Path, count: int = 8) -> tuple[dict, object]:
    """The tiny base model's frozen encoders and ``count`` toy photos encoded by them at ``path``."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTokenizer

    from blip_diffusion.training.base_tasks import encode_captions, load_text_encoder
    from blip_diffusion.training.data import ToyCaptions

    clip_dir = tiny_base.parent / "clip" / "model"
    parts = {"text_encoder": load_text_encoder(clip_dir), "vae": AutoencoderKL.from_pretrained(tiny_base / "vae"),
             "tokenizer": CLIPTokenizer.from_pretrained(clip_dir)}
    return parts, encode_captions(ToyCaptions(0, 32), count, parts, path, torch.device("cpu"))


def run_overrides(prefix: str, steps: int, batch: int, lr: float, extra: tuple[str, ...] = ()) -> list[str]:
    """Overrides of one RunConfig section for a tiny, quiet run."""
    keys = [f"max_steps={steps}", f"batch_size={batch}", f"learning_rate={lr}", "warmup_steps=0",
            "lr_schedule=constant", *QUIET, *extra]
    return [f"{prefix}{k}" for k in keys]


TINY_CLIP = ["clip.text_width=32", "clip.vision_width=32", "clip.text_layers=1", "clip.vision_layers=2",
             "clip.heads=2", "clip.projection_dim=16", "clip.patch_size=8"]
TINY_VISION = ["vision.width=32", "vision.layers=2", "vision.heads=2", "vision.held_out_photos=8"]
TINY_VAE = ["vae.block_out_channels=8,16"]
TINY_UNET = ["unet.block_out_channels=16,32", "unet.attention_head_dim=4", "unet.photos=16"]


def tiny_base_config(out: Path, steps: int = 2, parts: str = "clip,vae,unet", extra: tuple[str, ...] = ()):
    from blip_diffusion.training.base import BaseConfig

    overrides = [f"out={out}", f"parts={parts}", "data.resolution=32", *TINY_CLIP, *TINY_VISION, *TINY_VAE,
                 *TINY_UNET]
    for part in ("clip", "vision", "vae", "unet"):
        overrides += run_overrides(f"{part}.run.", steps, 4, 1e-3)
    return load(BaseConfig, None, [*overrides, *extra])


@pytest.fixture(scope="package")
def tiny_base(tmp_path_factory) -> Path:
    """A stage-0 base model trained for 2 steps per part at 32x32 (8x8 latents)."""
    from blip_diffusion.training.base import train_base

    torch.manual_seed(0)
    return train_base(tiny_base_config(tmp_path_factory.mktemp("base")))


def tiny_stage1_config(out: Path, vision: Path, steps: int = 2, extra: tuple[str, ...] = ()):
    from blip_diffusion.training.stage1 import Stage1Config

    overrides = [f"out={out}", f"vision_model={vision}", "data.resolution=32", "qformer.hidden_size=32",
                 "qformer.intermediate_size=64", "qformer.num_query_tokens=4", "qformer.num_attention_heads=2",
                 "qformer.max_text_length=20", "embed_dim=16", *run_overrides("run.", steps, 4, 1e-3)]
    return load(Stage1Config, None, [*overrides, *extra])


@pytest.fixture(scope="package")
def tiny_stage1(tiny_base, tmp_path_factory) -> Path:
    from blip_diffusion.training.stage1 import train_stage1

    return train_stage1(tiny_stage1_config(tmp_path_factory.mktemp("stage1"), tiny_base / "clip"))


def tiny_stage2_config(out: Path, base: Path, stage1: Path, steps: int = 2, extra: tuple[str, ...] = ()):
    """Stage 2 from the tiny base and stage-1 models of this session."""
    from blip_diffusion.training.stage2 import Stage2Config

    overrides = [f"out={out}", f"base_model={base}", f"stage1_model={stage1}", "data.resolution=32", "data.photos=8",
                 *run_overrides("run.", steps, 2, 1e-3)]
    return load(Stage2Config, None, [*overrides, *extra])


def state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def fixed_batch(task, size: int) -> dict:
    return task.collate([task.dataset()[i] for i in range(size)])


def fit(task, steps: int, lr: float, batch_size: int = 4, seed: int = 0) -> list[float]:
    """Adam on one fixed batch with fixed random draws: the losses of ``steps`` steps."""
    params = [p for m in task.modules().values() for p in m.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    batch = fixed_batch(task, batch_size)
    losses = []
    for _ in range(steps):
        torch.manual_seed(seed)
        loss, _ = task.loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
