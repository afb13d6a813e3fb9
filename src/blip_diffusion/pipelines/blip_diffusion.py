"""Zero-shot subject-driven generation (BLIP-Diffusion, arXiv 2305.14720, Sec. 3 and 4.1)."""

from __future__ import annotations

import inspect
import json
import logging
import numbers
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import diffusers
import numpy as np
import PIL.Image
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, SchedulerMixin, UNet2DConditionModel
from diffusers.image_processor import VaeImageProcessor
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from transformers import CLIPTokenizer, PreTrainedTokenizerBase

from blip_diffusion.errors import InputError
from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines import model_folder
from blip_diffusion.pipelines.acceleration import compile_pipeline, has_fused_projections
from blip_diffusion.pipelines.embedding_cache import EmbeddingCache, image_digest, tensor_digest
from blip_diffusion.pipelines.feature_cache import FeatureCache
from blip_diffusion.pipelines.image_processing import SubjectImageProcessor
from blip_diffusion.pipelines.subjects import SubjectEmbedding, hash_file
from blip_diffusion.utils.atomic import atomic_path
from blip_diffusion.utils.images import load_image

logger = logging.getLogger(__name__)

ImageInput = str | os.PathLike | PIL.Image.Image
SubjectInput = ImageInput | Sequence[ImageInput] | SubjectEmbedding | torch.Tensor
OUTPUT_TYPES = ("pil", "np", "pt", "latent")


@dataclass
class BlipDiffusionPipelineOutput(BaseOutput):
    """images: list of PIL images, an array (B, H, W, 3) in [0, 1], a tensor (B, 3, H, W), or latents."""

    images: list[PIL.Image.Image] | np.ndarray | torch.Tensor


