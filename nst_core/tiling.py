"""The loss and its gradient over a whole image, computed tile by tile.

The optimizer always sees one whole image; only the network runs on pieces of it. The image is cut into a
grid of *inner regions* that partition it; each tile runs the network on a *window*: its inner region plus
a *halo* of context on every side (clipped at the image's edges). All cuts lie on multiples of the deepest
layer's stride (16 px for relu5_1), so the inner regions also partition every layer's activations exactly.

The loss terms, and why tiling them needs two passes:

* content and total variation are sums of local terms: a tile contributes the terms of its inner region
  (normalized by the whole image's counts), and the gradient of that share is the tile's part of theirs.
* style is *not* a sum over tiles: ``L_s = Σ_l w_l · mean((G_l − A_l)²)`` with the global Gram matrix
  ``G_l = Σ_t F_t F_tᵀ / N_l`` (``F_t`` the layer's activations in tile t's inner region, ``N_l`` the
  layer's element count over the whole image). Its gradient ``dL_s/dF_t = 2 · D_l F_t / N_l`` with
  ``D_l = w_l · 2 (G_l − A_l) / C_l²`` depends on the *global* G. So

  1. pass 1 runs every tile forward without gradients and accumulates ``Σ_t F_t F_tᵀ`` per layer, which
     gives every ``G_l`` exactly, hence the style loss and ``D_l``;
  2. pass 2 runs every tile forward again with gradients and back-propagates the surrogate
     ``Σ_l <D_l, F_t F_tᵀ> / N_l`` (whose gradient is the exact style gradient of that tile) plus the
     tile's content and TV shares; each window's input gradient is added into the image's gradient.

  The last tile of pass 1 keeps its graph and is back-propagated as soon as ``D`` is known, so a step
  runs n forwards with gradients and n − 1 without. With one tile this is the ordinary loss and gradient.

  *Kept tiles* (``keep_net``, when the plan finds room for them): pass 1 runs every tile forward with the
  compact backward record of :mod:`nst_core.lean` (≈ 0.8 KB per window pixel, where autograd's step peaks
  at 2.5 KB) and keeps all of them; pass 2 is then backward only. Pass 1 without a record costs about 40 %
  of a step on the CPU; keeping records makes a tiled step cost its windows' pixels and little more.
  Skipping pass 1 with Grams predicted from earlier steps was measured and rejected: the prediction misses
  by 10–70 % of ``G − A`` at Adam's step sizes, and the results came out 10 % (lr 2) to 74 % (lr 5) higher
  in loss (docs/engine.md "Tiled optimization").

Exactness: an inner region's activations are exact when the halo covers the deepest layer's context
(:func:`nst_core.contract.layers.context`, 70 px for relu5_1); then the tiled loss and gradient equal the untiled
ones up to float rounding. A smaller halo (the job's default, see ``DEFAULT_HALO``) perturbs the deepest
layers' activations near inner edges slightly; moving the cuts randomly between steps keeps those small
errors from piling up along fixed lines (no seams).
"""
from __future__ import annotations

import hashlib

from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Union

import torch

from .contract.layers import context, downsample
from .losses import Box, gram_matrix

#: ``net(image, layer_names) -> activations``: the engine's feature extractor on an RGB 0..255 image.
Net = Callable[[torch.Tensor, Sequence[str]], Mapping[str, torch.Tensor]]
#: Called after each tile pass with (passes done, passes in the step, the tile, whether it ran backward);
#: it may raise (cancel), which abandons the step.
TileCallback = Callable[[int, int, "Tile", bool], None]


