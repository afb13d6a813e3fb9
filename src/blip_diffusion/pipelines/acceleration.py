"""Opt-in speed-ups that keep outputs equal to the eager pipeline within floating-point tolerance."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

# Inductor settings for convolutional UNets on GPUs: 1x1 convolutions as matrix products (cuBLAS
# rather than cuDNN), and pointwise epilogues kept out of the matrix products so that those stay on
# the library kernels. Neither adds autotuning time to the compilation.
TUNED_INDUCTOR_CONFIG = {"conv_1x1_as_mm": True, "epilogue_fusion": False}


def compile_pipeline(  # any pipeline with unet, vae, text_encoder and qformer
    pipe, mode: str | None = None, backend: str = "inductor", vae: bool = True, encoders: bool = False,
    tuned: bool = False,
) -> None:
    """Compile the UNet (and the VAE decoder, and the subject and text encoders) with ``torch.compile``, in place.

    ``mode`` defaults to "reduce-overhead" on CUDA (CUDA graphs: one launch per UNet call) and to
    torch's default elsewhere. ``tuned`` first fuses the attention projections (one matrix product for
    query, key and value; not when the UNet holds LoRA adapters, which the fused product would
    ignore), stores the UNet and VAE in channels-last layout and, with inductor, sets
    :data:`TUNED_INDUCTOR_CONFIG` (process-wide). The first call pays the compilation; inductor keeps
    its compiled artefacts in its on-disk cache (``TORCHINDUCTOR_CACHE_DIR``), so later processes
    start warm. A feature cache (``pipe.enable_feature_cache``) compiles its two passes with the same
    mode and backend, now or when it is enabled later.
    """
    if mode is None and backend == "inductor":
        mode = "reduce-overhead" if pipe.unet.device.type == "cuda" else None
    if tuned:
        if getattr(pipe.unet, "peft_config", None):  # a fused projection would drop the LoRA on to_q/to_k/to_v
            logger.info("the UNet holds LoRA adapters: its attention projections stay unfused")
        else:
            pipe.unet.fuse_qkv_projections()
        pipe.unet.to(memory_format=torch.channels_last)
        pipe.vae.to(memory_format=torch.channels_last)
        if backend == "inductor":
            import torch._inductor.config as inductor_config

            for key, value in TUNED_INDUCTOR_CONFIG.items():
                setattr(inductor_config, key, value)
    logger.info("compiling the UNet%s%s (backend %s, mode %s, tuned %s)", " and VAE decoder" if vae else "",
                " and encoders" if encoders else "", backend, mode, tuned)
    # Module.compile keeps each module (its type, attributes and state-dict keys) and compiles its call.
    pipe.unet.compile(mode=mode, backend=backend)
    pipe.compile_options = {"mode": mode, "backend": backend}
    if pipe.feature_cache is not None:
        pipe.feature_cache.compile(mode, backend)
    if vae:
        pipe.vae.decoder.compile(backend=backend)
    if encoders:  # their shapes vary with the number of reference images and prompts: no CUDA graphs
        pipe.qformer.compile(backend=backend)
        pipe.text_encoder.compile(backend=backend)


def has_fused_projections(unet: torch.nn.Module) -> bool:
    """Whether ``compile(tuned=True)`` fused the UNet's attention projections."""
    return any(getattr(module, "fused_projections", False) for module in unet.modules())
