"""Matting: closed-form alpha on toy pictures with exact alpha, and CLIPSeg -> trimap -> matting ->
composite on DreamBench photos through the stage-2 data folder."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.toyworld import CaptionDataset
from blip_diffusion.training.data import FolderSubjects
from blip_diffusion.training.matting import AUTO_MASKS, closed_form_alpha, trimap_from_confidence

from .conftest import DREAMBENCH, FIXTURES

CLIPSEG = FIXTURES / "clipseg-tiny"
pytest.importorskip("pymatting")  # closed-form matting; brings scipy
from scipy import ndimage


def band_trimap(alpha: np.ndarray, width: int) -> np.ndarray:
    """Known foreground/background away from the edge, unknown within ``width`` pixels of it."""
    inside = ndimage.binary_erosion(alpha >= 0.5, iterations=width)
    outside = ~ndimage.binary_dilation(alpha >= 0.5, iterations=width)
    trimap = np.full(alpha.shape, 0.5)
    trimap[inside], trimap[outside] = 1.0, 0.0
    return trimap


def test_closed_form_matting_recovers_known_alpha():
    errors = []
    for index in range(4):
        photo = CaptionDataset(4, seed=7, resolution=64)[index]
        trimap = band_trimap(photo.alpha, 2)
        alpha = closed_form_alpha(photo.image / 255.0, trimap)
        unknown = trimap == 0.5
        errors.append(np.abs(alpha - photo.alpha)[unknown].mean())
        assert np.abs(alpha - photo.alpha).mean() < 0.02
    print(f"closed-form matting, mean |alpha error| in the unknown band: {np.mean(errors):.4f}")
    assert np.mean(errors) < 0.15


def test_trimap_from_confidence_and_its_fallback():
    confidence = np.linspace(0, 1, 100).reshape(10, 10)
    trimap = trimap_from_confidence(confidence)
    assert set(np.unique(trimap)) == {0.0, 0.5, 1.0}
    assert (trimap[confidence >= 0.7] == 1).all() and (trimap[confidence <= 0.3] == 0).all()
    weak = np.full((10, 10), 0.5) + np.linspace(0, 0.01, 100).reshape(10, 10)
    fallback = trimap_from_confidence(weak)  # nothing confident: top 10 % / bottom 30 % seed the matting
    assert (fallback == 1).sum() == 10 and (fallback == 0).sum() == 30


def make_folder(tmp_path, masks: bool):
    data, backgrounds = tmp_path / "data", tmp_path / "backgrounds"
    (data / "images").mkdir(parents=True)
    backgrounds.mkdir()
    records = []
    for subject in ("dog", "teapot"):
        for source in sorted((DREAMBENCH / subject).glob("*.jpg"))[:2]:
            name = f"images/{subject}_{source.name}"
            shutil.copy(source, data / name)
            records.append({"image": name, "caption": f"a {subject} on a table", "class": subject})
    if masks:
        (data / "masks").mkdir()
        for record in records:
            Image.new("L", (40, 30), 255).save(data / "masks" / (record["image"].split("/")[1] + ".png"))
            record["mask"] = "masks/" + record["image"].split("/")[1] + ".png"
    (data / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    for index in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * index, dtype=np.uint8)).save(backgrounds / f"{index}.png")
    return data, backgrounds


def test_dreambench_photos_are_matted_with_clipseg_and_composited(tmp_path):
    if not DREAMBENCH.is_dir() or not list((DREAMBENCH / "teapot").glob("*.jpg")):
        pytest.skip("DreamBench sample photos are not in assets/dreambench")
    data, backgrounds = make_folder(tmp_path, masks=False)
    dataset = FolderSubjects(data, backgrounds, resolution=48, clipseg=str(CLIPSEG), seed=0)
    assert len(list((data / AUTO_MASKS).glob("*.png"))) == 4
    item = dataset[5]
    assert item["image"].shape == item["source"].shape == (48, 48, 3)
    assert item["class"] in ("dog", "teapot") and item["caption"].startswith("a ")
    assert not np.array_equal(item["image"], item["source"])  # something was replaced by the background
    FolderSubjects(data, backgrounds, resolution=48, clipseg="", seed=0)  # cached: no CLIPSeg needed again


def test_given_masks_are_used_and_missing_ones_need_clipseg(tmp_path):
    if not DREAMBENCH.is_dir() or not list((DREAMBENCH / "teapot").glob("*.jpg")):
        pytest.skip("DreamBench sample photos are not in assets/dreambench")
    data, backgrounds = make_folder(tmp_path, masks=True)
    item = FolderSubjects(data, backgrounds, resolution=32)[0]
    assert np.array_equal(item["image"], item["source"])  # full masks: the subject covers everything
    (data / "captions.jsonl").write_text(json.dumps({"image": "images/dog_00.jpg", "caption": "a dog"}) + "\n")
    with pytest.raises(InputError, match="have no mask"):
        FolderSubjects(data, backgrounds, resolution=32)
