"""Upper bounds the engine accepts, shared by the option checks, the server and its Describe (no torch).

Each bound keeps a count inside the wire types it travels in (uint32 progress fields, int32 options) and a
job's cost finite; none is near what a real job needs.
"""
from __future__ import annotations

DEFAULT_MAX_PIXELS = 64 * 1024 * 1024  # 64 MP per image: an 8192 x 8192 image is exactly at the limit
MAX_STEPS = 10_000  # optimizer steps per scale
MAX_SIDE = 65_536  # max_size / min_size, pixels
MAX_STYLE_SCALE = 4.0  # bounds the style image's memory to 16x the content's working size
MAX_SEED = 2**63 - 1  # the proto's int64
MAX_STYLE_IMAGES = 16  # style images per job (and so style_blend values)
# Loss weights: at these maxima, all together, L-BFGS from noise still converges in float32
# (tests/nst_core/test_engine.py runs it); at 5x the style's, its third step overflowed to inf.
MAX_WEIGHT = 1e6  # content_weight, style_weight, tv_weight, and style_weight x style_strength x a layer's weight
MAX_FACTOR = 1e3  # style_strength and each style_layer_weights entry (their product with style_weight: MAX_WEIGHT)
MAX_BLEND = 1e6  # each style_blend entry (the blend is normalized; this keeps its sum finite)
MAX_REGIONS = 8  # regions per job (each costs a guided Gram matrix per style layer and a mask per scale)
MAX_REGION_STRENGTH = MAX_FACTOR  # a region's strength multiplies its style term like style_strength
