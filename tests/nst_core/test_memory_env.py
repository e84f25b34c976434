"""Large CPU tensors on transparent huge pages in every process that runs the engine.

Torch fixes its allocator's huge-page setting at its first tensor, whatever its size; nst_core.memory sets
it, so no nst_core module may make a tensor at import (one in nst_core.images did, and a 12 MP job then
spent a fifth of its CPU time in the kernel's page faults: docs/precision.md). With the setting on, torch
aligns large allocations to the page (4 KiB); without it, to 64 bytes: that is what a fresh interpreter
checks here, after importing the engine the way the server and the CLI do.
"""
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

PROBE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import torch
large = [torch.empty(2 ** 20 + 1000 * i) for i in range(10)]
print(sum(t.data_ptr() % 4096 == 0 for t in large))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="transparent huge pages are Linux's")
@pytest.mark.parametrize("modules", [["nst_core.engine"], ["server.cli", "server.service", "nst_core.engine"],
                                     ["nst_core.images", "nst_core.compose", "nst_core.engine"]],
                         ids=["engine", "server", "images-first"])
def test_the_engine_process_allocates_large_tensors_on_huge_pages(modules):
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    done = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "10", f"large tensors not page-aligned after importing {modules}"
