"""What several benchmarks share: encoding test pictures and starting `nst serve` in a child process."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def png(array: np.ndarray) -> bytes:
    """An encoded PNG of an HxW(x3) uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def serve(args: Sequence[str], log_path: Path, *, prefix: Sequence[str] = (), env: Optional[dict] = None,
          timeout: float = 600.0) -> tuple[subprocess.Popen, str]:
    """Start ``python -m server serve ARGS`` (after ``prefix``, e.g. ``taskset -c 1``) with its log appended
    to ``log_path``; wait until it listens. Returns the process and the address it listens on. No token or
    server address from this environment reaches it."""
    env = dict(os.environ if env is None else env, PYTHONUNBUFFERED="1")
    env.pop("NST_TOKEN", None)
    env.pop("NST_SERVER", None)
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "a") as log:
        process = subprocess.Popen([*prefix, sys.executable, "-m", "server", "serve", *args],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text()[offset:]
        for line in text.splitlines():
            if line.startswith("listening on ") or " listening on " in line:
                return process, line.split("listening on ", 1)[1].strip()
        if process.poll() is not None:
            raise SystemExit(f"the server exited before listening:\n{text}")
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"the server did not listen within {timeout:.0f} s; see {log_path}")
