"""A hostile or unlucky local client, through raw stubs and raw channel calls that no client library smooths.

Each test names the class of input (issue 8) it guards against: huge strings, undecodable requests, one
client starving the others, memory amplification, unwanted image decoders, and their neighbours.
"""
from __future__ import annotations

import io
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image

from protos.nst.v1 import style_pb2, style_pb2_grpc
from server import wire_entries
from server.client import ClientError, Result, Started, StyleClient
from server.limits import STYLIZE_IDLE_SECONDS
from tests.helpers import (SMALL, content_image, encoded, png_bytes, running_server, style_image, tiff_bytes,
                           wait_for)
from tests.server.test_lifecycle import _read_listening_line, spawned_server

HUGE = "x" * 1_000_000
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def _image(image: Image.Image) -> style_pb2.ImageData:
    return style_pb2.ImageData(encoded=png_bytes(image))


def _request(**options) -> style_pb2.StylizeRequest:
    return style_pb2.StylizeRequest(content=_image(content_image()), styles=[_image(style_image(81))],
                                    options=style_pb2.StyleOptions(max_size=32, steps=2, multiscale=False, **options))


def _rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if hasattr(result, "__iter__"):
            list(result)
    return caught.value


def _trailing_field(error: grpc.RpcError):
    return dict(error.trailing_metadata() or ()).get("nst-error-field")


@pytest.fixture
def channel(server):
    # Plain channel: gRPC's default limits, as any client would have.
    with grpc.insecure_channel(server.address) as ch:
        yield ch


def _serving(channel) -> bool:
    reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


# -- 3. huge strings are quoted short ----------------------------------------------------------------------


@pytest.mark.parametrize("field, request_", [
    ("preset", lambda: _request(preset=HUGE)),
    ("optimizer", lambda: _request(optimizer=HUGE)),
    ("content_layers", lambda: _request(content_layers=[HUGE])),
    ("style_layers", lambda: _request(style_layers=["relu1_1", "\x1b[2J" + HUGE])),
])
def test_huge_option_string_is_quoted_short(channel, field, request_):
    error = _rpc_error(lambda: style_pb2_grpc.StyleServiceStub(channel).Stylize(request_()))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert _trailing_field(error) == field
    assert len(error.details()) < 600 and "xxxxxxxx" in error.details() and "characters)" in error.details()
    assert "\x1b" not in error.details()  # control characters arrive escaped
    assert _serving(channel)


@pytest.mark.parametrize("method", ["GetJob", "CancelJob"])
def test_huge_job_id_is_quoted_short(channel, method):
    stub = style_pb2_grpc.StyleServiceStub(channel)
    request = getattr(style_pb2, f"{method}Request")(job_id=HUGE)
    error = _rpc_error(lambda: getattr(stub, method)(request))
    assert error.code() == grpc.StatusCode.NOT_FOUND, error
    assert len(error.details()) < 400 and "job_id" in error.details()


# -- 4. undecodable requests are the client's fault --------------------------------------------------------

_BAD_UTF8 = b"\x0a\x02\xff\xfe"  # field 1, a string of two bytes that are not UTF-8
_CORRUPT = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, a length far past the end
_STYLE = "/nst.v1.StyleService/"
_UNDECODABLE = [
    *[(method, payload) for method in (_STYLE + "GetJob", _STYLE + "CancelJob", "/grpc.health.v1.Health/Check",
                                       REFLECTION) for payload in (_BAD_UTF8, _CORRUPT)],
    (_STYLE + "Describe", _CORRUPT),  # DescribeRequest has no string field to spoil
    (_STYLE + "Stylize", b"\x22\x04" + _BAD_UTF8),  # options.preset
    (_STYLE + "Stylize", _CORRUPT),
]


@pytest.mark.parametrize("method, payload", _UNDECODABLE)
def test_undecodable_request_is_invalid_argument(channel, method, payload):
    if method == REFLECTION:
        call = lambda: channel.stream_stream(method)(iter([payload]), timeout=10)  # noqa: E731
    elif method.endswith("Stylize"):
        call = lambda: channel.unary_stream(method)(payload, timeout=10)  # noqa: E731
    else:
        call = lambda: channel.unary_unary(method)(payload, timeout=10)  # noqa: E731
    error = _rpc_error(call)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "request" in error.details() and "deserializ" not in error.details()
    assert _serving(channel)


