"""Deadlines for blocking gRPC steps that have no timeout of their own (receiving a request, sending a message).

One thread serves every alarm: a ``threading.Timer`` per message would start a thread per message.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from typing import Callable

log = logging.getLogger("nst.server")


class Alarm:
    def __init__(self, when: float, callback: Callable[[], None]):
        self.when = when
        self.callback = callback
        self.disarmed = False

    def disarm(self) -> None:
        self.disarmed = True  # the watchdog drops it when its time comes


class Watchdog:
    """``arm(seconds, callback)`` runs ``callback`` after ``seconds`` unless the alarm is disarmed first."""

    def __init__(self, name: str = "nst-watchdog"):
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def arm(self, seconds: float, callback: Callable[[], None]) -> Alarm:
        alarm = Alarm(time.monotonic() + seconds, callback)
        with self._cond:
            heapq.heappush(self._heap, (alarm.when, next(self._order), alarm))
            if self._heap[0][2] is alarm:
                self._cond.notify()
        return alarm

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                if self._stopped:
                    return
                _, _, alarm = heapq.heappop(self._heap)
            if not alarm.disarmed:
                try:
                    alarm.callback()
                except Exception:  # noqa: BLE001 - one failing callback must not stop the others
                    log.exception("a watchdog callback failed")
