"""The coarse-to-fine schedule: scales and steps per scale."""
from nst_core.contract.schedule import scale_long_sides, steps_per_scale


def test_multiscale_schedule():
    assert scale_long_sides(512, 128, True) == [128, 256, 512]
    assert scale_long_sides(300, 128, True) == [150, 300]
    assert scale_long_sides(1024, 128, True) == [128, 256, 512, 1024]
    assert scale_long_sides(512, 128, False) == [512]
    assert scale_long_sides(100, 128, True) == [100]
    # The coarsest scale gets twice the coarse steps (cheap, and where the layout forms).
    assert steps_per_scale([128, 256, 512], 20, 40) == [80, 40, 20]
    assert steps_per_scale([128, 256], 30, 40) == [80, 30] and steps_per_scale([256], 30, 40) == [30]
    # … only while it is cheap: a 451 px job's coarsest scale is 226 px, a quarter of a final step per step.
    assert steps_per_scale([191, 382], 20, 30) == [60, 20] and steps_per_scale([226, 451], 20, 30) == [30, 20]
    assert steps_per_scale([300, 600], 20, 30, min_size=256) == [60, 20]
    # Above 512 px a coarse scale gets half the steps per doubling, never fewer than the final scale's.
    assert steps_per_scale([128, 256, 512, 1024, 2048, 4096], 10, 40) == [80, 40, 40, 20, 10, 10]
    assert steps_per_scale([256, 512, 1024, 2048, 4096, 8192], 4, 40, min_size=256) == [80, 40, 20, 10, 5, 4]
    assert steps_per_scale([128, 256, 512, 1024], 40, 60) == [120, 60, 60, 40]
    assert steps_per_scale([128, 256, 512], 20, 0) == [0, 0, 20]  # 0 still skips them


def test_a_style_gets_the_contents_pixel_count_whatever_its_aspect_ratio():
    from nst_core.contract.schedule import style_size

    # A portrait painting under a landscape photo keeps the photo's texture density (not its long side).
    w, h = style_size((900, 1200), (256, 160), 1.0, 16, "styles[0]")
    assert (w, h) == (175, 234) and abs(w * h - 256 * 160) / (256 * 160) < 0.02
    assert style_size((900, 1200), (256, 160), 2.0, 16, "styles[0]") == (351, 467)
    assert style_size((300, 400), (4000, 3000), 1.0, 16, "styles[0]") == (300, 400)  # never blown up
