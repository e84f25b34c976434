"""Several real servers behind one name: gRPC's round_robin with health checking, jobs reaching their
server, and address lists that cannot work."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import threading
import time

import grpc
import pytest

from protos.nst.v1 import style_pb2, style_pb2_grpc
from server.client import ClientError, Finished, Started, StyleClient, Waiting
from server.fleet import parse
from server.plugin_bridge import HelperJob
from server.service import start_server
from tests.helpers import REPO, content_image, encoded, free_address, style_image, wait_for

# Long enough that jobs overlap on a shared 2-core machine, short enough for a test.
JOB = {"max_size": 48, "steps": 6, "multiscale": False}


@contextlib.contextmanager
def fleet(engine, count: int, **settings):
    """``count`` real servers on free local ports (sharing the session's engine); stopped at the end."""
    handles = [start_server(engine=engine, address="127.0.0.1:0", warmup=False, **settings) for _ in range(count)]
    try:
        yield handles
    finally:
        for handle in handles:
            handle.stop(0)


def addresses(handles) -> str:
    return ",".join(h.address for h in handles)


def run_job(client: StyleClient, seed: int, record: dict, options=JOB) -> None:
    record["submitted"] = time.monotonic()
    for event in client.stylize(encoded(content_image()), [encoded(style_image(seed))], options=options):
        if isinstance(event, Waiting):
            record["waiting"] = True
        elif isinstance(event, Started):
            record["started"] = time.monotonic()
            record["server"] = event.server_name
            record["job_id"] = event.job_id
        elif isinstance(event, Finished):
            record["queue_seconds"] = event.queue_seconds
    record["done"] = time.monotonic()


def test_three_servers_six_jobs_go_to_idle_servers_and_wait_only_while_all_are_busy(engine):
    with fleet(engine, 3) as handles, StyleClient(addresses(handles), timeout=300) as client:
        assert client.fleet and client.wait_ready(10)
        records = [{} for _ in range(6)]
        threads = [threading.Thread(target=run_job, args=(client, 600 + i, records[i])) for i in range(6)]
        # Watch the servers while the jobs run: a job not yet started while some server is idle is a miss.
        misses, stop = [], threading.Event()

        def watch():
            since = None
            while not stop.is_set():
                now = time.monotonic()
                waiting = any("submitted" in r and "started" not in r for r in records)
                idle = any(not h.manager.busy() for h in handles)
                since = (since or now) if waiting and idle else None
                if since is not None and now - since > 0.5:  # dispatch takes a health update and a round trip
                    misses.append(now)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch)
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join(240)
        stop.set()
        watcher.join()
        assert all("done" in r for r in records), records
        names = {h.name for h in handles}
        assert {r["server"] for r in records} == names  # each server ran jobs
        assert all(r["job_id"].endswith("@" + r["server"]) for r in records)
        assert not misses, f"jobs waited while a server was idle at {misses[:3]}"
        assert all(r["queue_seconds"] < 0.5 for r in records), records  # none sat in a server's queue
        assert any(r.get("waiting") for r in records)  # six jobs, three servers: some waited, and were told


