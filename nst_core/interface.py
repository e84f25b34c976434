"""What a caller (the server) needs from an engine, as a type: ``nst_core.engine.Engine`` satisfies it,
and tests may pass a stand-in with the same shape. No torch at import."""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Protocol

if TYPE_CHECKING:
    from .cache import TargetCache
    from .engine import StyleResult
    from .contract.progress import CancelToken, ProgressCallback
    from .contract.spec import JobSpec
    from .weights import WeightsInfo


class StyleEngine(Protocol):
    device: str  # "cpu", "cuda", "cuda:1", "mps"
    weights_info: "WeightsInfo"

    def run(self, job: "JobSpec", *, progress: Optional["ProgressCallback"] = None,
            cancel: Optional["CancelToken"] = None, style_cache: Optional["TargetCache"] = None) -> "StyleResult":
        """Run one checked job (its images decoded) within the engine's memory budget; raises the errors of
        ``nst_core.contract.errors``."""

    def with_memory_budget(self, memory_budget_mb: Optional[int]) -> "StyleEngine":
        """The same loaded engine with another budget (MiB; None: the device's default)."""

    def memory_budget_bytes(self) -> int:
        """The budget a job would get now: the configured one, or the device's default."""

    def warm_up(self) -> None:
        """One small pass so the first job pays no one-time setup."""
