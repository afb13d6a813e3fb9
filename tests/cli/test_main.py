"""The ``blip-diffusion`` entry point: every subcommand is reachable, and listing them imports no model library."""

import subprocess
import sys

import pytest

from blip_diffusion.cli.main import COMMANDS, build_parser, main, named_command

HEAVY = ("torch", "diffusers", "transformers")


def test_every_subcommand_builds_its_flags():
    subcommands = next(action.choices for action in build_parser()._actions if isinstance(action.choices, dict))
    assert set(subcommands) == set(COMMANDS)
    for name, parser in subcommands.items():
        assert callable(parser.get_default("run")) and len(parser._actions) > 1, name


@pytest.mark.parametrize("argv, command", [(["-v", "generate", "--prompt", "train"], "generate"),
                                           (["-vv", "--help"], ""), ([], "")])
def test_the_named_command_is_the_first_word_that_is_not_a_flag(argv, command):
    assert named_command(argv) == command


def test_top_level_help_and_a_mistyped_command_import_no_model_library():
    script = ("import sys\nfrom blip_diffusion.cli.main import main\n"
              "for argv in (['--help'], ['genrate']):\n"
              "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
              f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert "finetune" in done.stdout and "invalid choice: 'genrate'" in done.stderr


def test_a_subcommands_help_lists_its_own_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["encode-subject", "--help"])
    assert exit_info.value.code == 0 and "--subject-class" in capsys.readouterr().out


def test_an_input_error_quoting_a_multi_line_message_prints_one_line(monkeypatch, capsys):
    from blip_diffusion.cli import encode_subject
    from blip_diffusion.errors import InputError

    def run(args):
        raise InputError("model x cannot be fetched: ConnectError\nAn error happened while trying to locate the files")

    monkeypatch.setattr(encode_subject, "run", run)
    assert main(["encode-subject", "--subject", "a.jpg", "--subject-class", "dog", "--out", "x.safetensors"]) == 2
    err = capsys.readouterr().err
    assert err == "error: model x cannot be fetched: ConnectError An error happened while trying to locate the files\n"


@pytest.mark.parametrize("argv", [
    ["generate", "--subject", "a.jpg", "--prompt", "x"],
    ["edit", "--subject", "a.jpg", "--subject-class", "dog", "--prompt", "x"],
    ["stylize", "--style", "a.jpg", "--structure", "b.jpg", "--prompt", "x"],
    ["finetune", "--model", "m", "--subject", "a.jpg", "--subject-class", "dog"],
    ["toybench", "--model", "m"],
    ["eval", "dreambench", "--model", "m"],
    ["convert-lavis", "lavis"],
    ["toyworld", "examples"],
])
def test_a_file_where_the_output_folder_goes_is_refused_before_any_work(tmp_path, capsys, argv):
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"an earlier result")
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--out", str(taken)])
    assert exit_info.value.code == 2
    assert f"argument --out: {taken} is a file; expected a folder" in capsys.readouterr().err
    assert taken.read_bytes() == b"an earlier result"


def test_a_folder_where_the_output_file_goes_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["encode-subject", "--subject", "a.jpg", "--subject-class", "dog", "--out", str(tmp_path)])
    assert f"argument --out: {tmp_path} is a folder; expected a file name" in capsys.readouterr().err