# -- 5. one client cannot starve the others ----------------------------------------------------------------


def _idle(release: threading.Event):
    """A request iterator that sends nothing until released: an idle stream, or a request never sent."""
    release.wait(60)
    return
    yield


@pytest.fixture
def busy_server(engine):
    with running_server(engine, queue_size=8) as handle:
        yield handle


@pytest.mark.parametrize("method, kind", [
    (REFLECTION, "stream_stream"),  # idle reflection streams (grpcurl would open these)
    ("/nst.v1.StyleService/Describe", "stream_unary"),  # unary calls whose request never arrives
    ("/nst.v1.StyleService/Stylize", "stream_stream"),  # Stylize calls whose request never arrives
])
def test_many_idle_calls_of_one_kind_starve_no_other_kind(busy_server, method, kind):
    release = threading.Event()
    with grpc.insecure_channel(busy_server.address) as ch:
        if kind == "stream_unary":
            calls = [ch.stream_unary(method).future(_idle(release), timeout=60) for _ in range(80)]
        else:
            calls = [ch.stream_stream(method)(_idle(release), timeout=60) for _ in range(80)]
        try:
            assert wait_for(lambda: _refusals(calls), timeout=20), "no call was ever refused"
            refusal = _refusals(calls)[0]
            assert "at once" in refusal.details() and "limit" in refusal.details()
            assert _serving(ch)
            with StyleClient(busy_server.address, timeout=120) as c:  # every other kind is served
                assert c.health() == "SERVING"
                if "Describe" not in method:
                    assert c.describe()["version"]
                if "Stylize" not in method:
                    events = list(c.stylize(encoded(content_image()), [encoded(style_image(82))], options=SMALL))
                    assert any(isinstance(e, Result) for e in events)
        finally:
            release.set()
            for call in calls:
                call.cancel()
    assert wait_for(lambda: not any(busy_server.admission.in_progress().values())), "a slot was never given back"


def test_a_request_that_never_arrives_is_cancelled_and_frees_its_slot(engine):
    release = threading.Event()
    with running_server(engine, receive_seconds=1.0) as handle, grpc.insecure_channel(handle.address) as ch:
        call = ch.stream_unary("/nst.v1.StyleService/Describe").future(_idle(release), timeout=30)
        assert wait_for(lambda: handle.admission.in_progress()["jobs"] == 1, timeout=5)
        assert wait_for(call.done, timeout=10)
        assert call.cancelled() or call.code() == grpc.StatusCode.CANCELLED
        assert wait_for(lambda: handle.admission.in_progress()["jobs"] == 0, timeout=5)
        release.set()


@pytest.mark.parametrize("method, kind, count, idle", [
    ("/grpc.health.v1.Health/Check", "stream_unary", 100, 1.0),
    ("/nst.v1.StyleService/Describe", "stream_unary", 100, 1.0),
    ("/nst.v1.StyleService/GetJob", "stream_unary", 40, 1.0),
    ("/nst.v1.StyleService/Stylize", "stream_stream", 40, STYLIZE_IDLE_SECONDS),
])
def test_silent_callers_hold_no_place_once_others_need_it(busy_server, method, kind, count, idle):
    release = threading.Event()
    with grpc.insecure_channel(busy_server.address) as ch:
        make = ch.stream_unary(method).future if kind == "stream_unary" else ch.stream_stream(method)
        calls = [make(_idle(release), timeout=120) for _ in range(count)]
        try:
            time.sleep(idle + 0.5)  # past the kind's idle_seconds: the silent calls are idle now
            with StyleClient(busy_server.address, timeout=120) as c:
                started = time.monotonic()
                assert c.health() == "SERVING"
                assert c.describe()["version"]
                assert time.monotonic() - started < 10
                events = list(c.stylize(encoded(content_image()), [encoded(style_image(97))], options=SMALL))
                assert any(isinstance(e, Result) for e in events)
                assert time.monotonic() - started < 60  # a Stylize waits at most idle_seconds for a place
        finally:
            release.set()
            for call in calls:
                call.cancel()
    assert wait_for(lambda: not any(busy_server.admission.in_progress().values()), timeout=30)