def test_job_state_and_cancel_reach_the_server_running_the_job(engine):
    with fleet(engine, 2) as handles, StyleClient(addresses(handles), timeout=120) as submitter:
        stream = submitter.stylize(encoded(content_image()), [encoded(style_image(610))],
                                   options=dict(JOB, steps=400))
        started = next(e for e in stream if isinstance(e, Started))
        owner = next(h for h in handles if h.name == started.server_name)
        other = next(h for h in handles if h is not owner)
        # Another client (another process, say) knows only the id: its calls still reach the owner.
        with StyleClient(addresses(handles)) as stranger:
            for _ in range(4):  # round_robin would have sent some of these to the other server
                assert stranger.job_state(started.job_id) == "running"
            assert stranger.cancel(started.job_id) is True
            with pytest.raises(ClientError) as caught:
                list(stream)
            assert caught.value.code == "CANCELLED"
            assert stranger.job_state(started.job_id) == "cancelled"
            assert owner.manager.get(started.job_id) is not None and other.manager.get(started.job_id) is None
            forged = [started.job_id.split("@")[0] + "@" + other.name,  # a real id, the wrong server
                      "0123@nobody:1",  # a server not in the fleet
                      "no-server-in-it"]
            for job_id in forged:
                with pytest.raises(ClientError) as caught:
                    stranger.job_state(job_id)
                assert caught.value.code == "NOT_FOUND" and caught.value.field == "job_id", job_id
                with pytest.raises(ClientError) as caught:
                    stranger.cancel(job_id)
                assert caught.value.code == "NOT_FOUND", job_id
            assert "nobody:1" in str(_not_found(stranger, forged[1]))
        # Sent straight to the wrong server, the id is NOT_FOUND there, naming its owner.
        with grpc.insecure_channel(other.address) as channel:
            with pytest.raises(grpc.RpcError) as raw:
                style_pb2_grpc.StyleServiceStub(channel).GetJob(style_pb2.GetJobRequest(job_id=started.job_id))
            assert raw.value.code() == grpc.StatusCode.NOT_FOUND and owner.name in raw.value.details()


def _not_found(client, job_id):
    try:
        client.job_state(job_id)
    except ClientError as exc:
        return exc
    return None


def test_a_busy_server_refuses_a_job_that_asks_for_an_idle_one(engine):
    with fleet(engine, 1) as (handle,), StyleClient(handle.address, timeout=60) as plain:
        stream = plain.stylize(encoded(content_image()), [encoded(style_image(611))], options=dict(JOB, steps=400))
        next(e for e in stream if isinstance(e, Started))
        request = style_pb2.StylizeRequest(content=encoded(content_image()).to_proto(),
                                           styles=[encoded(style_image(612)).to_proto()])
        with grpc.insecure_channel(handle.address) as channel:
            call = style_pb2_grpc.StyleServiceStub(channel).Stylize(request, metadata=(("nst-only-if-idle", "1"),))
            with pytest.raises(grpc.RpcError) as caught:
                next(call)
            assert caught.value.code() == grpc.StatusCode.UNAVAILABLE and "busy" in caught.value.details()
            assert dict(caught.value.trailing_metadata())["nst-busy"] == "1"
        stream.close()


def test_a_name_that_resolves_to_the_servers_is_a_fleet(engine):
    with fleet(engine, 1) as (handle,):
        port = handle.address.rsplit(":", 1)[1]
        with StyleClient(f"dns:///localhost:{port}", timeout=60) as client:
            assert client.fleet and "127.0.0.1:" + port in client.target.servers
            records = {}
            run_job(client, 613, records, options=dict(JOB, steps=2))
            assert records["server"] == handle.name
            assert client.describe()["server_name"] == handle.name


def test_one_local_address_is_one_server_as_before(server):
    target = parse(server.address)
    assert not target.fleet and target.target == server.address
    assert not parse("unix:/tmp/nst.sock").fleet


@pytest.mark.parametrize("address, words", [
    ("", ["empty"]),
    (" , ", ["empty"]),
    ("127.0.0.1:5001,,127.0.0.1:5002", ["empty entry", "number 2"]),
    ("127.0.0.1:5001,127.0.0.1", ["'127.0.0.1'", "HOST:PORT"]),
    ("127.0.0.1:5001,127.0.0.1:70000", ["'127.0.0.1:70000'"]),
    ("127.0.0.1:5001,127.0.0.1:5001", ["'127.0.0.1:5001' appears twice"]),
    ("localhost:5001,127.0.0.1:5001", ["'127.0.0.1:5001'", "same server as 'localhost:5001'"]),
    ("127.0.0.1:5001,no-such-host.invalid:5002", ["'no-such-host.invalid:5002'", "cannot resolve"]),
    ("127.0.0.1:5001,unix:/tmp/a.sock", ["unix", "fleet"]),
    ("dns:///no-such-host.invalid:5001", ["cannot resolve", "no-such-host.invalid"]),
    ("ipv4:127.0.0.1:5001,::1:5002", ["entry 2", "not an ipv4 address"]),
    ("ipv4:127.0.0.1:5001,127.0.0.1:5001", ["appears twice"]),
    # Digits that str.isdigit() takes and int() refuses.
    ("127.0.0.1:\u00b2,127.0.0.1:1", ["entry 1", "'127.0.0.1:\u00b2'", "HOST:PORT"]),
    ("dns:///localhost:\u00b2", ["'localhost:\u00b2'", "HOST:PORT"]),
    ("ipv6:[::1]:\u00b9", ["entry 1", "HOST:PORT"]),
    ("ipv4:127.0.0.1:\u2462", ["entry 1", "HOST:PORT"]),
])
def test_an_address_list_that_cannot_work_is_refused_naming_the_entry(address, words):
    with pytest.raises(ClientError) as caught:
        StyleClient(address)
    assert caught.value.code == "INVALID_ARGUMENT" and caught.value.field == "address"
    for word in words:
        assert word in caught.value.message, caught.value.message


