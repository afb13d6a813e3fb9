"""Structure control: BLIP-Diffusion with ControlNet residuals (the paper's Sec. 4.3, Fig. 4).

The base pipeline's ``__call__`` runs unchanged; ``predict_noise`` adds the residuals of one or
several diffusers ``ControlNetModel`` s to the UNet, on the same classifier-free guidance batch
(the control image is repeated for the unconditional half, as in the original).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import PIL.Image
import torch
from diffusers import (
    AutoencoderKL,
    ControlNetModel,
    MultiControlNetModel,
    SchedulerMixin,
    UNet2DConditionModel,
)
from diffusers.models.controlnets import ControlNetOutput
from transformers import CLIPTokenizer, PreTrainedTokenizerBase

from blip_diffusion.errors import InputError
from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines import model_folder
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline, BlipDiffusionPipelineOutput
from blip_diffusion.pipelines.control_images import ControlImage, preprocess_control_image
from blip_diffusion.pipelines.image_processing import SubjectImageProcessor

logger = logging.getLogger(__name__)

# model_index.json names: "controlnet", then "controlnet_1", "controlnet_2", ... for several ControlNets
CONTROLNET_ENTRY = re.compile(r"controlnet(?:_(\d+))?")
ControlNets = ControlNetModel | MultiControlNetModel | Sequence[ControlNetModel]
ControlInput = ControlImage | Sequence[ControlImage | Sequence[ControlImage]]


@dataclass
class ControlState:
    """Per-call ControlNet inputs, one entry per ControlNet.

    images: (rows, 3, H, W) in [0, 1], rows as the UNet's batch (unconditional half first).
    start, end: fractions of the denoising steps during which the ControlNet acts.
    """

    images: list[torch.Tensor]
    scales: list[float]
    starts: list[float]
    ends: list[float]
    step: int = 0


class BlipDiffusionControlNetPipeline(BlipDiffusionPipeline):
    """BLIP-Diffusion guided by control maps (edges, depth, ...) through ControlNet.

    Components: those of :class:`BlipDiffusionPipeline` plus ``controlnet``: a diffusers
    ``ControlNetModel``, a ``MultiControlNetModel`` or a list of ControlNets (their residuals add up).
    """

    _class_name = "BlipDiffusionControlNetPipeline"

    def __init__(
        self,
        tokenizer: CLIPTokenizer,
        text_encoder: ContextCLIPTextModel,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        scheduler: SchedulerMixin,
        qformer: SubjectEncoder,
        controlnet: ControlNets,
        image_processor: SubjectImageProcessor,
        qformer_tokenizer: PreTrainedTokenizerBase,
        ctx_begin_pos: int = 2,
        name_or_path: str = "",
    ):
        super().__init__(tokenizer, text_encoder, vae, unet, scheduler, qformer, image_processor, qformer_tokenizer,
                         ctx_begin_pos, name_or_path)
        if isinstance(controlnet, (list, tuple)):
            controlnet = MultiControlNetModel(list(controlnet))
        self.register_modules(controlnet=controlnet)
        for net in self.controlnets:
            _check_compatible(net, unet)
        self._control_state: ControlState | None = None

    @property
    def controlnets(self) -> list[ControlNetModel]:
        """The ControlNets in order (one, or the members of a MultiControlNetModel)."""
        return list(self.controlnet.nets) if isinstance(self.controlnet, MultiControlNetModel) else [self.controlnet]

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        qformer_tokenizer: str | os.PathLike | None = None,
        torch_dtype: torch.dtype | None = None,
        controlnet: ControlNets | None = None,
    ) -> BlipDiffusionControlNetPipeline:
        """Load the ``Salesforce/blipdiffusion-controlnet`` layout, or a base model plus ``controlnet=``.

        ``controlnet`` (e.g. ``ControlNetModel.from_pretrained("lllyasviel/sd-controlnet-depth")``,
        or a list) replaces the folder's own ControlNet.
        """
        if controlnet is None:
            controlnet = load_controlnets(model_folder.resolve_model_folder(name_or_path), torch_dtype)
        return cls.from_base(BlipDiffusionPipeline.from_pretrained(name_or_path, qformer_tokenizer, torch_dtype),
                             controlnet)

    @classmethod
    def from_base(cls, pipe: BlipDiffusionPipeline, controlnet: ControlNets) -> BlipDiffusionControlNetPipeline:
        """The components of ``pipe`` (shared, not copied) with ``controlnet`` added."""
        base = BlipDiffusionPipeline.saved_components(pipe)
        return cls(**base, controlnet=controlnet, qformer_tokenizer=pipe.qformer_tokenizer,
                   ctx_begin_pos=pipe.ctx_begin_pos, name_or_path=pipe.model_name)

    def saved_components(self) -> dict[str, object]:
        nets = {f"controlnet_{i}" if i else "controlnet": net for i, net in enumerate(self.controlnets)}
        return {**super().saved_components(), **nets}

    # ------------------------------------------------------------------ control inputs
    def prepare_control_images(
        self, control_image: ControlInput, width: int, height: int, batch: int, per_prompt: int, guided: bool
    ) -> list[torch.Tensor]:
        """One tensor (rows, 3, height, width) per ControlNet; rows = batch * per_prompt, twice with guidance."""
        nets = self.controlnets
        if isinstance(self.controlnet, MultiControlNetModel):
            if _is_single_image(control_image) or len(control_image) != len(nets):
                got = 1 if _is_single_image(control_image) else len(control_image)
                raise InputError(f"control_image: {len(nets)} ControlNets need a list of {len(nets)} control "
                                 f"images (one per ControlNet, in order), got {got}")
            per_net = list(control_image)
        else:
            per_net = [control_image]
        tensors = []
        for entry in per_net:
            images = [entry] if _is_single_image(entry) else list(entry)
            if len(images) not in (1, batch):
                raise InputError(f"control_image: give one control image for all prompts or one per prompt "
                                 f"({batch}), got {len(images)}")
            pixels = torch.cat([preprocess_control_image(image, width, height) for image in images])
            pixels = pixels.repeat_interleave(batch * per_prompt // len(images), dim=0)
            pixels = torch.cat([pixels] * 2) if guided else pixels
            tensors.append(pixels.to(self._execution_device, self.controlnet.dtype))
        return tensors

    @contextlib.contextmanager
    def _controlled(self, state: ControlState) -> Iterator[None]:
        self._control_state = state
        try:
            yield
        finally:
            self._control_state = None

    def predict_noise(self, latents: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, guidance_scale: float,
                      **unet_kwargs: object) -> torch.Tensor:
        """The base prediction with the active ControlNets' residuals added to the UNet."""
        state = self._control_state
        if state is not None:
            residuals = self.control_residuals(state, latents, t, cond, guidance_scale)
            state.step += 1
            if residuals is not None:
                unet_kwargs.update(down_block_additional_residuals=residuals.down_block_res_samples,
                                   mid_block_additional_residual=residuals.mid_block_res_sample)
        return super().predict_noise(latents, t, cond, guidance_scale, **unet_kwargs)

    def control_residuals(self, state: ControlState, latents: torch.Tensor, t: torch.Tensor, cond: torch.Tensor,
                          guidance_scale: float) -> ControlNetOutput | None:
        """Sum of the residuals of the ControlNets active at this step (None when none is)."""
        model_input = torch.cat([latents] * 2) if guidance_scale > 1.0 else latents
        model_input = self.scheduler.scale_model_input(model_input, t)
        t = t.to(latents.device, non_blocking=True)
        steps = len(self.scheduler.timesteps)
        down, mid = None, None
        for net, image, scale, start, end in zip(self.controlnets, state.images, state.scales, state.starts,
                                                 state.ends):
            # the rule of diffusers' control_guidance_start/end: act on steps i with start <= i/n and (i+1)/n <= end
            if state.step / steps < start or (state.step + 1) / steps > end:
                continue
            net_down, net_mid = net(model_input.to(net.dtype), t, encoder_hidden_states=cond.to(net.dtype),
                                    controlnet_cond=image, conditioning_scale=scale, return_dict=False)
            down = net_down if down is None else [a + b for a, b in zip(down, net_down)]
            mid = net_mid if mid is None else mid + net_mid
        return None if down is None else ControlNetOutput(down_block_res_samples=down, mid_block_res_sample=mid)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def __call__(
        self,
        prompt: str | list[str],
        reference_image: object,
        control_image: ControlInput,
        *args: object,
        controlnet_conditioning_scale: float | Sequence[float] = 1.0,
        control_guidance_start: float | Sequence[float] = 0.0,
        control_guidance_end: float | Sequence[float] = 1.0,
        **kwargs: object,
    ) -> BlipDiffusionPipelineOutput | tuple:
        """:meth:`BlipDiffusionPipeline.__call__` guided by ``control_image``.

        ``control_image``: one map (PIL image or path) for every prompt, or a list with one per
        prompt; with several ControlNets, a list with one such entry per ControlNet. Maps are
        resized to (width, height) when their aspect ratio matches (else an error).
        ``controlnet_conditioning_scale`` multiplies the residuals; the ControlNet acts on the steps
        between the fractions ``control_guidance_start`` and ``control_guidance_end``. Each of the
        three is one number or one per ControlNet.
        """
        call = inspect.signature(BlipDiffusionPipeline.__call__).bind(self, prompt, reference_image, *args, **kwargs)
        call.apply_defaults()
        options = call.arguments
        batch = 1 if isinstance(prompt, str) else len(prompt)
        images = self.prepare_control_images(control_image, options["width"], options["height"], batch,
                                             options["num_images_per_prompt"], options["guidance_scale"] > 1.0)
        count = len(images)
        state = ControlState(
            images, _per_net(controlnet_conditioning_scale, count, "controlnet_conditioning_scale"),
            _per_net(control_guidance_start, count, "control_guidance_start"),
            _per_net(control_guidance_end, count, "control_guidance_end"),
        )
        for start, end in zip(state.starts, state.ends):
            if not 0.0 <= start < end <= 1.0:
                raise InputError(f"control_guidance_start/end must satisfy 0 <= start < end <= 1, got {start}, {end}")
        with self._controlled(state):
            return super().__call__(prompt, reference_image, *args, **kwargs)


