"""Write the parts of the docs that the option declarations already know: the job options' flag reference
(docs/cli.md) and the preset table (docs/engine.md), both from nst_core.contract.options.

    python scripts/gen_docs.py           # rewrite them in place
    python scripts/gen_docs.py --check   # exit 1 naming each doc that differs (tests/test_docs.py runs this)

Each part stands between ``<!-- generated: NAME -->`` and ``<!-- end generated: NAME -->`` in its doc.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from nst_core.contract.limits import MAX_SIDE
from nst_core.contract.options import DEFAULT_PRESET, PRESETS, option_defaults, option_specs

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _value(value) -> str:
    if value is None:
        return "the preset's"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "on" if value else "off"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _kind(spec) -> str:
    if spec.choices:
        return ", ".join(spec.choices)
    bounds = ""
    if spec.minimum is not None and spec.maximum is not None:
        low = ">" if spec.exclusive_minimum else ""
        bounds = f" ({low}{spec.minimum:g} to {spec.maximum:g})"
    return {"int": "N", "float": "X", "bool": "(on/off)", "layers": "LAYER,…", "floats": "X,…"}[spec.kind] + bounds


def flags() -> str:
    """The job options as `nst stylize` flags, in declaration order."""
    rows = ["| flag | value | default | what it does |", "|---|---|---|---|"]
    defaults = option_defaults()
    for name, spec in option_specs().items():
        if not spec.cli:
            continue
        flag = f"--{name.replace('_', '-')}" + ("/--no-" + name.replace("_", "-") if spec.kind == "bool" else "")
        help_text = spec.help.replace("|", "\\|")
        rows.append(f"| `{flag}` | {_kind(spec)} | {_value(defaults[name])} | {help_text} |")
    return "\n".join(rows)


def presets() -> str:
    rows = ["| preset | dialog label | max size | final steps | coarse steps | α | β | TV | what for |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, p in PRESETS.items():
        size = "the content's own" if p.max_size >= MAX_SIDE else str(p.max_size)
        default = " (default)" if name == DEFAULT_PRESET else ""
        rows.append(f"| `{name}`{default} | {p.label} | {size} | {p.steps} | {p.coarse_steps} | {p.content_weight:g} "
                    f"| {p.style_weight:g} | {p.tv_weight:g} | {p.help} |")
    return "\n".join(rows)


PARTS = {"cli.md": {"flags": flags}, "engine.md": {"presets": presets}}


def render(text: str, parts: dict) -> str:
    for name, make in parts.items():
        pattern = re.compile(rf"(<!-- generated: {name} -->\n)(?:.*?\n)?(<!-- end generated: {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"no generated part {name!r} in the doc")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only say which docs differ from what is generated")
    args = ap.parse_args(argv)
    stale = []
    for doc, parts in PARTS.items():
        path = DOCS / doc
        text = path.read_text(encoding="utf-8")
        new = render(text, parts)
        if new != text:
            stale.append(doc)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"docs differ from their declarations: {', '.join(stale)}; run python scripts/gen_docs.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
