"""Ray, for batches and split renders on several GPUs or machines (`pip install "dreamvideo[ray]"`)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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


CONNECT_SECONDS = 15.0  # the longest a cluster gets to answer (Ray alone retries for 20 s and more)
CLIENT_ATTEMPTS = 3  # ray:// connections: a busy head may fail to start the client's server in time
FIX = ("start its head with `ray start --head` and pass the address it prints (HOST:6379, or ray://HOST:10001 "
       "for Ray's client)")


def split_address(address: str) -> tuple[str, int, bool]:
    """(host, port, client) of a cluster address: ``HOST:PORT`` (the head's GCS) or ``ray://HOST[:PORT]``."""
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").rstrip("/")
    host, sep, port = rest.rpartition(":") if not rest.endswith("]") else (rest, "", "")
    if not sep:
        host, port = rest, "10001" if client else "6379"
    if not port.isdigit() or not host:
        raise ConfigError(f"--address {address!r}: give the head's HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:10001")
    return host.strip("[]"), int(port), client


def token_auth() -> bool:
    """Whether the driver authenticates with a token: RAY_AUTH_MODE=token, or, where it is unset, a token in
    RAY_AUTH_TOKEN or ~/.ray/auth_token (Ray 2.60 starts clusters with token authentication on, and a
    driver given an address uses it only when told to)."""
    mode = os.environ.get("RAY_AUTH_MODE")
    if mode is not None:
        return mode == "token"
    if os.environ.get("RAY_AUTH_TOKEN") or (Path.home() / ".ray" / "auth_token").is_file():
        os.environ["RAY_AUTH_MODE"] = "token"
        if "ray._raylet" in sys.modules:  # Ray read its configuration when it was imported: read it again
            try:
                sys.modules["ray._raylet"].Config.initialize("")
            except Exception:  # another Ray than this was written against: the variable alone
                pass
        return True
    return False


def connect(address: str | None) -> None:
    """``ray.init`` for ``address`` (None: a Ray instance on this machine), or one ConfigError line naming the
    address, what failed and the fix, within ``CONNECT_SECONDS``."""
    with_token = token_auth() if address not in (None, "auto") else False
    import ray

    if address is None or address == "auto":
        ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 logging_level=logging.WARNING)
        return
    host, port, client = split_address(address)
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"the Ray cluster at {address!r} cannot be reached ({exc.strerror or exc}): {FIX}") from None
    if client:
        try:
            import grpc  # noqa: F401  (what Ray's client needs)
        except ModuleNotFoundError:
            raise ConfigError(f"--address {address!r}: ray:// addresses need Ray's client: pip install "
                              "\"dreamvideo[ray]\" (it brings ray[client]), or give the head's HOST:6379") from None
    if client:  # Ray's client connects from the main thread only (its own retries bound the wait)
        for attempt in range(CLIENT_ATTEMPTS):
            try:
                ray.init(address=address, ignore_reinit_error=True, log_to_driver=False,
                         logging_level=logging.WARNING)
                return
            except ConnectionAbortedError as exc:  # the head could not start this client's server in time
                if attempt + 1 < CLIENT_ATTEMPTS and "Initialization failure" in str(exc):
                    ray.shutdown()  # what the failed attempt set up; a new server is started for the next
                    continue
                failed: Exception = exc
            except Exception as exc:
                failed = exc
            raise ConfigError(f"the Ray cluster at {address!r} did not take the connection "
                              f"({str(failed).splitlines()[0][:200]}); {auth_fix(with_token)}") from None
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(address=address, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False,
                 logging_level=logging.WARNING)
        except BaseException as exc:  # reported below, as one line
            failure.append(exc)

    thread = threading.Thread(target=init, name="dreamvideo-ray-connect", daemon=True)
    thread.start()
    thread.join(CONNECT_SECONDS)
    if thread.is_alive() or failure:
        what = f"no answer within {CONNECT_SECONDS:g} s" if thread.is_alive() else \
            str(failure[0]).splitlines()[0][:200]
        raise ConfigError(f"the Ray cluster at {address!r} did not take the connection ({what}); "
                          f"{auth_fix(with_token)}")


def auth_fix(with_token: bool) -> str:
    token = ("the cluster may use another token: copy its ~/.ray/auth_token here or set RAY_AUTH_TOKEN" if with_token
             else "if the cluster uses token authentication (Ray 2.60's default), export RAY_AUTH_MODE=token "
                  "with the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
    return f"{token}; or check that the address is the one `ray start` printed"


@contextmanager
def ray_tasks(address: str | None = None) -> Iterator[Callable[..., Any]]:
    """Yields ``submit(fn, *args) -> ObjectRef``: ``fn(*args)`` as a Ray task that claims a GPU where the
    cluster has them. Starts a local Ray instance unless ``address`` names a cluster (or one is running)."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor ray needs Ray: pip install \"dreamvideo[ray]\"")
    import torch

    started = "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    if started:
        connect(address)
    import ray

    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_gpus=gpus, num_cpus=1, max_retries=0)(_call)
        threads = torch.get_num_threads()
        yield lambda fn, *args: task.remote(fn, threads, *args)
    finally:
        if started:
            ray.shutdown()
