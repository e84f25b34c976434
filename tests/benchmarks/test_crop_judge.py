"""The crop judge (benchmarks/crop_judge.py): 100 % crops of a painting score near it, a photo's far off."""

import pytest

from benchmarks.crop_judge import crop_boxes, crop_style_distances, painted_style_pixels
from benchmarks.judge import Judge


def test_crops_are_the_two_ends_with_room_for_the_phases():
    assert crop_boxes((1024, 640), 512, 4) == [(0, 62, 512, 574), (509, 62, 1021, 574)]
    assert crop_boxes((300, 200), 512, 4) == [(0, 0, 197, 197), (100, 0, 297, 197)]
    with pytest.raises(ValueError, match="too small"):
        crop_boxes((60, 60), 512, 4)


def test_the_style_is_painted_at_the_content_pixel_count_never_enlarged(starry):
    assert painted_style_pixels(starry, (100, 100)) == 10_000
    assert painted_style_pixels(starry, (10_000, 10_000)) == starry.width * starry.height


def test_the_painting_itself_scores_far_below_a_photo(cat, starry):
    judge = Judge()
    painting = crop_style_distances(judge, starry, starry, side=400, phases=2)
    photo = crop_style_distances(judge, cat, starry, side=400, phases=2)
    assert len(painting) == len(photo) == 2 and all(len(d) == 2 for d in painting)
    worst_painting = max(max(d) for d in painting)
    best_photo = min(min(d) for d in photo)
    assert worst_painting < 0.5 * best_photo, (painting, photo)