class BlipDiffusionPipeline(DiffusionPipeline):
    """Subject embeddings from reference images steer Stable Diffusion through the text encoder.

    Components (the official folder names): ``qformer`` (image encoder + Q-Former + projection),
    ``text_encoder`` (CLIP text model taking subject embeddings), ``tokenizer``, ``unet``, ``vae``,
    ``scheduler``, ``image_processor``; plus the Q-Former's BERT tokenizer.
    """

    model_cpu_offload_seq = "qformer->text_encoder->unet->vae"
    _class_name = "BlipDiffusionPipeline"
    _optional_components: ClassVar[list[str]] = []

    def __init__(
        self,
        tokenizer: CLIPTokenizer,
        text_encoder: ContextCLIPTextModel,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        scheduler: SchedulerMixin,
        qformer: SubjectEncoder,
        image_processor: SubjectImageProcessor,
        qformer_tokenizer: PreTrainedTokenizerBase,
        ctx_begin_pos: int = 2,
        name_or_path: str = "",
    ):
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, unet=unet, scheduler=scheduler, qformer=qformer,
            image_processor=image_processor, qformer_tokenizer=qformer_tokenizer,
        )
        self.register_to_config(ctx_begin_pos=ctx_begin_pos)
        self.ctx_begin_pos = ctx_begin_pos
        self.model_name = name_or_path
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        # The size the UNet was trained at (512 for SD1.5 / Salesforce/blipdiffusion): the default size.
        self.default_size = unet.config.sample_size * self.vae_scale_factor
        self.output_processor = VaeImageProcessor(vae_scale_factor=self.vae_scale_factor)
        self.embedding_cache: EmbeddingCache | None = None
        self.feature_cache: FeatureCache | None = None
        self.compile_options: dict | None = None  # set by compile(): the feature cache compiles its passes alike

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        qformer_tokenizer: str | os.PathLike | PreTrainedTokenizerBase | None = None,
        torch_dtype: torch.dtype | None = None,
    ) -> BlipDiffusionPipeline:
        """Load a model folder or Hub repo in the official layout (``Salesforce/blipdiffusion``)."""
        root = model_folder.resolve_model_folder(name_or_path)
        index = model_folder.read_model_index(root)
        names = inspect.signature(cls.__init__).parameters
        components = {
            name: model_folder.load_component(root, name, spec, torch_dtype)
            for name, spec in index.items()
            if isinstance(spec, list) and name in names
        }
        missing = [n for n in names if n not in components and n not in ("self", "qformer_tokenizer")]
        missing = [n for n in missing if names[n].default is inspect.Parameter.empty]
        if missing:
            raise InputError(f"{root / model_folder.MODEL_INDEX} lacks components: {', '.join(missing)}")
        vocab = components["qformer"].embeddings.word_embeddings.num_embeddings
        tokenizer = model_folder.load_qformer_tokenizer(root, qformer_tokenizer, vocab)
        return cls(
            **components,
            qformer_tokenizer=tokenizer,
            ctx_begin_pos=index.get("ctx_begin_pos", 2),
            name_or_path=str(name_or_path),
        )

    def save_pretrained(self, save_directory: str | os.PathLike) -> None:
        """Write the official layout (safetensors) plus ``qformer_tokenizer/``; replaces the folder atomically."""
        components = self.saved_components()
        if has_fused_projections(components["unet"]):
            raise InputError("save the pipeline before pipe.compile(tuned=True): the UNet's fused attention "
                             "projections are not part of the official layout")
        with atomic_path(save_directory) as tmp:
            tmp.mkdir(parents=True)
            index = {"_class_name": self._class_name, "_diffusers_version": diffusers.__version__}
            for name, component in components.items():
                model_folder.save_component(component, tmp / name)
                index[name] = [self._library_of(component), _official_class_name(component)]
            index.update(ctx_begin_pos=self.ctx_begin_pos, mean=self.image_processor.mean.tolist(),
                         std=self.image_processor.std.tolist())
            (tmp / model_folder.MODEL_INDEX).write_text(_json_dump(index))
            self.qformer_tokenizer.save_pretrained(tmp / model_folder.QFORMER_TOKENIZER_FOLDER)

    def saved_components(self) -> dict[str, object]:
        return {
            "qformer": self.qformer, "text_encoder": self.text_encoder, "tokenizer": self.tokenizer,
            "unet": self.unet, "vae": self.vae, "scheduler": self.scheduler, "image_processor": self.image_processor,
        }

    @staticmethod
    def _library_of(component: object) -> str:
        return component.__class__.__module__.split(".")[0]

    def compile(self, mode: str | None = None, backend: str = "inductor", vae: bool = True, encoders: bool = False,
                tuned: bool = False) -> BlipDiffusionPipeline:
        """Compile the UNet, VAE decoder and optionally the encoders (see
        :func:`acceleration.compile_pipeline`); returns ``self``."""
        compile_pipeline(self, mode=mode, backend=backend, vae=vae, encoders=encoders, tuned=tuned)
        return self

    def enable_embedding_cache(self, max_entries: int = 64) -> BlipDiffusionPipeline:
        """Reuse subject and prompt embeddings when a call repeats a subject or prompt; returns ``self``.

        Entries are keyed by the inputs' content and hold embeddings of the current encoder weights:
        after changing those weights yourself, call ``pipe.embedding_cache.clear()``.
        """
        self.embedding_cache = EmbeddingCache(max_entries)
        return self

    def disable_embedding_cache(self) -> None:
        self.embedding_cache = None

    def enable_feature_cache(self, interval: int = 3) -> BlipDiffusionPipeline:
        """Approximate mode: run the whole UNet every ``interval`` steps and only its top level in between,
        on the deep features of the last full step (see :mod:`feature_cache`); returns ``self``."""
        self.feature_cache = FeatureCache(self.unet, interval)
        if self.compile_options is not None:
            self.feature_cache.compile(**self.compile_options)
        return self

    def disable_feature_cache(self) -> None:
        self.feature_cache = None

    def _cached(self, key: Callable[[], tuple], compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """``compute()``, or its stored result for ``key()`` (and the current device and dtype); the key
        is built only with the cache on (digests read files and copy tensors to the host)."""
        if self.embedding_cache is None:
            return compute()
        return self.embedding_cache.get((*key(), str(self._execution_device), self.text_encoder.dtype), compute)

    # ------------------------------------------------------------------ subject embeddings
    @property
    def subject_probe(self) -> torch.Tensor:
        """A fingerprint of the subject encoder, stored in subject files: the first learned query."""
        return self.qformer.query_tokens[0, 0].detach().float().cpu()

    @torch.no_grad()
    def encode_subject(
        self,
        images: ImageInput | Sequence[ImageInput],
        category: str,
        weights: Sequence[float] | None = None,
        background: tuple[int, int, int] | None = None,
    ) -> SubjectEmbedding:
        """Subject embeddings (Q, D) of one subject: the (weighted) mean over its reference images."""
        if not isinstance(category, str) or not category.strip():
            raise InputError(f"subject category must be a non-empty word such as 'dog', got {category!r}")
        items = [images] if isinstance(images, (str, os.PathLike, PIL.Image.Image)) else list(images)
        if not items:
            raise InputError("no reference images given for the subject")
        pil_images = [load_image(i) if isinstance(i, (str, os.PathLike)) else i for i in items]
        file_hashes = [hash_file(i) if isinstance(i, (str, os.PathLike)) else None for i in items]
        device = self._execution_device

        def per_image_embeds() -> torch.Tensor:  # (N, Q, D)
            pixels = self.image_processor.preprocess(pil_images, background).to(device)
            text = self.qformer_tokenizer([category.strip()] * len(items), return_tensors="pt", padding=True)
            mask = None if text.attention_mask.all() else text.attention_mask.to(device)  # one word: no padding
            return self.qformer(pixels, text.input_ids.to(device), mask)

        def key() -> tuple:
            digests = (h or image_digest(i) for h, i in zip(file_hashes, pil_images))
            return ("subject", category.strip(), background, *digests)

        per_image = self._cached(key, per_image_embeds)
        weight = torch.ones(len(items)) if weights is None else torch.as_tensor(weights, dtype=torch.float32)
        if weight.shape != (len(items),) or (weight < 0).any() or weight.sum() <= 0:
            raise InputError(f"weights must be {len(items)} non-negative numbers, not all zero; got {weights}")
        weight = (weight / weight.sum()).to(device=device, dtype=per_image.dtype)
        embeds = (per_image * weight[:, None, None]).sum(dim=0)
        hashes = [h for h in file_hashes if h]
        return SubjectEmbedding(embeds, category.strip(), self.subject_probe, self.model_name, hashes)

    def prepare_subject_embeds(
        self, subject: SubjectInput, category: str | None, weights: Sequence[float] | None, batch_size: int,
        background: tuple[int, int, int] | None = None,
    ) -> tuple[torch.Tensor, str]:
        """Subject embeddings (B, Q, D) for every prompt, and the source class word."""
        if subject is None:
            raise InputError("reference_image is required: photos of the subject, a subject file or embeddings")
        if isinstance(subject, (str, os.PathLike)) and str(subject).endswith(".safetensors"):
            subject = SubjectEmbedding.load(subject)
        if isinstance(subject, SubjectEmbedding):
            subject.check_model(self.subject_probe)
            embeds, category = subject.embeds, category or subject.category
        elif isinstance(subject, torch.Tensor):
            embeds = subject
        else:
            if not category:
                raise InputError("source_subject_category is required with reference images (e.g. 'dog')")
            embeds = self.encode_subject(subject, category, weights, background).embeds
        embeds = embeds[None] if embeds.dim() == 2 else embeds
        expected = (self.qformer.num_query_tokens, self.text_encoder.config.hidden_size)
        if embeds.dim() != 3 or tuple(embeds.shape[1:]) != expected or embeds.shape[0] not in (1, batch_size):
            raise InputError(
                f"subject embeddings must have shape (Q, D) or (1 or {batch_size}, Q, D) with (Q, D) = {expected}; "
                f"got {tuple(embeds.shape)}"
            )
        embeds = embeds.to(self._execution_device, self.text_encoder.dtype).expand(batch_size, -1, -1)
        return embeds, category

    def load_subject(self, folder: str | os.PathLike) -> SubjectEmbedding:
        """Load a fine-tuned subject folder (``blip-diffusion finetune``): its UNet weights go into this
        pipeline, and the returned subject embeddings generate it without reference images."""
        from blip_diffusion.pipelines.finetuned_subject import load_finetuned_subject

        return load_finetuned_subject(self, folder)

    # ------------------------------------------------------------------ text conditioning
    @staticmethod
    def build_prompt(prompt: str, target_category: str, prompt_strength: float, prompt_reps: int) -> str:
        """``a {class} {prompt}`` repeated ``int(strength * reps)`` times: the original amplification trick."""
        text = f"a {target_category} {prompt.strip()}"
        return ", ".join([text] * int(prompt_strength * prompt_reps))

    def _tokenize(self, texts: list[str], max_length: int) -> torch.Tensor:
        tokens = self.tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        return tokens.input_ids.to(self._execution_device)

    def encode_prompt(self, prompts: list[str], subject_embeds: torch.Tensor) -> torch.Tensor:
        """Built prompts (B) with subject embeddings (B, Q, D) spliced at ctx_begin_pos -> (B, 77, D)."""
        max_length = self.text_encoder.config.max_position_embeddings - subject_embeds.shape[1]

        def states() -> torch.Tensor:
            input_ids = self._tokenize(prompts, max_length)
            return self.text_encoder(input_ids, subject_embeds, self.ctx_begin_pos).last_hidden_state

        return self._cached(lambda: ("prompt", tensor_digest(subject_embeds), *prompts), states)

    def encode_negative_prompt(self, negative_prompts: list[str]) -> torch.Tensor:
        """Negative prompts without subject -> (B, 77, D); long ones are truncated."""

        def states() -> torch.Tensor:
            input_ids = self._tokenize(negative_prompts, self.text_encoder.config.max_position_embeddings)
            return self.text_encoder(input_ids).last_hidden_state

        return self._cached(lambda: ("negative", *negative_prompts), states)

    # ------------------------------------------------------------------ sampling
    def check_inputs(
        self, prompt: str | list[str], source: str | list[str] | None, target: str | list[str] | None,
        negative_prompt: str | list[str], height: int, width: int, num_inference_steps: int, output_type: str,
        guidance_scale: float = 7.5, num_images_per_prompt: int = 1,
    ) -> tuple[list[str], list[str] | None, list[str] | None, list[str]]:
        prompts = [prompt] if isinstance(prompt, str) else list(prompt) if isinstance(prompt, (list, tuple)) else []
        if not prompts or any(not isinstance(p, str) or not p.strip() for p in prompts):
            raise InputError(f"prompt must be a non-empty text or list of texts, got {prompt!r}")
        batch = len(prompts)
        sources, targets, negatives = (
            _per_prompt(v, batch, n) for v, n in ((source, "source_subject_category"),
                                                   (target, "target_subject_category"),
                                                   (negative_prompt, "negative_prompt"))
        )
        for name, size in (("height", height), ("width", width)):
            if size <= 0 or size % self.vae_scale_factor:
                raise InputError(f"{name} must be a positive multiple of {self.vae_scale_factor} "
                                 f"(the VAE's scale factor), got {size}")
        if num_inference_steps < 1:
            raise InputError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        if output_type not in OUTPUT_TYPES:
            raise InputError(f"output_type must be one of {', '.join(OUTPUT_TYPES)}, got {output_type!r}")
        if isinstance(guidance_scale, bool) or not isinstance(guidance_scale, numbers.Real):
            raise InputError(f"guidance_scale must be a number, got {guidance_scale!r}")
        if (isinstance(num_images_per_prompt, bool) or not isinstance(num_images_per_prompt, numbers.Integral)
                or num_images_per_prompt < 1):
            raise InputError(f"num_images_per_prompt must be a whole number of at least 1, got {num_images_per_prompt!r}")
        return prompts, sources, targets, negatives

    def prepare_latents(
        self, batch_size: int, height: int, width: int, dtype: torch.dtype,
        generator: torch.Generator | list[torch.Generator] | None, latents: torch.Tensor | None,
    ) -> torch.Tensor:
        shape = (batch_size, self.unet.config.in_channels, height // self.vae_scale_factor,
                 width // self.vae_scale_factor)
        if isinstance(generator, list) and len(generator) not in (1, batch_size):
            raise InputError(f"generator: a list needs one generator per image ({batch_size}), got {len(generator)}")
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=self._execution_device, dtype=dtype)
        elif tuple(latents.shape) != shape:
            raise InputError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        return latents.to(self._execution_device, dtype) * self.scheduler.init_noise_sigma

    def predict_noise(self, latents: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, guidance_scale: float,
                      **unet_kwargs: object) -> torch.Tensor:
        """Guided noise prediction; the unconditional and conditional halves run in one UNet call."""
        guided = guidance_scale > 1.0
        model_input = torch.cat([latents] * 2) if guided else latents
        model_input = self.scheduler.scale_model_input(model_input, t)
        unet_t = t.to(latents.device, non_blocking=True)
        if self.feature_cache is not None:
            noise = self.feature_cache(model_input, unet_t, cond, **unet_kwargs)
        else:
            noise = self.unet(model_input, unet_t, encoder_hidden_states=cond, **unet_kwargs).sample
        if not guided:
            return noise
        uncond, text = noise.chunk(2)
        return uncond + guidance_scale * (text - uncond)

    def denoise(self, latents: torch.Tensor, cond: torch.Tensor, guidance_scale: float,
                generator: torch.Generator | list[torch.Generator] | None) -> torch.Tensor:
        """Run the scheduler's timesteps (set beforehand, since the initial noise scale depends on them).

        The timesteps stay on the CPU (pinned when the model runs on CUDA): the schedulers index
        their tables with them, which with device tensors would wait for the GPU at every step.
        """
        step_kwargs = {"generator": generator} if "generator" in inspect.signature(self.scheduler.step).parameters else {}
        timesteps = self.scheduler.timesteps
        if latents.device.type == "cuda":
            timesteps = timesteps.pin_memory()
        if self.feature_cache is not None:
            self.feature_cache.reset()
        for t in self.progress_bar(timesteps):
            noise = self.predict_noise(latents, t, cond, guidance_scale)
            latents = self.scheduler.step(noise, t, latents, **step_kwargs).prev_sample
        return latents

    def decode_latents(self, latents: torch.Tensor, output_type: str):
        if output_type == "latent":
            return latents
        image = self.vae.decode(latents.to(self.vae.dtype) / self.vae.config.scaling_factor).sample
        return self.output_processor.postprocess(image.float(), output_type=output_type, do_denormalize=None)

    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        reference_image: SubjectInput,
        source_subject_category: str | list[str] | None = None,
        target_subject_category: str | list[str] | None = None,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str | list[str] = "",
        prompt_strength: float = 1.0,
        prompt_reps: int = 20,
        latents: torch.Tensor | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        num_images_per_prompt: int = 1,
        output_type: str = "pil",
        reference_weights: Sequence[float] | None = None,
        reference_background: tuple[int, int, int] | None = None,
        return_dict: bool = True,
    ) -> BlipDiffusionPipelineOutput | tuple:
        """Generate images of the reference subject in the prompt's context.

        ``reference_image``: one image (PIL or path), several images of the same subject (their
        embeddings averaged, weighted by ``reference_weights``), a :class:`SubjectEmbedding` or
        subject file, or embeddings (Q, D) / (B, Q, D). The subject embeddings come from the
        images with the source class word; the prompt uses the target class word (default: the
        source), so a dog's photo can guide "a tiger". ``height`` and ``width`` default to the size
        the UNet was trained at (:attr:`default_size`: 512 for the official model).
        """
        # 1. Check inputs
        height, width = height or self.default_size, width or self.default_size
        prompts, sources, targets, negatives = self.check_inputs(
            prompt, source_subject_category, target_subject_category, negative_prompt, height, width,
            num_inference_steps, output_type, guidance_scale, num_images_per_prompt,
        )
        batch = len(prompts)
        if sources and len(set(sources)) > 1:
            raise InputError(f"one subject per call: source_subject_category must name one class, got {sources}")
        # 2. Subject embeddings from the reference images and the source class word
        subject_embeds, source = self.prepare_subject_embeds(
            reference_image, sources[0] if sources else None, reference_weights, batch, reference_background
        )
        targets = targets or [source] * batch
        if any(not t for t in targets):
            raise InputError("target_subject_category is required when the subject's class is unknown")
        # 3. Text conditioning: [negative (no subject); prompt with subject], one row per image
        built = [self.build_prompt(p, t, prompt_strength, prompt_reps) for p, t in zip(prompts, targets)]
        cond = self.encode_prompt(built, subject_embeds)
        if guidance_scale > 1.0:
            cond = torch.cat([self.encode_negative_prompt(negatives), cond])
        cond = cond.repeat_interleave(num_images_per_prompt, dim=0).to(self.unet.dtype)
        # 4. Timesteps and initial noise (scaled by the sigma of the first timestep)
        self.scheduler.set_timesteps(num_inference_steps)
        latents = self.prepare_latents(batch * num_images_per_prompt, height, width, self.unet.dtype, generator, latents)
        # 5. Denoise
        latents = self.denoise(latents, cond, guidance_scale, generator)
        # 6. Decode
        images = self.decode_latents(latents, output_type)
        self.maybe_free_model_hooks()
        return BlipDiffusionPipelineOutput(images=images) if return_dict else (images,)


def _per_prompt(value: str | list[str] | None, batch: int, name: str) -> list[str] | None:
    if value is None:
        return None
    values = [value] * batch if isinstance(value, str) else list(value)
    if len(values) != batch:
        raise InputError(f"{name} has {len(values)} entries but there are {batch} prompts")
    return values


OFFICIAL_CLASS_NAMES = {
    SubjectEncoder: "Blip2QFormerModel",
    SubjectImageProcessor: "BlipImageProcessor",
}


def _official_class_name(component: object) -> str:
    return OFFICIAL_CLASS_NAMES.get(type(component), type(component).__name__)


def _json_dump(data: dict) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