def test_a_client_reopening_silent_stylize_calls_keeps_no_job_out(busy_server):
    stop = threading.Event()
    opened = []

    def reopen():  # two silent Stylize calls at all times, reopened as soon as one ends
        with grpc.insecure_channel(busy_server.address) as ch:
            while not stop.is_set():
                live = [c for c in opened if c.is_active()]
                for _ in range(2 - len(live)):
                    opened.append(ch.stream_stream(_STYLE + "Stylize")(_idle(stop), timeout=120))
                time.sleep(0.05)
            for call in opened:
                call.cancel()

    thread = threading.Thread(target=reopen)
    thread.start()
    try:
        time.sleep(1.0)
        with StyleClient(busy_server.address, timeout=120) as c:
            for seed in (98, 99):
                events = list(c.stylize(encoded(content_image()), [encoded(style_image(seed))], options=SMALL))
                assert any(isinstance(e, Result) for e in events)
    finally:
        stop.set()
        thread.join(30)


def _refusals(calls) -> list:
    return [c for c in calls if c.done() and c.code() == grpc.StatusCode.RESOURCE_EXHAUSTED]


# -- 6. memory amplification --------------------------------------------------------------------------------


def _uniform_png(size, mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, 128 if mode == "L" else (120, 130, 140)).save(buffer, "PNG")
    return buffer.getvalue()


def _rss_bytes(which: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(which + ":"))


def _reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS


@pytest.fixture(scope="module")
def huge_uniform_png():
    return _uniform_png((8192, 8192))


def test_many_big_styles_in_a_small_request_are_refused_from_their_headers(channel, huge_uniform_png):
    request = style_pb2.StylizeRequest(content=_image(content_image()),
                                       styles=[style_pb2.ImageData(encoded=huge_uniform_png)] * 16,
                                       options=style_pb2.StyleOptions(max_size=32, steps=1))
    assert request.ByteSize() < 4 * 2**20
    _reset_peak_rss()
    before = _rss_bytes()
    error = _rpc_error(lambda: style_pb2_grpc.StyleServiceStub(channel).Stylize(request, timeout=60))
    peak = _rss_bytes("VmHWM") - before
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert "per request" in error.details() and _trailing_field(error).startswith("styles[")
    assert peak < 150 * 2**20, f"refusing the request raised peak RSS by {peak / 2**20:.0f} MiB"


def test_waiting_jobs_hold_their_bytes_as_sent_and_the_queue_has_a_memory_budget(engine, huge_uniform_png):
    with running_server(engine, queue_size=8, queue_mb=1) as handle:
        with StyleClient(handle.address, timeout=120) as c:
            running = c.stylize(encoded(content_image()), [encoded(style_image(83))], options=dict(SMALL, steps=500))
            next(e for e in running if isinstance(e, Started))
            big = style_pb2.ImageData(encoded=huge_uniform_png)  # 64 MP, ~200 MiB once decoded
            before = _rss_bytes()
            waiting = []
            with grpc.insecure_channel(handle.address) as ch:
                stub = style_pb2_grpc.StyleServiceStub(ch)
                for _ in range(3):
                    call = stub.Stylize(style_pb2.StylizeRequest(content=big, styles=[_image(style_image(84))],
                                                                 options=style_pb2.StyleOptions(max_size=32)))
                    next(call)  # queued
                    waiting.append(call)
                # The 64 MP content waits as sent; the 32 x 32 style, checked and small, waits decoded.
                held = handle.manager.waiting_bytes()
                assert held == 3 * (len(huge_uniform_png) + len(png_bytes(style_image(84))) + 32 * 32 * 3)
                growth = _rss_bytes() - before
                assert growth < 100 * 2**20, f"3 waiting jobs raised RSS by {growth / 2**20:.0f} MiB"
                # Past the queue's memory budget (1 MiB here) the next job is refused with the reason.
                noise = png_bytes(style_image(85, (500, 500)))  # 0.7 MiB: noise does not compress
                over = stub.Stylize(style_pb2.StylizeRequest(content=_image(content_image()),
                                                             styles=[style_pb2.ImageData(encoded=noise)]))
                error = _rpc_error(lambda: over)
                assert error.code() == grpc.StatusCode.UNAVAILABLE, error
                assert "memory" in error.details() and "MiB" in error.details()
                for call in waiting:
                    call.cancel()
            running.close()


