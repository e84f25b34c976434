"""One progress shape end to end: engine, proto, client events and the plug-in helper's JSON."""
from __future__ import annotations

import dataclasses

from nst_core.contract.progress import Progress as EngineProgress
from protos.nst.v1 import style_pb2
from server import events
from server.jobs import _progress_message


def names(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_progress_has_the_same_names_at_every_hop():
    wire = [f.name for f in style_pb2.JobProgress.DESCRIPTOR.fields]
    assert names(events.Progress) == wire
    assert [n for n in names(EngineProgress) if n != "preview"] == wire


def test_finished_has_the_proto_names():
    assert names(events.Finished) == [f.name for f in style_pb2.JobFinished.DESCRIPTOR.fields]


def test_an_engine_report_travels_unchanged():
    report = EngineProgress(stage=2, stages=3, step=4, total=5, overall_step=9, overall_total=15,
                            losses={"style": 1.5}, elapsed_seconds=2.5, eta_seconds=7.0, width=64, height=48)
    received = events.from_message(events.Progress, _progress_message(report))
    assert dataclasses.asdict(received) == {n: getattr(report, n) for n in names(events.Progress)}
