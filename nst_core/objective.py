"""The job's objective at one scale: the loss terms' weights, the guided terms of regions, and the check
that the optimization stayed within float32.

Every term is scale-free: each style layer's ‖G − A‖² relative to its target's ‖A‖², each content layer's
‖F − P‖² relative to ‖P‖², TV relative to the content's own at this scale. So no layer drowns the others
(raw Gram magnitudes differ by orders between layers and with the style), and the weights mean the same for
every picture and scale (docs/engine.md "Method").
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch

from . import losses, tiling
from .contract.errors import InvalidInput
from .contract.options import ResolvedOptions
from .contract.spec import Region
from .regions import guides_at, region_shares

#: How masks become per-layer guides: ``guides(masks, size, layers, device) -> {layer: maps}``.
Guides = Callable[..., dict[str, torch.Tensor]]
#: Each loss term and the option that weighs it (named when the term overflows).
TERM_OPTIONS = {"style": "style_weight", "content": "content_weight", "tv": "tv_weight"}


def relative(target: torch.Tensor) -> float:
    """The factor that makes a term relative to its target's own mean square."""
    return 1.0 / max(float(target.float().pow(2).mean()), 1e-30)


def term_weights(opts: ResolvedOptions, content_targets, style_targets, content: torch.Tensor,
                 shares: Optional[dict[str, list[float]]] = None,
                 strengths: Optional[Sequence[float]] = None) -> tiling.Weights:
    """α, β × strength and TV on scale-free terms (see the module doc).

    Regions (``shares``: per style layer each guide's share of the picture there; ``style_targets``: per
    layer one target per guide; ``strengths``: each guide's strength): each guide's term is relative to its
    own target and weighted by its share times its strength, so a region covering the whole picture is the
    plain job, and halves of a picture each count half."""
    if shares is None:
        style_layers = {layer: w * relative(style_targets[layer])
                        for layer, w in zip(opts.style_layers, opts.style_layer_weights)}
    else:
        style_layers = {layer: [w * share * strength * relative(target)
                                for share, strength, target in zip(shares[layer], strengths, style_targets[layer])]
                        for layer, w in zip(opts.style_layers, opts.style_layer_weights)}
    content_layers = {layer: relative(t) for layer, t in content_targets.items()}
    tv = opts.tv_weight / max(float(losses.tv_loss(content)), 1.0)  # a flat content has no TV of its own
    return tiling.Weights(opts.content_weight, opts.style_weight * opts.style_strength, tv, style_layers,
                          content_layers)


def build(net: tiling.Net, opts: ResolvedOptions, content: torch.Tensor, content_targets,
          targets: Sequence[Optional[dict[str, torch.Tensor]]], groups: Sequence[Region] = (),
          keep_net: Optional[tiling.Net] = None, guides: Guides = guides_at) -> tiling.TiledObjective:
    """The objective at the scale of ``content`` (the content as the optimization sees it). ``targets``: per
    style group its blended target Grams (None: no styles there); ``groups``: the job's style groups
    (nst_core.contract.spec), the main one first, when it has regions: one guide per group that has styles,
    made by ``guides`` (nst_core.regions.guides_at; benchmarks/bench_regions.py compares other ways)."""
    if len(groups) <= 1:
        weights = term_weights(opts, content_targets, targets[0], content)
        return tiling.TiledObjective(net, content_targets, targets[0], weights, keep_net)
    size = (content.shape[3], content.shape[2])
    maps = guides([group.mask for group in groups[1:]], size, opts.style_layers, content.device)
    styled = [g for g, grams in enumerate(targets) if grams is not None]
    maps = {layer: layer_maps[styled] for layer, layer_maps in maps.items()}
    per_layer = {layer: [targets[g][layer] for g in styled] for layer in opts.style_layers}
    weights = term_weights(opts, content_targets, per_layer, content, region_shares(maps),
                           [groups[g].strength for g in styled])
    return tiling.TiledObjective(net, content_targets, per_layer, weights, keep_net, maps)


def check_finite(losses: dict[str, float], image: torch.Tensor, size: tuple[int, int], step: int) -> None:
    """Past float32's range a loss or the image turns inf or NaN, and the result would be a black picture
    reported as a success: fail instead, naming the weight of the term that overflowed (or the largest)."""
    if all(math.isfinite(v) for v in losses.values()) and bool(torch.isfinite(image).all()):
        return
    overflowed = [term for term in TERM_OPTIONS if not math.isfinite(losses.get(term, 0.0))]
    term = overflowed[0] if overflowed else max(TERM_OPTIONS, key=lambda t: abs(losses.get(t, 0.0)))
    option = TERM_OPTIONS[term] + (" (or style_strength, style_layer_weights)" if term == "style" else "")
    raise InvalidInput(TERM_OPTIONS[term], f"the optimization diverged at step {step} of the {size[0]}×{size[1]} "
                                           f"scale (the {term} loss is {losses.get(term)}): the weights are past "
                                           f"what float32 arithmetic holds; lower {option}")