# -- compressed requests and request shapes that cost more than they weigh -----------------------------------

_INFLATING = b"\x0a\x80\x80\x80\x7c" + b"a" * (248 * 2**20)  # field 1: 248 MiB of one letter, ~250 KB gzipped


@pytest.fixture(scope="module")
def inflating():
    return _INFLATING


@pytest.mark.parametrize("method", ["/grpc.health.v1.Health/Check", _STYLE + "Describe", _STYLE + "GetJob",
                                    _STYLE + "Stylize"])
@pytest.mark.parametrize("compression", [grpc.Compression.Gzip, grpc.Compression.Deflate], ids=["gzip", "deflate"])
def test_compressed_requests_are_refused_before_they_inflate(server, inflating, method, compression):
    with grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", -1)]) as ch:
        _reset_peak_rss()
        before = _rss_bytes()
        multi = ch.unary_stream(method) if method.endswith("Stylize") else ch.unary_unary(method)
        error = _rpc_error(lambda: multi(inflating, compression=compression, timeout=60))
        peak = _rss_bytes("VmHWM") - before
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED and "disabled" in error.details(), error
        # The client's copy of the 248 MiB it compresses is in this process too; the server adds nothing.
        assert peak < len(inflating) + 64 * 2**20, f"a compressed {method} raised peak RSS by {peak / 2**20:.0f} MiB"
        assert _serving(ch)


# -- measured in a server process of its own: the client's copies of the request are not in it -------------


@pytest.fixture(scope="module")
def served():
    """(the `nst serve` process, its address)."""
    with spawned_server("--address", "127.0.0.1:0") as process:
        address, _ = _read_listening_line(process)
        threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its log pipe drained
        yield process, address