def load_controlnets(root: os.PathLike, torch_dtype: torch.dtype | None) -> ControlNetModel | MultiControlNetModel:
    """The ``controlnet`` (and ``controlnet_1``, ...) components of a model folder."""
    index = model_folder.read_model_index(root)
    found = {int(m.group(1) or 0): name for name in index if (m := CONTROLNET_ENTRY.fullmatch(name))}
    if not found:
        raise InputError(
            f"{root} has no ControlNet (no 'controlnet' in {model_folder.MODEL_INDEX}): it is a base model; use a "
            "ControlNet model folder (layout of Salesforce/blipdiffusion-controlnet) or pass "
            "controlnet=ControlNetModel.from_pretrained(...)"
        )
    nets = [model_folder.load_component(root, found[i], index[found[i]], torch_dtype) for i in sorted(found)]
    logger.info("loaded %d ControlNet(s) from %s", len(nets), root)
    return nets[0] if len(nets) == 1 else MultiControlNetModel(nets)


def load_controlnet(name_or_path: str | os.PathLike, torch_dtype: torch.dtype | None = None) -> ControlNetModel:
    """A standalone diffusers ControlNet: a folder (config.json + weights) or a Hub id (lllyasviel/sd-controlnet-canny)."""
    path = Path(name_or_path)
    if not path.is_dir():
        path = Path(_download_controlnet(str(name_or_path)))
    return model_folder.load_component(path.parent, path.name, ["diffusers", "ControlNetModel"], torch_dtype)


