"""Run configs: defaults, files, key=value overrides, validation, and every committed config file."""

from pathlib import Path

import pytest

from blip_diffusion.errors import InputError
from blip_diffusion.training.base import BaseConfig
from blip_diffusion.training.config import RunConfig, load, parse_overrides, to_dict
from blip_diffusion.training.controlnet import ControlNetConfig
from blip_diffusion.training.finetune import FinetuneConfig
from blip_diffusion.training.stage1 import Stage1Config
from blip_diffusion.training.stage2 import Stage2Config

CONFIGS = Path(__file__).parent.parent.parent / "configs" / "train"
CLASSES = {"base": BaseConfig, "stage1": Stage1Config, "stage2": Stage2Config, "controlnet": ControlNetConfig}


def test_overrides_keep_the_section_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('out = "x"\n[clip.run]\nmax_steps = 7\n')
    config = load(BaseConfig, path, ["clip.run.batch_size=3", "vae.block_out_channels=8,16"])
    assert (config.out, config.clip.run.max_steps, config.clip.run.batch_size) == ("x", 7, 3)
    assert config.clip.run.learning_rate == BaseConfig().clip.run.learning_rate  # section default kept
    assert config.vae.block_out_channels == (8, 16)
    assert to_dict(config)["vae"]["block_out_channels"] == [8, 16]


def test_yaml_file(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "c.yaml"
    path.write_text("skip_stage1: true\nrun:\n  learning_rate: 1\n")
    config = load(Stage2Config, path)
    assert config.skip_stage1 is True and config.run.learning_rate == 1.0


@pytest.mark.parametrize(("overrides", "message"), [
    (["run.max_step=3"], "unknown key(s) run.max_step in run; valid keys: max_steps"),
    (["run.max_steps=many"], "run.max_steps must be int, got 'many'"),
    (["skip_stage1=perhaps"], "skip_stage1 must be bool"),
    (["run=3"], "run must be a section"),
    (["run.mixed_precision=fp8"], "mixed_precision must be one of no, fp16, bf16"),
    (["subject_drop_prob=2"], "subject_drop_prob must be a probability"),
    (["noequals"], "must look like key=value"),
])
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(InputError, match=None) as error:
        load(Stage2Config, None, overrides)
    assert message in str(error.value)


def test_ill_typed_file_value(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[run]\nmax_steps = "ten"\n')
    with pytest.raises(InputError, match="run.max_steps must be int, got str 'ten'"):
        load(Stage1Config, path)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(InputError, match="config file not found"):
        load(BaseConfig, tmp_path / "none.toml")
    (tmp_path / "bad.toml").write_text("[[[")
    with pytest.raises(InputError, match="cannot parse config file"):
        load(BaseConfig, tmp_path / "bad.toml")


def test_parse_overrides_nests_dotted_keys():
    assert parse_overrides(["a.b.c=1", "a.d=x"]) == {"a": {"b": {"c": "1"}, "d": "x"}}


def test_run_config_checks_ranges():
    with pytest.raises(InputError, match="run.max_steps must be at least 1"):
        RunConfig(max_steps=0)


def test_finetune_config_needs_its_inputs():
    with pytest.raises(InputError, match="needs model, subject photos"):
        FinetuneConfig()
    config = FinetuneConfig(model="m", subject=("a.png",), subject_class="dog", out="o", lora_rank=0)
    assert config.resolved_learning_rate == 5e-6 and config.caption == "a dog"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.toml")), ids=lambda p: p.name)
def test_committed_config_files_load(path):
    stage = path.stem.split("_")[1] if path.stem.startswith(("toy_", "real_")) else path.stem
    config = load(CLASSES[stage], path)
    assert to_dict(config)
