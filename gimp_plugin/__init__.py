"""The GIMP 3 plug-in "Filters ▸ Artistic ▸ Neural Style Transfer…" and its installer.

``neural_style_transfer/`` is copied as is into GIMP's ``plug-ins`` folder; ``installer`` does that.
"""
import os

PLUGIN_NAME = "neural_style_transfer"  # GIMP 3 wants plug-ins/<name>/<name>.py
PLUGIN_SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), PLUGIN_NAME)
