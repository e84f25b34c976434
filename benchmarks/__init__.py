"""Benchmarks (not tests): scripts that measure the engine, the server and the quality of results, and the
judges they share. Installed with the project, so that ``python benchmarks/<script>.py`` and the tests
import ``benchmarks.common``, ``benchmarks.judge`` … as any other package."""
