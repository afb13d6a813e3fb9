"""DreamBench: its subjects, their photos and the prompts each subject is generated with.

DreamBench (Ruiz et al., DreamBooth, CVPR 2023) is a folder with one sub-folder of 4-6 photos per
subject and ``prompts_and_classes.txt``, which holds the subject -> class table and two lists of 25
prompt templates, one for objects and one for live subjects, written as Python lines such as
``'a {0} {1} in the jungle'.format(unique_token, class_token)``. Zero-shot methods have no unique
token, so it is removed: ``"a {class} in the jungle"`` -> ``"a dog in the jungle"``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from blip_diffusion.errors import InputError

logger = logging.getLogger(__name__)

PROMPTS_FILE = "prompts_and_classes.txt"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
CLASS_PLACEHOLDER = "{class}"
# DreamBooth's protocol gives the live-subject prompts (outfits, hats) to the animals of the class
# table, its dogs and cats (9 of the 30 subjects), and the object prompts to everything else.
LIVE_CLASSES = frozenset({"dog", "cat"})

_PROMPT_LINE = re.compile(r"^'([^']*)'\.format\(\s*unique_token\s*,\s*class_token\s*\)")
_SECTIONS = {"object prompts": "object", "live subject prompts": "live"}


@dataclass(frozen=True)
class Prompt:
    """One DreamBench prompt, unique token removed: ``pattern`` is e.g. ``"a {class} in the jungle"``."""

    index: int
    pattern: str

    def format(self, class_word: str) -> str:
        """The prompt for one class word: ``"a dog in the jungle"``."""
        return self.pattern.replace(CLASS_PLACEHOLDER, class_word)


@dataclass(frozen=True)
class Subject:
    """One DreamBench subject: its folder name, class word, photos and prompt list."""

    name: str
    class_word: str
    images: tuple[Path, ...]
    prompts: tuple[Prompt, ...]

    @property
    def live(self) -> bool:
        return self.class_word in LIVE_CLASSES


@dataclass(frozen=True)
class PromptsFile:
    """The parsed ``prompts_and_classes.txt``: class table and both prompt lists."""

    classes: dict[str, str]
    object_prompts: tuple[Prompt, ...]
    live_prompts: tuple[Prompt, ...]

    def prompts_for(self, class_word: str) -> tuple[Prompt, ...]:
        return self.live_prompts if class_word in LIVE_CLASSES else self.object_prompts


def _pattern(template: str, path: Path) -> str:
    """``'a red {0} {1}'`` -> ``'a red {class}'`` (the unique token {0} is dropped)."""
    words = [word for word in template.split() if word != "{0}"]
    if words.count("{1}") != 1:
        raise InputError(f"{path}: prompt {template!r} should contain the class token {{1}} exactly once")
    return " ".join(CLASS_PLACEHOLDER if word == "{1}" else word for word in words)


def parse_prompts_file(path: Path) -> PromptsFile:
    """Read the class table and the object / live-subject prompt lists of ``prompts_and_classes.txt``."""
    classes: dict[str, str] = {}
    prompts: dict[str, list[Prompt]] = {"object": [], "live": []}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.lower() == "subject_name,class":
            section = "classes"
        elif line.lower() in _SECTIONS:
            section = _SECTIONS[line.lower()]
        elif section == "classes" and line.count(",") == 1:
            name, class_word = (part.strip() for part in line.split(","))
            classes[name] = class_word
        elif section in prompts and (match := _PROMPT_LINE.match(line)):
            prompts[section].append(Prompt(len(prompts[section]), _pattern(match.group(1), path)))
    if not classes or not prompts["object"] or not prompts["live"]:
        raise InputError(
            f"{path}: expected a 'subject_name,class' table and 'Object Prompts' and 'Live Subject Prompts' "
            f"lists; found {len(classes)} subjects, {len(prompts['object'])} object and "
            f"{len(prompts['live'])} live prompts"
        )
    return PromptsFile(classes, tuple(prompts["object"]), tuple(prompts["live"]))


def _subject_images(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))


def load_subjects(data_dir: Path, names: list[str] | None = None) -> list[Subject]:
    """The DreamBench subjects under ``data_dir``: those named, or every one whose folder exists.

    Raises :class:`InputError` for a missing folder or prompts file, an unknown subject name (listing
    the valid ones) or a named subject without photos.
    """
    prompts_path = Path(data_dir) / PROMPTS_FILE
    if not Path(data_dir).is_dir():
        raise InputError(
            f"DreamBench folder '{data_dir}' does not exist; expected a folder with {PROMPTS_FILE} "
            "and one folder of photos per subject"
        )
    if not prompts_path.is_file():
        raise InputError(f"'{data_dir}' has no {PROMPTS_FILE}; expected the DreamBench folder")
    table = parse_prompts_file(prompts_path)
    if names:
        unknown = [name for name in names if name not in table.classes]
        if unknown:
            raise InputError(
                f"unknown DreamBench subject(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(table.classes))}"
            )
    else:
        names = [name for name in table.classes if (Path(data_dir) / name).is_dir()]
        missing = sorted(set(table.classes) - set(names))
        if missing:
            logger.warning(
                "%s lacks %d of %d subject folders (%s): evaluating the %d present",
                data_dir,
                len(missing),
                len(table.classes),
                ", ".join(missing),
                len(names),
            )
    subjects = []
    for name in dict.fromkeys(names):
        folder = Path(data_dir) / name
        images = _subject_images(folder) if folder.is_dir() else ()
        if not images:
            raise InputError(f"subject '{name}': no {'/'.join(IMAGE_SUFFIXES)} photos in '{folder}'")
        class_word = table.classes[name]
        subjects.append(Subject(name, class_word, images, table.prompts_for(class_word)))
    if not subjects:
        raise InputError(f"'{data_dir}' has none of the {len(table.classes)} DreamBench subject folders")
    return subjects