def _server_rss(process, which: str = "VmRSS") -> int:
    with open(f"/proc/{process.pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(which + ":"))


def _server_peak(process, call):
    """(call's gRPC error, how far it raised the server process's peak RSS)."""
    with open(f"/proc/{process.pid}/clear_refs", "w") as f:
        f.write("5")
    before = _server_rss(process)
    error = _rpc_error(call)
    return error, _server_rss(process, "VmHWM") - before


@pytest.mark.parametrize("field, count", [("style_blend", 10**7), ("style_layer_weights", 10**6),
                                          ("content_layers", 10**6), ("style_layers", 10**6)])
def test_oversize_repeated_fields_are_refused_from_their_count(served, field, count):
    process, address = served
    request = _request()
    if field == "style_blend":
        request.style_blend.extend([1.0] * count)
    elif field == "style_layer_weights":
        request.options.style_layer_weights.extend([1.0] * count)
    else:
        getattr(request.options, field).extend(["relu1_1"] * count)
    data = request.SerializeToString()
    del request
    with grpc.insecure_channel(address) as ch:
        error, peak = _server_peak(process, lambda: ch.unary_stream(_STYLE + "Stylize")(data, timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _trailing_field(error) == field, error
    assert f"got {count}" in error.details()
    # gRPC's copy, Python's bytes and protobuf's parsed list (measured: 2.6-3.1x for 76 MiB of numbers); no
    # Python value per item. (Measured in this process, the client's copies and their timing made it 4-5x.)
    assert peak < 3 * len(data) + 64 * 2**20, f"{len(data) / 2**20:.0f} MiB raised peak RSS by {peak / 2**20:.0f} MiB"


def _nested(tag: bytes, inner: bytes) -> bytes:
    length = len(inner)
    varint = bytearray()
    while length >= 0x80:
        varint.append(length & 0x7F | 0x80)
        length >>= 7
    return tag + bytes(varint) + bytes([length]) + inner


@pytest.mark.parametrize("field, data", [
    ("regions", b"\x52\x00" * 10**7),  # ten million empty Regions: ~66 bytes each once parsed
    ("styles", b"\x12\x00" * 10**7),
    ("regions[0].styles", _nested(b"\x52", b"\x12\x00" * 10**7)),
    ("options.content_layers", _nested(b"\x22", b"\x8a\x01\x00" * (7 * 10**6))),  # empty names, ~34 bytes each
], ids=["regions", "styles", "region styles", "layer names"])
def test_millions_of_tiny_entries_are_refused_before_they_are_built(served, field, data):
    process, address = served
    with grpc.insecure_channel(address) as ch:
        error, peak = _server_peak(process, lambda: ch.unary_stream(_STYLE + "Stylize")(data, timeout=120))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _trailing_field(error) == field, error
    assert error.details().startswith(field + ":") and "entries" in error.details()
    # gRPC's copy and Python's bytes; nothing per entry.
    assert peak < 2 * len(data) + 64 * 2**20, f"{len(data) / 2**20:.0f} MiB raised peak RSS by {peak / 2**20:.0f} MiB"


def test_the_most_entries_a_request_may_have_cost_at_most_the_documented_bound(served):
    process, address = served
    count = wire_entries.MAX_ENTRIES - 10
    data = _request().SerializeToString() + b"\x52\x00" * count  # parsed, then refused from the count
    with grpc.insecure_channel(address) as ch:
        error, peak = _server_peak(process, lambda: ch.unary_stream(_STYLE + "Stylize")(data, timeout=120))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and f"got {count}" in error.details(), error
    assert peak < 2 * len(data) + 256 * 2**20, f"{len(data) / 2**20:.0f} MiB raised peak RSS by {peak / 2**20:.0f} MiB"


# -- health: no token, so nothing any caller can make it keep ---------------------------------------------------

_WATCH = "/grpc.health.v1.Health/Watch"


def test_long_health_service_names_are_refused_and_leave_nothing_behind(served):
    process, address = served
    before = _server_rss(process)
    codes = []
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        for i in range(40):  # each a different 4 MiB name: grpcio's servicer kept every one for good
            name = f"{i:04d}" + "s" * (4 * 2**20)
            call = stub.Watch(health_pb2.HealthCheckRequest(service=name), timeout=30)
            try:
                next(call)
                codes.append("answered")
            except grpc.RpcError as exc:
                codes.append(exc.code())
            finally:
                call.cancel()
        error = _rpc_error(lambda: stub.Check(health_pb2.HealthCheckRequest(service="s" * 10**6), timeout=30))
    assert codes == [grpc.StatusCode.INVALID_ARGUMENT] * 40 and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "service" in error.details() and "256" in error.details()
    time.sleep(1.0)
    growth = _server_rss(process) - before
    assert growth < 64 * 2**20, f"40 Watch calls of 4 MiB names left {growth / 2**20:.0f} MiB behind"


def test_an_unknown_health_name_is_answered_once_and_its_stream_ends(channel):
    stub = health_pb2_grpc.HealthStub(channel)
    replies = list(stub.Watch(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=10))
    assert [r.status for r in replies] == [health_pb2.HealthCheckResponse.SERVICE_UNKNOWN]
    assert _serving(channel)


def test_one_address_holding_watch_streams_locks_no_fleet_client_out(engine):
    from server.config import IDLE_HEALTH_NAME
    from server.limits import HEALTH_WATCHES, HEALTH_WATCHES_PER_ADDRESS

    with running_server(engine, address="[::]:0") as handle:
        port = handle.address.rsplit(":", 1)[1]
        with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:  # the holder: IPv4 loopback, valid requests
            stub = health_pb2_grpc.HealthStub(ch)
            calls, held = [], 0
            for _ in range(HEALTH_WATCHES + 6):
                calls.append(stub.Watch(health_pb2.HealthCheckRequest(service=IDLE_HEALTH_NAME), timeout=120))
                try:
                    next(calls[-1])
                    held += 1
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "per address" in exc.details()
            try:
                assert held == HEALTH_WATCHES_PER_ADDRESS
                # A fleet's client from another address (IPv6 loopback) still finds the server SERVING and idle.
                with StyleClient(f"ipv6:[::1]:{port}", timeout=120, connect_timeout=15) as fleet_client:
                    assert fleet_client.fleet
                    events = list(fleet_client.stylize(encoded(content_image()), [encoded(style_image(615))],
                                                       options=SMALL))
                    assert any(isinstance(e, Result) for e in events)
            finally:
                for call in calls:
                    call.cancel()
        assert wait_for(lambda: handle.admission.in_progress()["health watch"] == 0, timeout=10)


# -- what a newcomer meets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("field, content, style, options", [
    ("max_size", content_image((400, 250)), style_image(94), dict(max_size=10)),
    ("max_size", content_image((400, 100)), style_image(94), dict(max_size=40, multiscale=False)),
    ("styles[0]", content_image(), Image.new("RGB", (8, 8), (200, 30, 30)), {}),
    ("styles[0]", content_image(), style_image(95, (300, 12)), {}),
])
def test_sizes_that_cannot_work_are_refused_before_the_job(channel, field, content, style, options):
    request = style_pb2.StylizeRequest(content=_image(content), styles=[_image(style)],
                                       options=style_pb2.StyleOptions(steps=1, **options))
    call = style_pb2_grpc.StyleServiceStub(channel).Stylize(request, timeout=60)
    received = []
    with pytest.raises(grpc.RpcError) as caught:
        for message in call:
            received.append(message)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value
    assert _trailing_field(caught.value) == field and not received  # not queued, not started
    assert "px" in caught.value.details()


def test_style_cache_hits_are_reported_only_for_an_earlier_jobs_targets(client):
    # A 20 px style is the same tensor at every scale: its second scale reuses the first's targets.
    options = {"max_size": 64, "min_size": 32, "steps": 1, "coarse_steps": 1}
    style = encoded(style_image(96, (20, 20)))
    first = [e for e in client.stylize(encoded(content_image((64, 48))), [style], options=options)][-1]
    second = [e for e in client.stylize(encoded(content_image((64, 48))), [style], options=options)][-1]
    assert not first.cache_hit and first.style_cache_hits == 0
    assert second.cache_hit and second.style_cache_hits == 2


# -- decoding costs at most its documented bound ------------------------------------------------------------


def _grey16_png(size) -> bytes:
    import numpy as np

    buffer = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0]), 40000, dtype=np.uint16)).save(buffer, "PNG")
    return buffer.getvalue()


