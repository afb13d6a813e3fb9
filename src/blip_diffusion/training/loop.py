"""The training loop shared by every stage: a plain accelerate loop around a :class:`Task`.

CPU, one GPU or many (``accelerate launch``: DDP; DeepSpeed ZeRO 1-2 for one-module stages, see
:func:`check_distributed`),
mixed precision, gradient accumulation, optional EMA, checkpoints every N steps with exact resume,
TensorBoard through accelerate's trackers and a progress bar with loss and throughput.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, set_seed
from diffusers.training_utils import EMAModel
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from blip_diffusion.errors import InputError
from blip_diffusion.training import checkpoint
from blip_diffusion.training.batches import StepSampler, seed_everything_for
from blip_diffusion.training.config import RunConfig
from blip_diffusion.training.optim import make_lr_schedule, make_optimizer
from blip_diffusion.training.tracking import flatten, tracker

logger = logging.getLogger(__name__)

WEIGHT_DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# DDP: ablations and dropped subjects leave some trained weights out of some steps' graphs
UNUSED_OK = DistributedDataParallelKwargs(find_unused_parameters=True)


class Task(Protocol):
    """What a stage gives the loop: trained modules, data, a loss and the export of the result."""

    def modules(self) -> dict[str, nn.Module]:
        """The modules holding trained parameters, keyed by the task's attribute names: the loop sets
        those attributes to the prepared (DDP-wrapped) modules, so the loss runs through them."""

    def dataset(self) -> Dataset:
        """Examples addressed by global position (see :class:`~blip_diffusion.training.batches.StepSampler`)."""

    def collate(self, items: list[Any]) -> dict[str, Any]: ...

    def loss(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
        """Scalar loss of one micro-batch and the values to log."""

    def export(self, out: Path) -> None:
        """Write the final model folder (main process only)."""


TaskFactory = Callable[[torch.device, torch.dtype], Task]


def train(make_task: TaskFactory, run: RunConfig, out: Path, config: dict[str, Any], resume: bool = False,
          name: str = "train", export_dir: Path | None = None) -> Path:
    """Train to ``run.max_steps`` in ``out`` (``out/checkpoints``); export to ``export_dir`` (``out/model``)."""
    out, export_dir = Path(out), Path(export_dir or Path(out) / "model")
    called = time.perf_counter()
    if checkpoint.checkpoint_dirs(out) and not resume:
        raise InputError(f"{out} already holds checkpoints: pass --resume to continue, or choose another output")
    AcceleratorState._reset_state()  # a process may train several parts, each with its own precision
    accelerator = Accelerator(mixed_precision=run.mixed_precision, gradient_accumulation_steps=run.gradient_accumulation_steps,
                              log_with=tracker(run), project_dir=str(out), kwargs_handlers=[UNUSED_OK])
    set_seed(run.seed)
    task = make_task(accelerator.device, WEIGHT_DTYPES[run.mixed_precision])
    names, modules = zip(*task.modules().items())
    check_distributed(accelerator.state.distributed_type, accelerator.state.deepspeed_plugin, names)
    params = [(f"{n}.{p}", w) for n, m in zip(names, modules) for p, w in m.named_parameters()]
    optimizer = make_optimizer(params, run)
    schedule = make_lr_schedule(optimizer, run)
    *modules, optimizer = accelerator.prepare(*modules, optimizer)
    for attribute, module in zip(names, modules):
        setattr(task, attribute, module)
    trained = [w for _, w in params if w.requires_grad]
    ema = EMAModel(trained, decay=run.ema_decay) if run.ema_decay else None
    accelerator.register_for_checkpointing(schedule, *([ema] if ema else []))
    start = checkpoint.restore(accelerator, out) if resume else 0
    if tracker(run):
        accelerator.init_trackers(name, config=flatten(config))
    loader = DataLoader(task.dataset(), batch_size=run.batch_size, num_workers=run.num_workers,
                        collate_fn=task.collate, sampler=StepSampler(
                            start, run.max_steps, run.batch_size, run.gradient_accumulation_steps,
                            accelerator.num_processes, accelerator.process_index))
    batches = iter(loader)
    bar = tqdm(range(start, run.max_steps), initial=start, total=run.max_steps, desc=name,
               disable=not accelerator.is_local_main_process, dynamic_ncols=True)
    first_step = time.perf_counter()
    for step in bar:
        tic = time.perf_counter()
        for module in modules:
            module.train()
        logs = _optimizer_step(accelerator, run, task, modules, optimizer, batches, step, trained)
        schedule.step()
        if ema:
            ema.step(trained)
        samples = run.batch_size * run.gradient_accumulation_steps * accelerator.num_processes
        logs.update(lr=schedule.get_last_lr()[0], samples_per_s=samples / (time.perf_counter() - tic))
        bar.set_postfix(loss=f"{logs['loss']:.4f}", it_s=f"{logs['samples_per_s'] / samples:.2f}")
        if (step + 1) % run.log_every == 0 or step + 1 == run.max_steps:
            accelerator.log(logs, step=step + 1)
        if run.checkpoint_every and ((step + 1) % run.checkpoint_every == 0 or step + 1 == run.max_steps):
            checkpoint.save(accelerator, out, step + 1, config, run.checkpoints_kept)
    bar.close()
    last_step = time.perf_counter()
    _finish(accelerator, task, ema, trained, export_dir)
    logger.info("%s: set-up %.2f s, %d steps %.2f s, export %.2f s", name, first_step - called, run.max_steps - start,
                last_step - first_step, time.perf_counter() - last_step)
    return export_dir


def check_distributed(distributed_type: DistributedType, deepspeed_plugin: Any, trained: tuple[str, ...]) -> None:
    """Refuse the accelerate set-ups whose result this loop could not export whole.

    Tasks export their modules' own weights on the main process: FSDP and ZeRO stage 3 keep them
    sharded across processes, and DeepSpeed drives one module per accelerator.
    """
    if distributed_type == DistributedType.FSDP:
        raise InputError("FSDP keeps parameters sharded across processes and the export writes whole modules: "
                         "train with DDP (accelerate config: multi-GPU) or DeepSpeed ZeRO stage 1 or 2")
    if distributed_type == DistributedType.DEEPSPEED:
        if deepspeed_plugin.zero_stage == 3:
            raise InputError("DeepSpeed ZeRO stage 3 keeps parameters sharded across processes and the export writes "
                             "whole modules: use ZeRO stage 1 or 2, or DDP")
        if len(trained) > 1:
            raise InputError(f"DeepSpeed trains one module per run and this stage trains {len(trained)} "
                             f"({', '.join(trained)}): use DDP (accelerate config: multi-GPU)")


def _optimizer_step(accelerator: Accelerator, run: RunConfig, task: Task, modules: list[nn.Module], optimizer: Any,
                    batches: Any, step: int, trained: list[nn.Parameter]) -> dict[str, float]:
    """Accumulate ``gradient_accumulation_steps`` micro-batches, then one optimizer step; mean logs."""
    totals: dict[str, float] = {}
    for micro in range(run.gradient_accumulation_steps):
        seed_everything_for(run.seed, step, micro, accelerator.process_index)
        batch = next(batches)
        with accelerator.accumulate(*modules):
            with accelerator.autocast():
                loss, logs = task.loss(batch)
            accelerator.backward(loss)
            if accelerator.sync_gradients and run.max_grad_norm > 0:
                accelerator.clip_grad_norm_(trained, run.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        for key, value in {"loss": loss.detach().item(), **logs}.items():
            totals[key] = totals.get(key, 0.0) + value / run.gradient_accumulation_steps
    return totals


def _finish(accelerator: Accelerator, task: Task, ema: EMAModel | None, trained: list[nn.Parameter],
            export_dir: Path) -> None:
    """Export the trained (or EMA) weights as a model folder."""
    accelerator.wait_for_everyone()
    if ema:
        ema.copy_to(trained)
    if accelerator.is_main_process:
        task.export(export_dir)
    accelerator.wait_for_everyone()
    accelerator.end_training()
