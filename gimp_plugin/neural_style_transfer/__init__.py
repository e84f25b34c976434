"""The plug-in as GIMP loads it; ``nst_job`` is its GIMP-free logic (importable for tests)."""
