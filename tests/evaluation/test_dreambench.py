"""DreamBench parsing: class table, object vs live prompt lists, prompt formatting, input errors."""

from __future__ import annotations

import logging
import shutil

import pytest

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.dreambench import PROMPTS_FILE, load_subjects, parse_prompts_file
from tests.evaluation.conftest import DREAMBENCH

LIVE_SUBJECTS = {"cat", "cat2", "dog", "dog2", "dog3", "dog5", "dog6", "dog7", "dog8"}


@pytest.fixture(scope="module")
def table():
    return parse_prompts_file(DREAMBENCH / PROMPTS_FILE)


def test_class_table_and_prompt_lists(table):
    assert len(table.classes) == 30
    assert table.classes["bear_plushie"] == "stuffed animal"
    assert len(table.object_prompts) == len(table.live_prompts) == 25
    assert [p.index for p in table.object_prompts] == list(range(25))
    assert table.object_prompts[0].pattern == "a {class} in the jungle"
    assert table.object_prompts[10].pattern == "a {class} with a wheat field in the background"
    assert table.live_prompts[10].pattern == "a {class} wearing a red hat"
    assert table.live_prompts[13].pattern == "a {class} wearing a black top hat and a monocle"
    assert table.object_prompts[20].pattern == "a red {class}"
    assert table.live_prompts[24].pattern == "a cube shaped {class}"


def test_live_subjects_are_the_dogs_and_cats(table):
    live = {
        name
        for name, class_word in table.classes.items()
        if table.prompts_for(class_word) is table.live_prompts
    }
    assert live == LIVE_SUBJECTS


def test_prompt_formatting_live_vs_object():
    subjects = {s.name: s for s in load_subjects(DREAMBENCH, ["dog", "cat", "teapot"])}
    dog, cat, teapot = subjects["dog"], subjects["cat"], subjects["teapot"]
    assert dog.live and cat.live and not teapot.live
    assert dog.prompts[0].format(dog.class_word) == "a dog in the jungle"
    assert dog.prompts[10].format(dog.class_word) == "a dog wearing a red hat"
    assert cat.prompts[14].format(cat.class_word) == "a cat in a chef outfit"
    assert teapot.prompts[10].format(teapot.class_word) == "a teapot with a wheat field in the background"
    assert (
        teapot.prompts[15].format(teapot.class_word)
        == "a teapot on top of green grass with sunflowers around it"
    )
    assert teapot.prompts[24].format(teapot.class_word) == "a cube shaped teapot"
    assert all(
        "{" not in p.format("x") and "  " not in p.format("x") for s in subjects.values() for p in s.prompts
    )


def test_default_selection_is_every_folder_present(caplog):
    with caplog.at_level(logging.WARNING):
        subjects = load_subjects(DREAMBENCH)
    assert [s.name for s in subjects] == ["cat", "dog", "teapot"]  # order of the class table
    assert [p.name for p in subjects[1].images] == ["00.jpg", "01.jpg", "02.jpg", "03.jpg", "04.jpg"]
    assert "27 of 30" in caplog.text


def _one_line_input_error(call) -> str:
    with pytest.raises(InputError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_subject_lists_the_valid_ones():
    message = _one_line_input_error(lambda: load_subjects(DREAMBENCH, ["dog", "unicorn"]))
    assert "unicorn" in message and "backpack" in message and "wolf_plushie" in message and "dog5" in message


def test_missing_folder_prompts_file_and_photos(tmp_path):
    assert str(tmp_path / "nope") in _one_line_input_error(lambda: load_subjects(tmp_path / "nope"))
    assert PROMPTS_FILE in _one_line_input_error(lambda: load_subjects(tmp_path))
    message = _one_line_input_error(lambda: load_subjects(DREAMBENCH, ["backpack"]))
    assert "backpack" in message and "photos" in message


def test_malformed_prompts_file(tmp_path):
    (tmp_path / PROMPTS_FILE).write_text("Classes\n\nsubject_name,class\ndog,dog\n")
    assert "Live Subject Prompts" in _one_line_input_error(lambda: load_subjects(tmp_path))
    text = (DREAMBENCH / PROMPTS_FILE).read_text().replace("'a {0} {1} in the snow'", "'a {0} in the snow'")
    (tmp_path / PROMPTS_FILE).write_text(text)
    shutil.copytree(DREAMBENCH / "dog", tmp_path / "dog")
    assert "a {0} in the snow" in _one_line_input_error(lambda: load_subjects(tmp_path))