@dataclass(frozen=True)
class Tile:
    """An inner region ``[y0, y1) × [x0, x1)`` and the window ``[wy0, wy1) × [wx0, wx1)`` the net sees."""

    y0: int
    y1: int
    x0: int
    x1: int
    wy0: int
    wy1: int
    wx0: int
    wx1: int

    @property
    def window_pixels(self) -> int:
        return (self.wy1 - self.wy0) * (self.wx1 - self.wx0)

    def window(self, image: torch.Tensor) -> torch.Tensor:
        return image[:, :, self.wy0:self.wy1, self.wx0:self.wx1]

    def box(self, activations: torch.Tensor, stride: int) -> Box:
        """Rows and columns of the inner region in a window's activations at a layer with this stride."""
        h, w = activations.shape[2:]
        r0, c0 = (self.y0 - self.wy0) // stride, (self.x0 - self.wx0) // stride
        # Cuts inside the image are multiples of the stride; at the image's edge the window ends there too.
        r1 = (self.y1 - self.wy0) // stride if self.y1 < self.wy1 else h
        c1 = (self.x1 - self.wx0) // stride if self.x1 < self.wx1 else w
        return r0, r1, c0, c1

    def crop(self, activations: torch.Tensor, stride: int) -> torch.Tensor:
        """The inner region of a window's activations at a layer with the given stride."""
        r0, r1, c0, c1 = self.box(activations, stride)
        return activations[:, :, r0:r1, c0:c1]

    def inner_gram(self, activations: torch.Tensor, stride: int) -> tuple[torch.Tensor, int]:
        """The inner region's Gram matrix (float32) and its element count."""
        r0, r1, c0, c1 = box = self.box(activations, stride)
        return gram_matrix(activations, box), activations.shape[1] * (r1 - r0) * (c1 - c0)

    def inner_grams(self, activations: torch.Tensor, stride: int,
                    guide: Optional[torch.Tensor] = None) -> list[Optional[tuple[torch.Tensor, float]]]:
        """Per guide, the inner region's guided Gram matrix and mass (C × the mask's sum there), or None where
        the guide is zero in this tile. ``guide``: the whole image's (G, 1, h, w) weights at this layer; None:
        one plain Gram matrix. Each guide's Gram runs only over the box where it is non-zero, so regions that
        split the picture cost about what one plain Gram matrix does."""
        if guide is None:
            return [self.inner_gram(activations, stride)]
        r0, _, c0, _ = self.box(activations, stride)
        maps = self.global_crop(guide, stride)
        channels, out = activations.shape[1], []
        for g in range(maps.shape[0]):
            m = maps[g, 0]
            rows, cols = torch.nonzero(m.amax(1) > 0), torch.nonzero(m.amax(0) > 0)
            if rows.numel() == 0:
                out.append(None)
                continue
            a, b, ca, cb = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
            weight = m[a:b, ca:cb]
            box = (r0 + a, r0 + b, c0 + ca, c0 + cb)
            if bool((weight == 1).all()):  # inside the region: the plain Gram (the same numbers, less work)
                out.append((gram_matrix(activations, box), float(channels * (b - a) * (cb - ca))))
            else:
                out.append((gram_matrix(activations, box, weight),
                            channels * float(weight.sum(dtype=torch.float64))))
        return out

    def global_crop(self, activations: torch.Tensor, stride: int) -> torch.Tensor:
        """The same region of whole-image activations (the content targets)."""
        h, w = activations.shape[2:]
        r1 = self.y1 // stride if self.y1 < self.wy1 else h
        c1 = self.x1 // stride if self.x1 < self.wx1 else w
        return activations[:, :, self.y0 // stride:r1, self.x0 // stride:c1]


def tile_generator(seed: int, stage: int) -> torch.Generator:
    """The random source of one scale's tile cuts: a job's cuts follow from its seed."""
    # Hashed, not multiplied: any int64 seed stays in torch's range, and torch's CPU generator keeps only the
    # low 32 bits of a seed, which a hash mixes every bit of the seed and the stage into.
    digest = hashlib.sha256(f"{seed}:{stage}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") % 2**63)


def cuts(length: int, count: int, align: int, jitter: int = 0,
         generator: Optional[torch.Generator] = None) -> list[int]:
    """``count`` pieces of [0, length): boundaries near multiples of length/count, each moved by up to
    ±``jitter`` px (random from ``generator``) and rounded to ``align``; every piece at least ``align``."""
    if count <= 1:
        return [0, length]
    bounds = [0]
    for k in range(1, count):
        nominal = k * length / count
        shift = 0.0
        if jitter and generator is not None:
            shift = (torch.rand((), generator=generator).item() * 2 - 1) * jitter
        b = int(round((nominal + shift) / align)) * align
        bounds.append(min(max(b, bounds[-1] + align), length - align * (count - k)))
    bounds.append(length)
    return bounds


