"""Generated stubs for ``nst.v1``; regenerate with ``python -m protos.generate``."""
