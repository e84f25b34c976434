"""The coarse-to-fine schedule: scales and steps per scale."""
from nst_core.schedule import scale_long_sides, steps_per_scale


def test_multiscale_schedule():
    assert scale_long_sides(512, 128, True) == [128, 256, 512]
    assert scale_long_sides(300, 128, True) == [150, 300]
    assert scale_long_sides(1024, 128, True) == [128, 256, 512, 1024]
    assert scale_long_sides(512, 128, False) == [512]
    assert scale_long_sides(100, 128, True) == [100]
    assert steps_per_scale(3, 20, 40) == [40, 40, 20]