def _stylize_peak(channel, content: bytes, style: bytes = b""):
    """(the call's error or None, how far it raised this process's peak RSS: the server's work included)."""
    style_data = style_pb2.ImageData(encoded=style or png_bytes(style_image(92)))
    request = style_pb2.StylizeRequest(content=style_pb2.ImageData(encoded=content), styles=[style_data],
                                       options=style_pb2.StyleOptions(max_size=32, steps=1, multiscale=False))
    _reset_peak_rss()
    before = _rss_bytes()
    try:
        list(style_pb2_grpc.StyleServiceStub(channel).Stylize(request, timeout=120))
        error = None
    except grpc.RpcError as exc:
        error = exc
    return error, _rss_bytes("VmHWM") - before


def test_a_16_bit_grey_png_at_the_pixel_limit_is_checked_within_the_bound(channel):
    # The content is decoded and checked, then the corrupt style ends the call: the peak is the check's.
    error, peak = _stylize_peak(channel, _grey16_png((8192, 8192)), style=png_bytes(style_image(93))[:80])
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _trailing_field(error) == "styles[0]", error
    assert peak < 256 * 2**20, f"a 16-bit 8192² PNG raised peak RSS by {peak / 2**20:.0f} MiB"


@pytest.mark.parametrize("tiff, what", [
    (lambda: tiff_bytes(8192, 8192, bits=16, deflate=True), "16-bit grey in one deflated strip"),
    (lambda: tiff_bytes(8192, 8192, bits=32, sample_format=3, deflate=True), "32-bit float grey"),
    (lambda: tiff_bytes(64, 64, samples=3, tile=16384, deflate=True), "a 64×64 image declaring a 16384² tile"),
    (lambda: tiff_bytes(64, 64, samples=3, tile=65536, deflate=True)[:4096], "a 65536² tile, truncated"),
])
def test_images_whose_decoding_exceeds_the_bound_are_refused_from_their_header(channel, tiff, what):
    error, peak = _stylize_peak(channel, tiff())
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, (what, error)
    assert _trailing_field(error) == "content" and "MiB" in error.details(), error.details()
    assert peak < 64 * 2**20, f"{what}: refusing it raised peak RSS by {peak / 2**20:.0f} MiB"
    assert _serving(channel)


