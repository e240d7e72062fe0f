"""Ray, for batches and split renders on several GPUs or machines (`pip install "dreamvideo[ray]"`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dreamvideo.errors import ConfigError, did_you_mean

EXECUTORS = ("local", "ray")  # where batch jobs and split segments run


def check_executor(name: str) -> None:
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r}: {did_you_mean(name, EXECUTORS)}use {' or '.join(EXECUTORS)}")


def pick_executor(executor: str | None, address: str | None) -> str:
    """The executor a command runs on: the one named, else Ray where a cluster's ``address`` is given, else
    this machine. An address is never ignored: with the local executor it is refused."""
    name = executor or ("ray" if address is not None else "local")
    check_executor(name)
    if address is not None and name != "ray":
        raise ConfigError(f"--address {address!r} names a Ray cluster, but --executor is {name}; use --executor ray "
                          "or leave --executor out")
    return name


def _call(fn: Callable[..., Any], threads: int, *args: Any) -> Any:
    import torch

    torch.set_num_threads(threads)  # Ray workers start with one thread; the same count gives the same numbers
    return fn(*args)


@contextmanager
def ray_tasks(address: str | None = None) -> Iterator[Callable[..., Any]]:
    """Yields ``submit(fn, *args) -> ObjectRef``: ``fn(*args)`` as a Ray task that claims a GPU where the
    cluster has them. Starts a local Ray instance unless ``address`` names a cluster (or one is running)."""
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError("--executor ray needs Ray: pip install \"dreamvideo[ray]\"") from None
    import torch

    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_gpus=gpus, num_cpus=1, max_retries=0)(_call)
        threads = torch.get_num_threads()
        yield lambda fn, *args: task.remote(fn, threads, *args)
    finally:
        if started:
            ray.shutdown()
