"""The generate and encode-subject commands, including their one-line errors."""

import json

import pytest
from PIL import Image

from blip_diffusion.cli.main import main
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

DOG = str(ASSETS / "dreambench" / "dog" / "00.jpg")
MODEL = ["--model", str(FIXTURE_MODEL), "--qformer-tokenizer", str(QFORMER_TOKENIZER)]
FAST = ["--steps", "2", "--size", "64x64"]


def test_generate_writes_pngs_with_settings_and_a_grid(tmp_path, capsys):
    code = main(["generate", *MODEL, *FAST, "--subject", DOG, "--subject-class", "dog", "--prompt", "on the beach",
                 "--num-images", "2", "--seed", "7", "--out", str(tmp_path)])
    assert code == 0
    image = Image.open(tmp_path / "image_000008.png")
    settings = json.loads(image.text["parameters"])
    assert settings["seed"] == 8 and settings["prompt"] == "on the beach" and image.text["model"]
    assert Image.open(tmp_path / "grid_000007.png").size == (128, 64)
    assert str(tmp_path / "image_000007.png") in capsys.readouterr().out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary leftovers


def test_encode_subject_then_generate_from_the_file(tmp_path):
    subject = tmp_path / "dog.safetensors"
    assert main(["encode-subject", *MODEL, "--subject", DOG, "--subject-class", "dog", "--out", str(subject)]) == 0
    assert main(["generate", *MODEL, *FAST, "--subject", str(subject), "--target-class", "tiger",
                 "--prompt", "in the snow", "--scheduler", "ddim", "--feature-cache", "2", "--out", str(tmp_path / "out")]) == 0
    settings = json.loads(Image.open(tmp_path / "out" / "image_000000.png").text["parameters"])
    assert settings["scheduler"] == "ddim" and settings["feature_cache"] == 2


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--subject", "missing.jpg", "--subject-class", "dog"], "image not found: missing.jpg"),
        (["--subject", DOG, "--subject-class", "dog", "--size", "63x64"], "width must be a positive multiple"),
        (["--subject", DOG, "--subject-class", "dog", "--num-images", "0"], "--num-images must be at least 1"),
        (["--subject", DOG, "--subject-class", "dog", "--device", "cuda:7"], "--device cuda:7"),
        (["--subject", DOG], "source_subject_category is required"),
        (["--subject", DOG, "--subject-class", "dog", "--feature-cache", "-1"], "--feature-cache must be 0 (off)"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, extra, message):
    code = main(["generate", *MODEL, *FAST, "--prompt", "on the beach", "--out", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_unknown_scheduler_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "--subject", DOG, "--prompt", "x", "--scheduler", "heun2"])
    assert exit_info.value.code == 2 and "invalid choice: 'heun2'" in capsys.readouterr().err


def test_help_lists_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = capsys.readouterr().out
    for flag in ("--model", "--subject", "--subject-class", "--target-class", "--prompt", "--negative-prompt",
                 "--num-images", "--seed", "--steps", "--guidance", "--size", "--scheduler", "--device", "--dtype",
                 "--feature-cache", "--out"):
        assert flag in out


def test_background_composites_transparent_photos(tmp_path):
    photo = tmp_path / "cut_out.png"
    Image.new("RGBA", (48, 40), (10, 200, 30, 0)).save(photo)
    files = []
    for name, extra in (("dropped", []), ("white", ["--background", "255,255,255"])):
        files.append(tmp_path / f"{name}.safetensors")
        assert main(["encode-subject", *MODEL, "--subject", str(photo), "--subject-class", "dog", *extra,
                     "--out", str(files[-1])]) == 0
    from blip_diffusion import SubjectEmbedding

    dropped, white = (SubjectEmbedding.load(f).embeds for f in files)
    assert (dropped - white).abs().max() > 1e-3


def test_bad_background_colour_is_rejected(capsys):
    with pytest.raises(SystemExit):
        main(["encode-subject", "--subject", DOG, "--subject-class", "dog", "--background", "300,0,0", "--out", "x"])
    assert "R,G,B in 0..255" in capsys.readouterr().err