def test_a_fleet_where_no_server_answers_says_so_within_the_connect_timeout():
    dead = f"{free_address()},{free_address()}"
    with StyleClient(dead, connect_timeout=1.5) as client:
        began = time.monotonic()
        with pytest.raises(ClientError) as caught:
            list(client.stylize(encoded(content_image()), [encoded(style_image(614))], options=JOB))
        assert time.monotonic() - began < 5
        assert caught.value.code == "UNAVAILABLE" and dead in caught.value.message
        assert "nst serve" in caught.value.message
        assert client.wait_ready(0.5) is False
        with pytest.raises(ClientError) as caught:
            client.health(timeout=1)
        assert caught.value.code == "UNAVAILABLE"


def test_a_fleet_client_closed_right_after_a_job_leaves_no_poller_to_fail(engine, monkeypatch):
    # gRPC's connectivity poller (waiting for a ready channel) wakes every 0.2 s; a channel closed before it
    # stopped made it raise in its own thread, a traceback after a script's own output.
    failures = []
    monkeypatch.setattr(threading, "excepthook", failures.append)
    with fleet(engine, 2) as handles:
        for _ in range(3):
            with StyleClient(addresses(handles)) as client:
                assert client.wait_ready(10)
                events = list(client.stylize(encoded(content_image()), [encoded(style_image(614))],
                                             options={"max_size": 32, "steps": 1, "multiscale": False}))
                assert isinstance(events[-1], Finished)
            with StyleClient(f"{free_address()},{free_address()}", connect_timeout=0.3) as client:
                assert client.wait_ready(0.3) is False
    time.sleep(0.5)
    assert [f"{f.exc_type.__name__}: {f.exc_value}" for f in failures] == []


