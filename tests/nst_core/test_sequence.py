"""Sequence jobs (nst_core.sequence) with the real weights on tiny frames: a still scene stays still, the same
seed gives the same frames, one frame is a plain job, and bad input is refused before any frame runs."""
import numpy as np
import pytest
from PIL import Image

from nst_core import InvalidInput, StyleOptions
from nst_core.sequence import SequenceOptions, stylize_sequence

TINY = StyleOptions(max_size=64, steps=10, coarse_steps=0, multiscale=False, precision="float32")


@pytest.fixture(scope="module")
def still_frames(cat):
    """One photo three times, each with its own sensor noise (σ 3 grey levels), as a tripod camera gives."""
    base = np.asarray(cat.resize((64, 42), Image.Resampling.LANCZOS), np.float32)
    rng = np.random.default_rng(7)
    return [Image.fromarray(np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8))
            for _ in range(3)]


def change(results) -> float:
    """Mean absolute difference between consecutive frames, grey levels."""
    a = [np.asarray(r.image, np.float32) for r in results]
    return float(np.mean([np.abs(a[i + 1] - a[i]).mean() for i in range(len(a) - 1)]))


def test_a_still_scene_stays_still_and_the_same_seed_gives_the_same_frames(engine, still_frames, starry):
    linked = stylize_sequence(engine, still_frames, [starry], TINY)
    again = stylize_sequence(engine, still_frames, [starry], TINY)
    independent = stylize_sequence(engine, still_frames, [starry], TINY, sequence=SequenceOptions(independent=True))
    assert [r.image.tobytes() for r in linked] == [r.image.tobytes() for r in again]
    assert change(linked) < 0.5 * change(independent), (change(linked), change(independent))
    assert change(linked) < 5.0  # grey levels on average: the sensor noise shows through, no strokes boil
    assert all(r.image.size == still_frames[0].size for r in linked)
    assert "temporal" in linked[1].losses and "temporal" not in independent[1].losses


def test_one_frame_is_a_plain_job(engine, cat, starry):
    frame = cat.resize((64, 42), Image.Resampling.LANCZOS)
    finished = []
    [only] = stylize_sequence(engine, [frame], [starry], TINY, on_frame=lambda k, r: finished.append(k))
    plain = engine.stylize(frame, [starry], TINY)
    assert only.image.tobytes() == plain.image.tobytes() and finished == [0]


def test_progress_names_the_frame_and_every_frame_arrives_when_done(engine, still_frames, starry):
    seen, done = [], []
    stylize_sequence(engine, still_frames[:2], [starry], StyleOptions(**{**TINY.__dict__, "steps": 2}),
                     progress=seen.append, on_frame=lambda k, r: done.append((k, len(seen))))
    assert {(p.frame, p.frames) for p in seen} == {(1, 2), (2, 2)}
    assert done[0][0] == 0 and done[0][1] < len(seen)  # frame 1 arrived before frame 2's first report
    assert all(p.eta_seconds >= 0 for p in seen)


@pytest.mark.parametrize("make, field", [
    (lambda f: [], "frames"),
    (lambda f: [f[0], f[1].resize((60, 42))], "frames[1]"),
    (lambda f: [f[0], f[1], b"not decoded"], "frames[2]"),
    (lambda f: f * 2, "frames"),  # 6 frames, at most 5 below
])
def test_bad_frames_are_refused_before_any_frame_runs(engine, still_frames, starry, make, field):
    done = []
    with pytest.raises(InvalidInput) as info:
        stylize_sequence(engine, make(still_frames), [starry], TINY, max_frames=5,
                         on_frame=lambda k, r: done.append(k))
    assert info.value.field == field and done == []


def test_too_many_pixels_in_all_names_the_frames(engine, still_frames, starry):
    with pytest.raises(InvalidInput) as info:
        stylize_sequence(engine, still_frames, [starry], TINY, max_pixels=64 * 42 * 2)
    assert info.value.field == "frames" and "pixels" in info.value.message


def test_bad_sequence_options_name_the_option(engine, still_frames, starry):
    for seq, field in ((SequenceOptions(temporal_weight=-1), "temporal_weight"),
                       (SequenceOptions(later_steps=0), "later_steps")):
        with pytest.raises(InvalidInput) as info:
            stylize_sequence(engine, still_frames, [starry], TINY, sequence=seq)
        assert info.value.field == field
