"""CUDA-only behaviour of the engine and the server (skipped where no CUDA device is present).

Out of device memory is a clear error naming a size to try and leaves nothing allocated; the memory budget
comes from the device's free memory and a job stays inside it; jobs run back to back without the cached
(reserved) memory growing; cancel stops within one step.
"""
from __future__ import annotations

import pytest
import torch

from nst_core import CancelToken, Cancelled, DeviceOutOfMemory, Engine, StyleOptions
from tests.helpers import content_image, style_image

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
SMALL = dict(max_size=64, steps=3, multiscale=False)


@pytest.fixture(scope="module")
def cuda_engine(engine):
    """The session's engine when the suite runs on CUDA (NST_TEST_DEVICE=cuda), else one of its own."""
    return engine if engine.torch_device.type == "cuda" else Engine(device="cuda")


def settle():
    torch.cuda.synchronize()
    return torch.cuda.memory_allocated()


def test_out_of_device_memory_names_a_size_to_try_and_frees_everything(cuda_engine):
    idle = settle()
    free, _ = torch.cuda.mem_get_info()
    # Cap this process below what a 4096² untiled step needs, and tell the planner it has plenty: a real
    # allocation failure in the middle of a step.
    fraction = (idle + 2 * 2**30) / torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(fraction)
    try:
        with pytest.raises(DeviceOutOfMemory) as caught:
            cuda_engine.with_memory_budget(free // 2**20).stylize(
                content_image((4096, 4096)), [style_image(1, (256, 256))],
                StyleOptions(max_size=4096, steps=1, multiscale=False, precision="float32"))
        message = str(caught.value)
        assert "4096×4096" in message and "max_size 2048" in message  # the size that failed, what to try
        assert settle() == idle  # nothing of the failed job is left allocated
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    result = cuda_engine.stylize(content_image(), [style_image(2)], StyleOptions(**SMALL))
    assert result.image.size == (40, 30) and settle() == idle


def test_default_budget_comes_from_free_device_memory_and_a_job_stays_inside_its_budget(cuda_engine):
    free, _ = torch.cuda.mem_get_info()
    options = StyleOptions(max_size=2048, steps=2, coarse_steps=0)
    untiled = cuda_engine.plan((2048, 2048), [(256, 256)], options)
    assert 0 < untiled.budget_bytes <= free + torch.cuda.memory_reserved()  # the default: from free memory
    assert not untiled.scales[-1].tiled
    # A budget with room for little more than half of what the scale needs in one piece: it is tiled.
    budget = untiled.resident_bytes + untiled.scales[-1].peak_bytes // 2
    budget_mb = budget // 2**20 + 1
    budgeted = cuda_engine.with_memory_budget(budget_mb)
    assert budgeted.plan((2048, 2048), [(256, 256)], options).scales[-1].tiled
    settle()
    torch.cuda.reset_peak_memory_stats()
    result = budgeted.stylize(content_image((2048, 2048)), [style_image(3, (256, 256))], options)
    assert result.image.size == (2048, 2048) and result.plan.scales[-1].tiled
    assert torch.cuda.max_memory_allocated() <= budget_mb * 2**20


def test_jobs_back_to_back_do_not_grow_reserved_memory(cuda_engine):
    options = StyleOptions(max_size=256, steps=5, coarse_steps=2)
    content = content_image((256, 192))
    cuda_engine.stylize(content, [style_image(4, (128, 128))], options)  # allocator and kernels warm
    idle, reserved = settle(), torch.cuda.memory_reserved()
    for seed in range(5, 9):
        cuda_engine.stylize(content, [style_image(seed, (128, 128))], options)
        assert settle() == idle
    assert torch.cuda.memory_reserved() <= reserved


def test_cancel_stops_within_one_step(cuda_engine):
    token, seen = CancelToken(), []

    def on_progress(p):
        seen.append(p.overall_step)
        if p.overall_step == 3:
            token.cancel()

    idle = settle()
    with pytest.raises(Cancelled):
        cuda_engine.stylize(content_image((128, 96)), [style_image(9)], StyleOptions(max_size=128, steps=200),
                            progress=on_progress, cancel=token)
    assert seen[-1] == 3 and settle() == idle


def test_the_server_answers_out_of_device_memory_with_resource_exhausted_and_runs_the_next_job(cuda_engine):
    from server.client import ClientError, Result, StyleClient
    from tests.helpers import encoded, running_server

    free, _ = torch.cuda.mem_get_info()
    try:
        # No style cache: it would keep the failed job's style targets on the device, on purpose.
        with running_server(cuda_engine, memory_budget_mb=free // 2**20, cache_mb=0) as handle, \
                StyleClient(handle.address, timeout=300) as client:
            # A first job, so that the worker thread's own cuBLAS workspace (32 MiB) counts as idle.
            assert any(isinstance(e, Result) for e in client.stylize(encoded(content_image()),
                                                                     [encoded(style_image(12))], options=SMALL))
            idle = settle()
            total = torch.cuda.get_device_properties(0).total_memory
            torch.cuda.set_per_process_memory_fraction((idle + 2 * 2**30) / total)
            with pytest.raises(ClientError) as caught:
                list(client.stylize(encoded(content_image((4096, 4096))), [encoded(style_image(10, (256, 256)))],
                                    options=dict(max_size=4096, steps=1, multiscale=False, precision="float32")))
            assert caught.value.code == "RESOURCE_EXHAUSTED" and "max_size 2048" in caught.value.message
            assert settle() == idle
            events = list(client.stylize(encoded(content_image()), [encoded(style_image(11))], options=SMALL))
            assert any(isinstance(e, Result) for e in events) and settle() == idle
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)


def test_kept_tiles_give_autograds_gradient_on_cuda(cuda_engine):
    """The compact backward record (nst_core.lean) replays cuDNN's convolutions: same gradient as autograd."""
    from nst_core import lean
    model = cuda_engine.model
    x = (torch.rand(1, 3, 96, 128, device="cuda") * 255 - 120).contiguous(memory_format=torch.channels_last)
    names = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    grads = []
    for network in (lambda v: model(v, names), lambda v: lean.trunk(model, v, names)):
        v = x.clone().requires_grad_(True)
        sum(o.square().mean() for o in network(v).values()).backward()
        grads.append(v.grad)
    assert float((grads[1] - grads[0]).norm() / grads[0].norm()) <= 1e-5
    result = cuda_engine.stylize(content_image((160, 128)), [style_image(1, (96, 96))],
                                 StyleOptions(max_size=160, steps=2, multiscale=False, tile_size=64, precision="float32"))
    assert result.plan.scales[-1].grid.keep and result.image.size == (160, 128)
