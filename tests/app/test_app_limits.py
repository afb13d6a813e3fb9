"""The server's limits and upload checks, without a server."""

from __future__ import annotations

import pytest
from PIL import Image

from blip_diffusion.app.limits import Limits, check_sampling, check_upload, whole_number
from blip_diffusion.app.uploads import read_photos, read_subject
from blip_diffusion.errors import InputError
from tests.app.conftest import DOG

LIMITS = Limits(max_upload_mb=0.1, max_image_pixels=600 * 600, max_subject_photos=2)


def test_limits_must_be_positive():
    with pytest.raises(InputError, match="--max-steps must be positive, got 0"):
        Limits(max_steps=0)


@pytest.mark.parametrize("value, expected", [(3, 3), (3.0, 3), (None, None), (2.5, None),
                                             (float("nan"), None), (float("inf"), None)])
def test_whole_number(value, expected):
    if expected is None:
        with pytest.raises(InputError, match="steps must be a whole number"):
            whole_number("steps", value)
    else:
        assert whole_number("steps", value) == expected


def test_sampling_caps_name_their_flag():
    check_sampling(Limits(), 100, 768, 768, 4)
    message = r"height must be between 1 and 768 on this server \(--max-side\), got 776"
    with pytest.raises(InputError, match=message):
        check_sampling(Limits(), 50, 512, 776, 1)


def test_uploads_over_the_size_or_pixel_cap_are_refused(tmp_path):
    check_upload(LIMITS, DOG)  # 53 KB, 512x512
    wide = tmp_path / "wide.png"
    Image.new("RGB", (601, 600)).save(wide)
    with pytest.raises(InputError, match=r"wide.png is 601x600 = 360600 pixels; .* up to 360000 pixels"):
        check_upload(LIMITS, wide)
    message = r"00.jpg is 54570 bytes; .* 0.05 MB = 52428 bytes \(--max-upload-mb\)"
    with pytest.raises(InputError, match=message):
        check_upload(Limits(max_upload_mb=0.05), DOG)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError, match="not an image file"):
        check_upload(LIMITS, junk)


def test_subject_is_photos_or_one_subject_file(tmp_path):
    subject_file = tmp_path / "dog.safetensors"
    subject_file.write_bytes(b"checked by the pipeline when it loads")
    assert read_subject([str(subject_file)], LIMITS) == str(subject_file)
    assert read_subject([str(DOG)], LIMITS) == [DOG]
    with pytest.raises(InputError, match="no subject photos"):
        read_subject(None, LIMITS)
    with pytest.raises(InputError, match=r"3 photos given; .* up to 2 per subject \(--max-subject-photos\)"):
        read_photos([str(DOG)] * 3, LIMITS)
    with pytest.raises(InputError, match="either photos or one subject file"):
        read_subject([str(DOG), str(subject_file)], LIMITS)
