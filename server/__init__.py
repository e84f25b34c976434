"""The gRPC style server, its client library (``server.client``) and the ``nst`` command line.

Importing this package, ``server.client``, ``server.events``, ``server.config`` or ``server.cli`` pulls in
neither torch nor the engine, only the torch-free nst_core.contract: client-side code must start fast inside
the GIMP plug-in's helper process (tests/nst_core/test_contract.py).
"""
from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("gimp-neural-style")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
