"""The gRPC style server, its client library (``server.client``) and the ``nst`` command line.

Importing this package, ``server.client``, ``server.events`` or ``server.config`` pulls in neither torch nor
the engine: client-side code must start fast inside the GIMP plug-in's helper process.
"""
from __future__ import annotations

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("gimp-neural-style")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
