"""Health, shutdown, auth, reflection, binding, and the `python -m server serve` process."""
from __future__ import annotations

import contextlib
import itertools
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from server.client import ClientError, Progress, Result, Started, StyleClient
from server.service import ServerStartError, start_server
from tests.helpers import SMALL, content_image, encoded, running_server, style_image, wait_for


def test_health_is_not_serving_until_the_model_is_ready(engine):
    gate = threading.Event()

    def slow_load():
        gate.wait(30)  # stands for the seconds a real weights load takes
        return engine

    with running_server(load=slow_load, wait=False) as handle, StyleClient(handle.address) as c:
        assert c.health() == "NOT_SERVING"
        with pytest.raises(ClientError) as caught:
            list(c.stylize(encoded(content_image()), [encoded(style_image(31))], options=SMALL))
        assert caught.value.code == "UNAVAILABLE" and "loading" in caught.value.message
        gate.set()
        assert c.wait_ready(30) is True
        assert c.health() == "SERVING"


def test_shutdown_goes_not_serving_and_cancels_the_running_job_within_grace(engine):
    handle = start_server(engine=engine, address="127.0.0.1:0", warmup=False)
    with StyleClient(handle.address) as c:
        stream = c.stylize(encoded(content_image()), [encoded(style_image(32))], options=dict(SMALL, steps=200))
        job_id = next(e for e in stream if isinstance(e, Started)).job_id
        next(e for e in stream if isinstance(e, Progress))
        stopper = threading.Thread(target=handle.stop, kwargs={"grace": 0.5})
        stopper.start()
        assert wait_for(lambda: c.health() == "NOT_SERVING", timeout=10)
        with pytest.raises(ClientError) as caught:
            list(stream)
        assert caught.value.code == "UNAVAILABLE" and "shutting down" in caught.value.message
        stopper.join(30)
        assert not stopper.is_alive()
        assert handle.manager.get(job_id).steps_done < 200


def test_token_required_for_everything_but_health(engine):
    with running_server(engine, token="s3cret") as handle, \
            StyleClient(handle.address, token="") as anonymous, \
            StyleClient(handle.address, token="wrong") as wrong, \
            StyleClient(handle.address, token="s3cret") as right:
        assert anonymous.health() == "SERVING"
        for c in (anonymous, wrong):
            with pytest.raises(ClientError) as caught:
                c.describe()
            assert caught.value.code == "UNAUTHENTICATED" and "token" in caught.value.message
            with pytest.raises(ClientError) as caught:
                list(c.stylize(encoded(content_image()), [encoded(style_image(33))], options=SMALL))
            assert caught.value.code == "UNAUTHENTICATED"
        assert right.describe()["auth_required"] is True
        events = list(right.stylize(encoded(content_image()), [encoded(style_image(33))], options=SMALL))
        assert any(isinstance(e, Result) for e in events)


def test_reflection_lists_and_describes_the_services(server):
    with grpc.insecure_channel(server.address) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {"nst.v1.StyleService", "grpc.health.v1.Health"} <= services
        file = db.FindFileContainingSymbol("nst.v1.StyleService")
        assert file.package == "nst.v1"
        assert [m.name for m in file.service[0].method] == ["Stylize", "CancelJob", "GetJob", "Describe",
                                                            "StylizeSequence"]


def test_refuses_an_address_already_in_use(server):
    with pytest.raises(ServerStartError) as caught:
        start_server(engine=server.engine, address=server.address, warmup=False)
    assert server.address in str(caught.value)
    with StyleClient(server.address) as c:
        assert c.health() == "SERVING"  # the first server is unharmed


def test_unix_socket_address(engine, tmp_path):
    address = f"unix:{tmp_path}/nst.sock"
    with running_server(engine, address=address) as handle, StyleClient(address) as c:
        assert handle.address == address
        events = list(c.stylize(encoded(content_image()), [encoded(style_image(34))], options=SMALL))
        assert any(isinstance(e, Result) for e in events)


