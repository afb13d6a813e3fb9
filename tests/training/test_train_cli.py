"""``blip-diffusion train``: stage choice, config file, key=value overrides, --print-config."""

import argparse
import json

import pytest

from blip_diffusion.cli import train
from blip_diffusion.errors import InputError


def parse(*argv):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    return parser.parse_args(argv)


def test_print_config_resolves_file_and_overrides(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text("[run]\nmax_steps = 9\n")
    assert train.run(parse("stage2", "--config", str(path), "skip_stage1=true", "--print-config")) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["run"]["max_steps"] == 9 and printed["skip_stage1"] is True


def test_unknown_key_is_an_input_error():
    with pytest.raises(InputError, match="valid keys"):
        train.run(parse("stage1", "qformer.size=3", "--print-config"))


def test_unknown_stage_is_refused():
    with pytest.raises(SystemExit):
        parse("stage3")


def test_missing_inputs_are_named(tmp_path):
    with pytest.raises(InputError, match="vision_model"):
        train.run(parse("stage1", f"out={tmp_path}", f"vision_model={tmp_path / 'none'}"))
    with pytest.raises(InputError, match="base_model"):
        train.run(parse("stage2", f"out={tmp_path}", f"base_model={tmp_path / 'none'}"))


@pytest.mark.parametrize("stage", ["base", "stage1", "stage2", "controlnet"])
def test_a_file_in_place_of_the_output_folder_is_refused_before_training(tmp_path, stage):
    taken = tmp_path / "taken"
    taken.write_text("an earlier result")
    with pytest.raises(InputError, match=f"out={taken} is a file; expected a folder"):
        train.run(parse(stage, f"out={taken}"))
    assert taken.read_text() == "an earlier result"