@pytest.mark.parametrize("tiff", [
    tiff_bytes(40, 30, samples=2, extra=1),  # La: grey with premultiplied alpha
    tiff_bytes(40, 30, samples=4, extra=1),  # RGBa
    tiff_bytes(40, 30, samples=2, extra=2),  # LA
    tiff_bytes(40, 30, bits=16),
    tiff_bytes(40, 30, bits=32, sample_format=3),
    tiff_bytes(40, 30, bits=32, sample_format=2),  # signed 32-bit
    tiff_bytes(40, 30, samples=3, tile=64),
], ids=["La", "RGBa", "LA", "I;16", "F", "I", "tiled"])
def test_every_tiff_mode_runs_or_is_invalid_argument_never_internal(channel, tiff):
    error, _ = _stylize_peak(channel, tiff)
    assert error is None, error


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "I;16", "I", "F"])
def test_every_mode_pillow_writes_as_tiff_runs(channel, mode):
    buffer = io.BytesIO()
    Image.new(mode, (40, 30)).save(buffer, "TIFF")
    error, _ = _stylize_peak(channel, buffer.getvalue())
    assert error is None, error


@pytest.mark.parametrize("data", [tiff_bytes(40, 30, samples=2, extra=1)[:300], tiff_bytes(40, 30, bits=12)],
                         ids=["truncated La", "12-bit grey"])
def test_undecodable_tiffs_are_invalid_argument_naming_the_image(channel, data):
    error, _ = _stylize_peak(channel, data)
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert _trailing_field(error) == "content"


# -- 8. only the documented image formats are decoded -------------------------------------------------------


def _saved(fmt: str, **kw) -> bytes:
    buffer = io.BytesIO()
    content_image().save(buffer, fmt, **kw)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "EPS", "ICO", "PPM", "TGA"])
def test_undocumented_formats_are_refused_naming_the_field_and_the_formats(client, fmt):
    from server.client import ImageData

    with pytest.raises(ClientError) as caught:
        list(client.stylize(ImageData.encoded(_saved(fmt)), [encoded(style_image(86))], options=SMALL))
    error = caught.value
    assert error.code == "INVALID_ARGUMENT" and error.field == "content"
    assert "PNG, JPEG, WebP or TIFF" in error.message
    assert "Ghostscript" not in error.message


@pytest.mark.parametrize("data", [b"junk" * 10, _saved("PNG")[:60]], ids=["garbage", "truncated png"])
def test_decode_errors_leak_no_object_reprs(client, data):
    from server.client import ImageData

    with pytest.raises(ClientError) as caught:
        list(client.stylize(encoded(content_image()), [ImageData.encoded(data)], options=SMALL))
    assert caught.value.field == "styles[0]"
    assert "0x" not in caught.value.message and "BytesIO" not in caught.value.message and " at " not in caught.value.message


# -- numbers past float32 or int64 ranges -------------------------------------------------------------------


@pytest.mark.parametrize("options", [dict(seed=2**63 - 1), dict(seed=9_300_000_000_000), dict(seed=2**31)])
def test_seeds_up_to_the_int64_maximum_run(channel, options):
    events = list(style_pb2_grpc.StyleServiceStub(channel).Stylize(_request(**options), timeout=120))
    assert events[-1].HasField("finished")