def test_unix_socket_of_a_live_server_is_refused_and_a_stale_one_reused(engine, tmp_path):
    path = tmp_path / "nst.sock"
    address = f"unix:{path}"
    with running_server(engine, address=address):
        with pytest.raises(ServerStartError) as caught:
            start_server(engine=engine, address=address, warmup=False)
        assert address in str(caught.value) and "already" in str(caught.value)
        with StyleClient(address) as c:
            assert c.health() == "SERVING"  # the first server still owns its socket
    # A socket file nobody listens on (a crashed server's) is taken over.
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()
    with running_server(engine, address=f"unix:{stale}"), StyleClient(f"unix:{stale}") as c:
        assert c.health() == "SERVING"


@contextlib.contextmanager
def spawned_server(*args):
    """`nst serve ARGS` as a real process, killed at the end if it is still running."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("NST_TOKEN", None)
    process = subprocess.Popen([sys.executable, "-m", "server", "serve", *args], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _lines_until_loading(process):
    """The server's log lines up to the one that says it is loading its model."""
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "loading" in line:
            break
    return lines


def _read_listening_line(process, timeout=120):
    lines = []
    timer = threading.Timer(timeout, process.kill)
    timer.start()
    try:
        for line in process.stderr:
            lines.append(line)
            if line.startswith("listening on "):
                return line.split("listening on ", 1)[1].strip(), lines
    finally:
        timer.cancel()
    raise AssertionError("server never said it was listening:\n" + "".join(lines))


def test_server_process_serves_then_exits_0_on_sigterm():
    with spawned_server("--address", "127.0.0.1:0", "--grace", "1") as process:
        address, _ = _read_listening_line(process)
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        with StyleClient(address) as c:
            assert c.health() == "SERVING"  # SERVING by the time the line is printed
            assert c.describe()["weights"]["source"] == "original"
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_server_process_asked_to_stop_while_loading_exits_0(signum):
    # Loading takes seconds (torch import, weights, warm-up): a stop request at any point of it is clean.
    for delay in (0.0, 1.0, 2.5):
        with spawned_server("--address", "127.0.0.1:0") as process:
            lines = _lines_until_loading(process)
            time.sleep(delay)
            assert process.poll() is None, "".join(lines)  # still loading
            process.send_signal(signum)
            code = process.wait(60)
            lines.append(process.stderr.read())
            assert code == 0, f"exit {code} after {delay} s:\n" + "".join(lines)


def test_server_process_signalled_again_and_again_while_stopping_exits_0():
    # An impatient supervisor: SIGTERM while loading, then SIGTERM and SIGINT every few ms until it is gone.
    with spawned_server("--address", "127.0.0.1:0") as process:
        lines = _lines_until_loading(process)
        threading.Thread(target=lambda: lines.append(process.stderr.read()), daemon=True).start()
        signals = itertools.cycle([signal.SIGTERM, signal.SIGTERM, signal.SIGINT])
        while process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(next(signals))
            time.sleep(0.005)
        assert process.wait(60) == 0, f"exit {process.returncode}:\n" + "".join(lines)


def test_server_process_refuses_a_taken_address(server):
    with spawned_server("--address", server.address) as process:
        assert process.wait(120) != 0
        assert "cannot listen on" in process.stderr.read()


def test_out_of_memory_is_resource_exhausted_and_the_next_job_runs():
    # A real allocation failure: the server process gets an address-space limit ~768 MiB above its
    # loaded size, then a 2048 px job needs a single 1 GiB activation.
    with spawned_server("--address", "127.0.0.1:0", "--queue-size", "1") as process:
        address, _ = _read_listening_line(process)
        threading.Thread(target=process.stderr.read, daemon=True).start()  # keep its log pipe drained
        with open(f"/proc/{process.pid}/status") as status:
            vm_bytes = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
        resource.prlimit(process.pid, resource.RLIMIT_AS, (vm_bytes + 768 * 2**20, resource.RLIM_INFINITY))
        with StyleClient(address) as c:
            with pytest.raises(ClientError) as caught:
                list(c.stylize(encoded(content_image((2048, 2048))), [encoded(style_image(35, (64, 64)))],
                               options={"max_size": 2048, "steps": 1, "multiscale": False}))
            assert caught.value.code == "RESOURCE_EXHAUSTED" and "memory" in caught.value.message
            assert c.health() == "SERVING"
            events = list(c.stylize(encoded(content_image()), [encoded(style_image(36))], options=SMALL))
            assert any(isinstance(e, Result) for e in events)
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0