def grid(height: int, width: int, rows: int, cols: int, *, halo: int, align: int, jitter: int = 0,
         generator: Optional[torch.Generator] = None) -> list[Tile]:
    """Tiles covering a ``height × width`` image; one tile (no halo) when rows = cols = 1."""
    ys = cuts(height, rows, align, jitter, generator)
    xs = cuts(width, cols, align, jitter, generator)
    tiles = []
    for y0, y1 in zip(ys, ys[1:]):
        for x0, x1 in zip(xs, xs[1:]):
            tiles.append(Tile(y0, y1, x0, x1, max(0, y0 - halo), min(height, y1 + halo),
                              max(0, x0 - halo), min(width, x1 + halo)))
    return tiles


def max_piece(length: int, count: int, align: int, jitter: int) -> int:
    """Upper bound of a piece's length from :func:`cuts` (for memory planning)."""
    if count <= 1:
        return length
    return min(length, -(-length // count) + 2 * jitter + 2 * align)


def exact_halo(layers: Sequence[str], align: int, pooling: str = "max") -> int:
    """The smallest aligned halo with which tiles reproduce the whole image's activations exactly."""
    reach = max(context(n, pooling) for n in layers)
    return -(-reach // align) * align


# -- forward-only passes (targets) ------------------------------------------------------------------------

def accumulate_grams(net: Net, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile],
                     on_tile: Optional[TileCallback] = None) -> dict[str, torch.Tensor]:
    """Gram matrices ``F Fᵀ / N`` of the whole image, summed over the tiles' inner regions (exact when the
    tiles' halo is :func:`exact_halo`)."""
    sums = _GramSums(layers)
    for i, tile in enumerate(tiles, start=1):
        sums.add_tile(net, image, tile)
        if on_tile is not None:
            on_tile(i, len(tiles), tile, False)
    return {layer: sums.gram(layer) for layer in layers}


def assemble_features(net: Net, image: torch.Tensor, layers: Sequence[str], tiles: Sequence[Tile],
                      on_tile: Optional[TileCallback] = None) -> dict[str, torch.Tensor]:
    """Whole-image activations assembled from the tiles' inner regions (no gradients)."""
    if len(tiles) == 1:
        with torch.no_grad():
            out = dict(net(image, layers))
        if on_tile is not None:
            on_tile(1, 1, tiles[0], False)
        return out
    h, w = image.shape[2:]
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for i, tile in enumerate(tiles, start=1):
            feats = net(tile.window(image), layers)
            for layer in layers:
                d = downsample(layer)
                part = tile.crop(feats[layer], d)
                if layer not in out:
                    out[layer] = part.new_empty((1, part.shape[1], h // d, w // d))
                tile.global_crop(out[layer], d).copy_(part)
            del feats
            if on_tile is not None:
                on_tile(i, len(tiles), tile, False)
    return out


# -- the objective ------------------------------------------------------------------------------------------

@dataclass
class Weights:
    """What the objective weighs: α, β, TV, the style layers' own weights and the content layers' (each
    content layer's term is averaged over the layers, times its factor here; absent: 1). With guides, each
    style layer has one weight per guide."""

    content: float
    style: float
    tv: float
    style_layers: Mapping[str, Union[float, Sequence[float]]]
    content_layers: Optional[Mapping[str, float]] = None


class TiledObjective:
    """Loss and gradient of α·content + β·style + tv·TV for a whole image, tile by tile (see module doc).

    ``guides`` (regions): per style layer the whole image's (G, 1, h, w) guide weights at that layer's
    resolution; then ``style_targets[layer]`` and ``weights.style_layers[layer]`` hold one target and one
    weight per guide, and the style term is ``Σ_l Σ_g w_lg · mean((G_lg − A_lg)²)`` over guided Gram matrices
    (:meth:`Tile.inner_grams`). The sums per tile add up to the whole image's exactly as plain ones do.
    """

    def __init__(self, net: Net, content_targets: Mapping[str, torch.Tensor],
                 style_targets: Mapping[str, Union[torch.Tensor, Sequence[torch.Tensor]]], weights: Weights,
                 keep_net: Optional[Net] = None, guides: Optional[Mapping[str, torch.Tensor]] = None):
        self.net = net
        self.keep_net = keep_net  # the same network with a compact backward record (nst_core.lean), or None
        self.content_targets = content_targets
        self.w = weights
        self.guides = guides
        self.style_layers = list(weights.style_layers)
        if guides is None:
            self.targets = {layer: [style_targets[layer]] for layer in self.style_layers}
            self.layer_weights = {layer: [w] for layer, w in weights.style_layers.items()}
        else:
            self.targets = {layer: list(style_targets[layer]) for layer in self.style_layers}
            self.layer_weights = {layer: list(w) for layer, w in weights.style_layers.items()}
        self.layers = sorted(set(content_targets) | set(self.style_layers))

    def __call__(self, image: torch.Tensor, tiles: Sequence[Tile],
                 on_tile: Optional[TileCallback] = None) -> tuple[dict[str, float], torch.Tensor]:
        """``(weighted loss terms, gradient w.r.t. image)``; ``image`` itself is not modified."""
        height, width = image.shape[2:]
        keep = self.keep_net is not None
        passes = 2 * len(tiles) - (0 if keep else 1)
        done = 0

        def tick(tile: Tile, backward: bool) -> None:
            nonlocal done
            done += 1
            if on_tile is not None:
                on_tile(done, passes, tile, backward)

        # Pass 1: the global Gram matrices. Graphs kept for pass 2: every tile's compact one (keep), or the
        # last tile's.
        sums = _GramSums(self.style_layers, self.guides)
        graphs = []
        if keep:
            for tile in tiles:
                graphs.append((tile, self._forward(image, tile, single=False, sums=sums, net=self.keep_net)))
                tick(tile, False)
        else:
            for tile in tiles[:-1]:
                sums.add_tile(self.net, image, tile)
                tick(tile, False)
            graphs.append((tiles[-1], self._forward(image, tiles[-1], single=len(tiles) == 1, sums=sums)))
            graphs += [(tile, None) for tile in tiles[:-1]]
        directions = self._directions(sums)

        # Pass 2: back-propagate each tile's share, those with a graph first.
        grad = None if len(tiles) == 1 else torch.zeros_like(image)
        content_value = tv_value = 0.0
        graphs.reverse()  # popped from the end: each graph is freed once its tile is done
        while graphs:
            tile, graph = graphs.pop()
            if graph is None:
                graph = self._forward(image, tile, single=False, sums=None)
            window, feats, grams = graph
            style_share = sum((direction * gram * n).sum() for layer, per_guide in grams.items()
                              for direction, item in zip(directions[layer], per_guide)
                              if item is not None and direction is not None
                              for gram, n in (item,))
            content_share = self._content_share(feats, tile)
            tv_share = _tv_share(window, tile, height, width)
            share = self.w.style * style_share + self.w.content * content_share + self.w.tv * tv_share
            share.backward()
            content_value += float(content_share.detach())
            tv_value += float(tv_share.detach())
            if len(tiles) == 1:
                grad = window.grad
            else:
                tile.window(grad).add_(window.grad)
            del feats, grams, share, window, graph
            tick(tile, True)
        style_value = 0.0
        for layer in self.style_layers:
            for g, (layer_weight, target) in enumerate(zip(self.layer_weights[layer], self.targets[layer])):
                if sums.counts[layer][g] > 0 and target is not None:
                    style_value += layer_weight * float((sums.gram(layer, g) - target).pow(2).mean())
        terms = {"content": self.w.content * content_value, "style": self.w.style * style_value,
                 "tv": self.w.tv * tv_value}
        terms["total"] = terms["content"] + terms["style"] + terms["tv"]
        return terms, grad

    def _forward(self, image: torch.Tensor, tile: Tile, single: bool, sums: Optional["_GramSums"],
                 net: Optional[Net] = None):
        """``(leaf window, activations, {layer: (inner Gram, count)})`` with a graph; adds into ``sums``."""
        view = image.detach() if single else tile.window(image.detach())
        window = view.requires_grad_(True)
        feats = (net or self.net)(window, self.layers)
        grams = {}
        for layer in self.style_layers:
            guide = self.guides[layer] if self.guides is not None else None
            grams[layer] = tile.inner_grams(feats[layer], downsample(layer), guide)
            if sums is not None:
                for g, item in enumerate(grams[layer]):
                    if item is not None:
                        sums.add(layer, item[0].detach(), item[1], g)
        return window, feats, grams

    def _directions(self, sums: "_GramSums") -> dict[str, list[Optional[torch.Tensor]]]:
        """``D_lg / N_lg`` for every style layer and guide: what a tile's inner Gram is weighed with in the
        surrogate (None: no term)."""
        directions = {}
        for layer in self.style_layers:
            directions[layer] = []
            for g, (layer_weight, target) in enumerate(zip(self.layer_weights[layer], self.targets[layer])):
                count = sums.counts[layer][g]
                if count <= 0 or target is None or layer_weight == 0:
                    directions[layer].append(None)
                    continue
                diff = sums.gram(layer, g) - target
                directions[layer].append((layer_weight * 2.0 / diff.numel()) * diff / count)
        return directions

    def _content_share(self, feats, tile: Tile) -> torch.Tensor:
        total = None
        for layer, target in self.content_targets.items():
            d = downsample(layer)
            diff = tile.crop(feats[layer], d).float() - tile.global_crop(target, d)
            term = diff.pow(2).sum() / target.numel()
            if self.w.content_layers is not None:
                term = term * self.w.content_layers[layer]
            total = term if total is None else total + term
        return total / len(self.content_targets)


class _GramSums:
    """``Σ_t F_t F_tᵀ`` (per guide: ``Σ_t Σ_p w_p f_p f_pᵀ``) and the element counts (masses) per layer,
    over the tiles' inner regions."""

    def __init__(self, layers: Sequence[str], guides: Optional[Mapping[str, torch.Tensor]] = None):
        self.guides = guides
        groups = {layer: 1 if guides is None else guides[layer].shape[0] for layer in layers}
        self.sums: dict[str, list[Optional[torch.Tensor]]] = {layer: [None] * groups[layer] for layer in layers}
        self.counts: dict[str, list[float]] = {layer: [0] * groups[layer] for layer in layers}

    def add(self, layer: str, gram: torch.Tensor, n: float, group: int = 0) -> None:
        if n == 0:
            return
        term = gram * n
        sums = self.sums[layer]
        sums[group] = term if sums[group] is None else sums[group] + term
        self.counts[layer][group] += n

    def add_tile(self, net: Net, image: torch.Tensor, tile: Tile) -> None:
        """Adds a tile's inner Grams, from a forward pass without gradients."""
        with torch.no_grad():
            feats = net(tile.window(image), list(self.sums))
            for layer in self.sums:
                guide = self.guides[layer] if self.guides is not None else None
                for g, item in enumerate(tile.inner_grams(feats[layer], downsample(layer), guide)):
                    if item is not None:
                        self.add(layer, *item, g)

    def gram(self, layer: str, group: int = 0) -> torch.Tensor:
        return self.sums[layer][group] / self.counts[layer][group]


def _tv_share(window: torch.Tensor, tile: Tile, height: int, width: int) -> torch.Tensor:
    """The tile's part of ``mean(dy²) + mean(dx²)``: the differences whose first pixel is in its inner region."""
    r0, c0 = tile.y0 - tile.wy0, tile.x0 - tile.wx0
    r1, c1 = tile.y1 - tile.wy0, tile.x1 - tile.wx0
    last_r, last_c = min(tile.y1, height - 1) - tile.wy0, min(tile.x1, width - 1) - tile.wx0
    dy = window[:, :, r0 + 1:last_r + 1, c0:c1] - window[:, :, r0:last_r, c0:c1]
    dx = window[:, :, r0:r1, c0 + 1:last_c + 1] - window[:, :, r0:r1, c0:last_c]
    channels = window.shape[1]
    return dy.pow(2).sum() / (channels * (height - 1) * width) + dx.pow(2).sum() / (channels * height * (width - 1))