def _download_controlnet(name: str) -> str:
    if name.count("/") != 1 or name.startswith((".", "/")) or Path(name).exists():
        raise InputError(f"controlnet not found: {name} is neither a ControlNet folder nor a Hub repo id (owner/name)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(name, allow_patterns=["*.json", "*.safetensors"])
    except (HfHubHTTPError, LocalEntryNotFoundError) as error:
        raise InputError(f"cannot fetch controlnet {name} from the Hub (offline and not cached?): {error}") from error


def _check_compatible(net: ControlNetModel, unet: UNet2DConditionModel) -> None:
    for key in ("cross_attention_dim", "block_out_channels", "in_channels"):
        mine, theirs = net.config.get(key), unet.config.get(key)
        if _as_list(mine) != _as_list(theirs):
            raise InputError(f"controlnet does not fit this UNet: {key} is {mine} in the ControlNet and "
                             f"{theirs} in the UNet (use a ControlNet trained for the same base model)")


def _as_list(value: object) -> object:
    return list(value) if isinstance(value, (list, tuple)) else value


def _is_single_image(value: object) -> bool:
    return isinstance(value, (str, os.PathLike, PIL.Image.Image))


def _per_net(value: float | Sequence[float], count: int, name: str) -> list[float]:
    values = [float(value)] * count if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != count:
        raise InputError(f"{name}: give one number or one per ControlNet ({count}), got {len(values)}")
    return values