@pytest.mark.parametrize("flags, words", [
    (["--address", "127.0.0.1:99999"], "65535"),
    (["--address", "localhost"], "HOST:PORT"),
    (["--memory-budget-mb", str(2**44)], "--memory-budget-mb"),
    (["--memory-budget-mb", "0"], "--memory-budget-mb"),
    (["--cache-mb", "-5"], "--cache-mb"),
    (["--queue-mb", "nan"], "--queue-mb"),
    (["--queue-size", "-1"], "--queue-size"),
    (["--max-pixels", "0"], "--max-pixels"),
    (["--grace", "inf"], "--grace"),
    (["--max-pixels", "1000", "--max-request-pixels", "10"], "max_request_pixels"),
])
def test_bad_serve_flags_exit_2_with_a_message_before_loading(flags, words):
    with spawned_server("--address", "127.0.0.1:0", *flags) as process:
        assert process.wait(120) == 2
        err = process.stderr.read()
        assert words in err and "Traceback" not in err and "listening" not in err, err


def test_a_unix_address_on_a_file_or_folder_is_refused_and_nothing_is_removed(tmp_path):
    kept = tmp_path / "notes.txt"
    kept.write_text("precious")
    for path, kind in ((kept, "not a socket"), (tmp_path, "folder")):
        with spawned_server("--address", f"unix:{path}") as process:
            assert process.wait(120) == 2
            err = process.stderr.read()
            assert kind in err and "Traceback" not in err, err
    assert kept.read_text() == "precious"
    with pytest.raises(ServerStartError):  # the same from the Python API
        start_server(engine=None, load=lambda: None, address=f"unix:{kept}", wait=False)
    assert kept.read_text() == "precious"


def test_a_unix_address_that_no_socket_can_have_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "afile").write_text("x")
    env = {k: v for k, v in os.environ.items() if k not in ("NST_TOKEN", "NST_SERVER")}
    for path, words in ((tmp_path / "afile" / "sub.sock", "Not a directory"),
                        (tmp_path / ("n" * 256) / "sub.sock", "too long")):
        for args, extra in ((["--address", f"unix:{path}"], {}), ([], {"NST_SERVER": f"unix:{path}"})):
            run = subprocess.run([sys.executable, "-m", "server", "serve", *args], capture_output=True, text=True,
                                 env=dict(env, **extra), timeout=120)
            assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, run.stderr
            assert ("NST_SERVER" in run.stderr) == bool(extra)


def test_the_default_name_from_a_unix_address_obeys_the_name_rule(engine, tmp_path):
    folder = tmp_path / "t4 u@x"
    folder.mkdir()
    address = f"unix:{folder}/so\tck.sock"
    with running_server(engine, address=address) as handle, StyleClient(address) as c:
        assert "@" not in handle.name and "\t" not in handle.name and " " not in handle.name
        stream = c.stylize(encoded(content_image()), [encoded(style_image(37))], options=SMALL)
        job_id = next(e for e in stream if isinstance(e, Started)).job_id
        list(stream)
        assert job_id.endswith("@" + handle.name)
        assert c.job_state(job_id) == "succeeded"  # its own job, not one "elsewhere"


def test_nst_server_from_the_environment_is_checked_like_the_flag():
    env = dict(os.environ, NST_SERVER="127.0.0.1:70000")
    run = subprocess.run([sys.executable, "-m", "server", "serve"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert run.returncode == 2 and "NST_SERVER" in run.stderr and "65535" in run.stderr, run.stderr