@pytest.mark.parametrize("field, options", [
    ("style_weight", dict(style_weight=1e39)),
    ("style_strength", dict(style_strength=1e308)),
    ("tv_weight", dict(tv_weight=1e308)),
    ("content_weight", dict(content_weight=1e308)),
    ("style_layer_weights", dict(style_layer_weights=[1e308] * 5)),
    ("style_strength", dict(style_weight=1e6, style_strength=1e3)),  # each within bounds, their product not
    ("learning_rate", dict(learning_rate=1e308)),
    ("style_scale", dict(style_scale=1e308)),
    ("seed", dict(seed=-1)),
])
def test_numbers_past_what_the_arithmetic_survives_are_invalid_argument(channel, field, options):
    error = _rpc_error(lambda: style_pb2_grpc.StyleServiceStub(channel).Stylize(_request(**options), timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert _trailing_field(error) == field, error.details()
    assert "at most" in error.details() or "must be" in error.details()


def test_an_oversize_blend_weight_is_invalid_argument(channel):
    request = _request()
    request.style_blend.append(1e308)
    error = _rpc_error(lambda: style_pb2_grpc.StyleServiceStub(channel).Stylize(request, timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and _trailing_field(error) == "style_blend"


def test_every_number_describe_lists_has_a_maximum(client):
    numbers = [o for o in client.describe()["options"].values() if o["kind"] in ("int", "float", "floats")]
    assert numbers and all(o.get("maximum") is not None for o in numbers)


# -- neighbours ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("changes, field", [
    (dict(preview_interval_seconds=float("nan")), "preview_interval_seconds"),
    (dict(preview_interval_seconds=float("inf")), "preview_interval_seconds"),
    (dict(preview_max_size=2**32 - 1), "preview_max_size"),
])
def test_absurd_preview_settings_are_invalid_argument(channel, changes, field):
    request = _request()
    for name, value in changes.items():
        setattr(request, name, value)
    request.preview = True
    error = _rpc_error(lambda: style_pb2_grpc.StyleServiceStub(channel).Stylize(request, timeout=60))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert _trailing_field(error) == field


def test_queue_size_0_runs_one_job_at_a_time(engine):
    with running_server(engine, queue_size=0) as handle:
        with StyleClient(handle.address, timeout=120) as c:
            assert any(isinstance(e, Result) for e in c.stylize(encoded(content_image()), [encoded(style_image(87))],
                                                                options=SMALL))
            running = c.stylize(encoded(content_image()), [encoded(style_image(88))], options=dict(SMALL, steps=500))
            next(e for e in running if isinstance(e, Started))
            with pytest.raises(ClientError) as caught:
                list(c.stylize(encoded(content_image()), [encoded(style_image(89))], options=SMALL))
            assert caught.value.code == "UNAVAILABLE" and "queue is full" in caught.value.message
            running.close()


def test_a_client_that_stops_reading_is_dropped_and_keeps_nothing(engine):
    with running_server(engine, queue_size=2, stall_seconds=1.0) as handle:
        # A 4096 x 4096 RGBA result (64 MiB) is far past what flow control lets through unread.
        request = style_pb2.StylizeRequest(content=style_pb2.ImageData(encoded=_uniform_png((4096, 4096))),
                                           styles=[_image(style_image(90))], output_format=style_pb2.OUTPUT_FORMAT_RGBA,
                                           options=style_pb2.StyleOptions(max_size=32, steps=1, multiscale=False))
        with grpc.insecure_channel(handle.address, options=[("grpc.max_receive_message_length", -1)]) as ch:
            call = style_pb2_grpc.StyleServiceStub(ch).Stylize(request, timeout=120)
            job_id = next(call).queued.job_id
            assert wait_for(lambda: handle.manager.get(job_id).state.ended, timeout=60)
            # The server gives up on the stalled stream and keeps none of the job's events.
            assert wait_for(lambda: handle.manager.get(job_id).events.qsize() == 0, timeout=30)
            error = _rpc_error(lambda: call)
            assert error.code() == grpc.StatusCode.CANCELLED
        with StyleClient(handle.address, timeout=120) as c:
            assert any(isinstance(e, Result) for e in c.stylize(encoded(content_image()), [encoded(style_image(91))],
                                                                options=SMALL))


def test_oversized_request_metadata_is_refused_and_the_server_keeps_serving(channel):
    stub = style_pb2_grpc.StyleServiceStub(channel)
    error = _rpc_error(lambda: stub.Describe(style_pb2.DescribeRequest(), metadata=[("x-big", "v" * 100_000)]))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # gRPC's own limit on headers (16 KiB)
    stub.Describe(style_pb2.DescribeRequest(), metadata=[(f"x-{i}", "v") for i in range(200)], timeout=10)
    assert _serving(channel)