def test_nst_stylize_refuses_a_bad_server_list_naming_it(tmp_path):
    run = subprocess.run([sys.executable, "-m", "server", "stylize", str(REPO / "samples" / "chelsea.png"),
                          str(REPO / "samples" / "starry_night.jpg"), "-o", str(tmp_path / "out.png"),
                          "--server", "127.0.0.1:5001,127.0.0.1:5001"], capture_output=True, text=True,
                         cwd=REPO, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "--server" in run.stderr and "appears twice" in run.stderr
    assert not (tmp_path / "out.png").exists()


def test_the_plugin_helper_starts_no_server_for_a_fleet(tmp_path):
    fleet_address = f"{free_address()},{free_address()}"
    (tmp_path / "job.json").write_text(json.dumps({"server": fleet_address, "auto_start": True}))
    out = io.StringIO()
    HelperJob(str(tmp_path), out=out).run()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "error" and events[-1]["code"] == "UNAVAILABLE"
    assert "fleet" in events[-1]["message"] and fleet_address in events[-1]["message"]
    assert not any(e.get("text", "").startswith("Starting") for e in events)
    with StyleClient(fleet_address) as probe:  # nothing was started behind the plug-in's back
        assert not wait_for(lambda: probe.wait_ready(0.2), timeout=1.0)


# -- failure ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def server_process(address: str, name: str, log_path):
    """`nst serve` as a real process (so that it can be killed), its log in a file; SERVING when yielded."""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("NST_TOKEN", "NST_SERVER")}
    with open(log_path, "a") as log:
        process = subprocess.Popen([sys.executable, "-m", "server", "serve", "--address", address, "--name", name,
                                    "--grace", "30"], stdout=subprocess.DEVNULL, stderr=log, env=env, cwd=REPO)
    try:
        assert wait_for(lambda: "listening on" in log_path.read_text() or process.poll() is not None, timeout=180)
        assert process.poll() is None, log_path.read_text()
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_killed_server_fails_its_job_naming_it_others_go_on_and_it_gets_jobs_once_back(engine, tmp_path):
    from tests.helpers import free_port

    port = free_port()
    log = tmp_path / "killed.log"
    with fleet(engine, 1) as (survivor,), server_process(f"127.0.0.1:{port}", "doomed", log) as process:
        with StyleClient(f"{survivor.address},127.0.0.1:{port}", timeout=300) as client:
            assert client.wait_ready(10)
            streams = [client.stylize(encoded(content_image()), [encoded(style_image(620 + i))],
                                      options=dict(JOB, steps=steps)) for i, steps in enumerate((400, 40))]
            started = [next(e for e in s if isinstance(e, Started)) for s in streams]
            by_server = {e.server_name: s for e, s in zip(started, streams)}
            assert set(by_server) == {"doomed", survivor.name}  # one job on each idle server
            process.kill()
            killed_at = time.monotonic()
            with pytest.raises(ClientError) as caught:
                list(by_server["doomed"])
            assert time.monotonic() - killed_at < 5
            assert caught.value.code == "UNAVAILABLE" and "doomed" in caught.value.message
            # The other job goes on to its result; new jobs go to the survivor at once.
            assert any(isinstance(e, Finished) for e in by_server[survivor.name])
            began = time.monotonic()
            records = {}
            run_job(client, 630, records, options=dict(JOB, steps=2))
            assert records["server"] == survivor.name and records["started"] - began < 5
            # Back on its port: once SERVING it gets jobs again within seconds.
            with server_process(f"127.0.0.1:{port}", "doomed", tmp_path / "restarted.log"):
                with StyleClient(f"127.0.0.1:{port}") as direct:
                    assert direct.health() == "SERVING"  # SERVING by the time it says it listens
                serving_at = time.monotonic()
                records = [{} for _ in range(2)]
                threads = [threading.Thread(target=run_job, args=(client, 640 + i, records[i],
                                                                   dict(JOB, steps=30))) for i in range(2)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(120)
                back = [r for r in records if r.get("server") == "doomed"]
                assert back and back[0]["started"] - serving_at < 5, records


def test_a_stopping_server_takes_no_new_job_but_finishes_the_running_one(engine):
    with fleet(engine, 2) as handles, StyleClient(addresses(handles), timeout=120) as client:
        stream = client.stylize(encoded(content_image()), [encoded(style_image(650))], options=dict(JOB, steps=40))
        started = next(e for e in stream if isinstance(e, Started))
        stopping = next(h for h in handles if h.name == started.server_name)
        other = next(h for h in handles if h is not stopping)
        stopper = threading.Thread(target=stopping.stop, kwargs={"grace": 60})  # what SIGTERM does
        stopper.start()
        with StyleClient(stopping.address) as direct:
            assert wait_for(lambda: direct.health() == "NOT_SERVING", timeout=5)
        records = {}
        run_job(client, 651, records, options=dict(JOB, steps=2))  # while the stopping one still runs its job
        assert records["server"] == other.name
        events = list(stream)  # the running job was served to its end
        assert any(isinstance(e, Finished) for e in events)
        stopper.join(60)
        assert not stopper.is_alive()


def test_nst_serve_with_a_fleet_in_nst_server_asks_for_its_own_address():
    env = {k: v for k, v in __import__("os").environ.items() if k != "NST_TOKEN"}
    env["NST_SERVER"] = "127.0.0.1:5001,127.0.0.1:5002"
    run = subprocess.run([sys.executable, "-m", "server", "serve"], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=60)
    assert run.returncode == 2 and "fleet" in run.stderr and "--address" in run.stderr
