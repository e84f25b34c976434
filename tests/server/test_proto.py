"""The proto package: lint, reproducible committed stubs, import paths, a light client import."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import protos
from protos.generate import GENERATED, generate

REPO = Path(__file__).resolve().parents[2]
PROTOS = Path(protos.__file__).resolve().parent


def _buf() -> str:
    found = shutil.which("buf", path=str(Path(sys.executable).parent)) or shutil.which("buf")
    assert found, "the buf CLI is missing: install the dev extra (buf-bin)"
    return found


def test_buf_lint_standard_passes():
    run = subprocess.run([_buf(), "lint", str(PROTOS)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr


def test_committed_stubs_match_a_fresh_generation(tmp_path):
    generate(tmp_path)
    for name in GENERATED:
        fresh = (tmp_path / name).read_text()
        committed = (PROTOS / name).read_text()
        assert fresh == committed, f"{name} is stale: run `python -m protos.generate`"


def test_stubs_import_through_the_package_from_anywhere(tmp_path):
    # From an unrelated folder only the installed/package path can resolve the stubs' own imports.
    code = ("from protos.nst.v1 import style_pb2, style_pb2_grpc; "
            "print(style_pb2.DESCRIPTOR.services_by_name['StyleService'].full_name)")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "nst.v1.StyleService"
    grpc_stub = (PROTOS / "nst/v1/style_pb2_grpc.py").read_text()
    assert "from protos.nst.v1 import style_pb2" in grpc_stub
