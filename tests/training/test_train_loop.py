"""The loop's pieces: which examples each process sees, optional TensorBoard, bf16 with checkpointing."""

import sys

import pytest

from blip_diffusion.training import tracking
from blip_diffusion.training.base import train_base
from blip_diffusion.training.batches import Shuffled, StepSampler
from blip_diffusion.training.config import RunConfig

from .conftest import tiny_base_config


def test_processes_and_micro_batches_see_disjoint_examples_and_resume_continues_the_sequence():
    full = [list(StepSampler(0, 3, 2, 2, 2, rank)) for rank in (0, 1)]
    assert sorted(full[0] + full[1]) == list(range(24))
    assert list(StepSampler(1, 3, 2, 2, 2, 0)) == full[0][4:]


def test_shuffled_visits_every_item_once_per_epoch():
    data = Shuffled(list("abcde"), seed=3)
    first, second = [data[i] for i in range(5)], [data[i] for i in range(5, 10)]
    assert sorted(first) == sorted(second) == list("abcde")


def test_missing_tensorboard_turns_logging_off(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    assert tracking.tracker(RunConfig()) is None
    assert tracking.tracker(RunConfig(log_with="none")) is None


def test_bf16_gradient_checkpointing_and_tensorboard_run(tmp_path):
    extra = ("vae.run.mixed_precision=bf16", "vae.run.gradient_checkpointing=true", "vae.run.log_with=tensorboard",
             "vae.run.max_steps=1", "vae.run.log_every=1")
    train_base(tiny_base_config(tmp_path, parts="vae", extra=extra))
    assert (tmp_path / "vae" / "model" / "config.json").is_file()
    if tracking.tracker(RunConfig()):  # tensorboard installed
        assert list((tmp_path / "vae").rglob("events.out.tfevents.*"))


def test_set_ups_whose_result_cannot_be_exported_whole_are_refused():
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from blip_diffusion.errors import InputError
    from blip_diffusion.training.loop import check_distributed

    for kind in (DistributedType.NO, DistributedType.MULTI_CPU, DistributedType.MULTI_GPU):
        check_distributed(kind, None, ("subject", "unet", "text_encoder"))
    check_distributed(DistributedType.DEEPSPEED, SimpleNamespace(zero_stage=2), ("unet",))
    with pytest.raises(InputError, match="FSDP keeps parameters sharded"):
        check_distributed(DistributedType.FSDP, None, ("unet",))
    with pytest.raises(InputError, match="ZeRO stage 3 keeps parameters sharded"):
        check_distributed(DistributedType.DEEPSPEED, SimpleNamespace(zero_stage=3), ("unet",))
    with pytest.raises(InputError, match=r"this stage trains 2 \(unet, subject\): use DDP"):
        check_distributed(DistributedType.DEEPSPEED, SimpleNamespace(zero_stage=2), ("unet", "subject"))
