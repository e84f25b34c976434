"""Queue and cancel: disconnect, cancel by id, queued jobs, a full queue, queue positions."""
from __future__ import annotations

import time

import pytest

from server.client import ClientError, Finished, Progress, Queued, Result, Started, StyleClient
from server.jobs import JobState
from tests.helpers import SMALL, content_image, encoded, png_bytes, running_server, style_image, wait_for

LONG = dict(SMALL, steps=200)  # far more steps than any test lets run


def _until(stream, kind, predicate=lambda e: True):
    for event in stream:
        if isinstance(event, kind) and predicate(event):
            return event
    raise AssertionError(f"stream ended before a {kind.__name__}")


def _ended(server, job_id):
    return lambda: server.manager.get(job_id).state.ended


def test_disconnect_mid_run_stops_the_worker_within_one_step(server, client):
    stream = client.stylize(encoded(content_image()), [encoded(style_image(21))], options=LONG)
    job_id = _until(stream, Started).job_id
    _until(stream, Progress, lambda p: p.overall_step >= 2)
    stream.close()  # the client goes away mid-run
    assert wait_for(_ended(server, job_id), timeout=30)
    job = server.manager.get(job_id)
    assert job.state is JobState.CANCELLED and "client went away" in job.cancel_reason
    assert job.steps_done - job.steps_at_cancel <= 1, (job.steps_at_cancel, job.steps_done)
    assert job.steps_done < 200
    assert client.job_state(job_id) == "cancelled"
    # The worker is free again: the next job runs to the end.
    assert any(isinstance(e, Result) for e in client.stylize(encoded(content_image()), [encoded(style_image(22))],
                                                                options=SMALL))


def test_cancel_by_id_from_another_connection(server, client):
    stream = client.stylize(encoded(content_image()), [encoded(style_image(23))], options=LONG)
    job_id = _until(stream, Started).job_id
    _until(stream, Progress)
    with StyleClient(server.address) as other:
        assert other.job_state(job_id) == "running"
        assert other.cancel(job_id) is True
        with pytest.raises(ClientError) as caught:
            list(stream)
        assert caught.value.code == "CANCELLED" and "cancelled by request" in caught.value.message
        assert other.job_state(job_id) == "cancelled"
        assert other.cancel(job_id) is False  # already over
    job = server.manager.get(job_id)
    assert job.steps_done - job.steps_at_cancel <= 1


@pytest.fixture
def tight_server(engine):
    with running_server(engine, queue_size=1) as handle:
        yield handle


def _one_running_one_waiting(c: StyleClient, seed: int):
    """Fill a one-slot queue: a long job running and a short one waiting (its first event read)."""
    running = c.stylize(encoded(content_image()), [encoded(style_image(seed))], options=LONG)
    running_id = _until(running, Started).job_id
    waiting = c.stylize(encoded(content_image()), [encoded(style_image(seed + 1))], options=SMALL)
    return running, running_id, waiting, next(waiting)


def test_full_queue_is_unavailable_at_once_and_positions_update(tight_server):
    with StyleClient(tight_server.address, timeout=120) as c:
        running, running_id, waiting, first = _one_running_one_waiting(c, 24)
        assert isinstance(first, Queued) and first.position == 1
        assert c.job_state(first.job_id) == "queued"

        started = time.monotonic()
        with pytest.raises(ClientError) as caught:
            list(c.stylize(encoded(content_image()), [encoded(style_image(26))], options=SMALL))
        assert caught.value.code == "UNAVAILABLE" and "queue is full" in caught.value.message
        assert "nst serve" not in caught.value.message  # the server answered: this is no connection problem
        assert time.monotonic() - started < 5

        assert c.cancel(running_id)
        rest = list(waiting)  # moves up to the front, then runs
        assert isinstance(rest[0], Queued) and rest[0].position == 0
        assert isinstance(rest[1], Started) and isinstance(rest[-1], Finished)


def test_cancel_a_queued_job_by_id(tight_server):
    with StyleClient(tight_server.address, timeout=120) as c:
        running, running_id, waiting, queued = _one_running_one_waiting(c, 27)
        assert c.cancel(queued.job_id) is True
        with pytest.raises(ClientError) as caught:
            list(waiting)
        assert caught.value.code == "CANCELLED"
        assert c.job_state(queued.job_id) == "cancelled"
        assert tight_server.manager.get(queued.job_id).steps_done == 0  # never started
        assert c.job_state(running_id) == "running"
        c.cancel(running_id)


def test_cancel_after_the_last_step_check_still_ends_cancelled():
    # The engine returns normally although the job was cancelled after its last step check: CancelJob said
    # True, so the job must end CANCELLED with no result (a stand-in engine makes the timing exact).
    from types import SimpleNamespace

    from protos.nst.v1 import style_pb2
    from server.job_input import build
    from server.jobs import JobEnd, JobManager, ResultPayload
    from server.limits import ServerLimits

    class LateCancelEngine:
        def run(self, job, **kwargs):
            assert manager.cancel(manager.running().id)
            return SimpleNamespace(image=job.content, wall_time=0.0, steps=1, losses={}, style_cache_hits=0)

    manager = JobManager(LateCancelEngine(), queue_size=1)
    try:
        request = style_pb2.StylizeRequest(content=style_pb2.ImageData(encoded=png_bytes(content_image())),
                                           styles=[style_pb2.ImageData(encoded=png_bytes(style_image(29)))])
        job = manager.submit(build(request, ServerLimits()))
        assert wait_for(lambda: job.state.ended)
        assert job.state is JobState.CANCELLED
        events = []
        while not job.events.empty():
            events.append(job.events.get())
        assert isinstance(events[-1], JobEnd) and events[-1].error.code.name == "CANCELLED"
        assert not any(isinstance(e, ResultPayload) for e in events)
        assert not any(hasattr(e, "WhichOneof") and e.WhichOneof("event") == "finished" for e in events)
    finally:
        manager.shutdown(0)
