"""The torch-free contract (nst_core.contract) and the client side built on it import no torch, no PIL, no
numpy and no engine, and leave the process's environment as it was."""
import subprocess
import sys

CHECK = """
import importlib, os, pkgutil, sys

class Refuse:  # torch and the engine's other libraries cannot be imported at all in this process
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "PIL", "numpy"):
            raise ImportError(f"{name} is blocked: the contract must not need it")

sys.meta_path.insert(0, Refuse())
before = dict(os.environ)
import nst_core.contract
for module in pkgutil.iter_modules(nst_core.contract.__path__):
    importlib.import_module(f"nst_core.contract.{module.name}")
for name in ("server.client", "server.cli", "server.events", "server.plugin_bridge", "gimp_plugin.installer"):
    importlib.import_module(name)
assert dict(os.environ) == before, set(os.environ.items()) ^ set(before.items())
assert "nst_core.engine" not in sys.modules
"""


def test_the_contract_and_the_client_side_import_without_torch(tmp_path):
    run = subprocess.run([sys.executable, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
