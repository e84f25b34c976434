"""Generate the Python stubs for ``protos/nst/v1/*.proto`` with grpcio-tools.

Usage: ``python -m protos.generate [OUT_DIR]`` (default: the ``protos`` package itself). The stubs are
committed so that a plain ``pip install`` needs no code generation; ``tests/server/test_proto.py``
regenerates into a temporary folder and checks the committed files match.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = ("nst/v1/style.proto",)
GENERATED = ("nst/v1/style_pb2.py", "nst/v1/style_pb2.pyi", "nst/v1/style_pb2_grpc.py")

# protoc writes imports relative to the proto root (``from nst.v1 import …``); installed, the stubs live
# inside the ``protos`` package, so the import must name it.
_IMPORT = re.compile(r"^from nst\.(\S+) import ", re.MULTILINE)


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    from grpc_tools import protoc  # a dev dependency: only needed to regenerate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *PROTO_FILES,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError("protoc failed; see the messages above")
    written = []
    for name in GENERATED:
        path = out_dir / name
        path.write_text(_IMPORT.sub(r"from protos.nst.\1 import ", path.read_text()))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for path in generate(Path(argv[0]) if argv else PROTO_ROOT):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
