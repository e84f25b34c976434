"""The torch-free contract between the engine and its callers: what a client, the CLI's argument parsing,
the GIMP plug-in's bridge and its installer share with the engine.

``errors`` (what the engine raises), ``limits`` (its bounds), ``options`` (every job option with its
checks and presets), ``spec`` (a job's intake: styles, regions, the checked :class:`spec.JobSpec`),
``progress`` (reports and cancellation), ``layers`` (VGG19's layer names), ``schedule`` (the scales a job
runs) and ``heap`` (giving freed memory back). Standard library only: nothing here imports torch, PIL or
numpy, or touches the environment (``tests/nst_core/test_contract.py`` imports it with torch blocked).
"""
