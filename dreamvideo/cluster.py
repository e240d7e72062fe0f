"""Ray, for batches and split renders on several GPUs or machines (`pip install "dreamvideo[ray]"`)."""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    RAY_AUTH_TOKEN or ~/.ray/auth_token (a driver given an address uses a token only when told to)."""
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


def tokens_by_default() -> bool:
    """Whether `ray start --head` turns token authentication on by itself: from Ray 2.61 (before, only
    clusters that `ray.init()` starts on one machine have it, from 2.59)."""
    from importlib.metadata import version

    major, minor = (int(part) for part in version("ray").split(".")[:2])
    return (major, minor) >= (2, 61)


def auth_fix(with_token: bool) -> str:
    if with_token:
        token = "the cluster may use another token: copy its ~/.ray/auth_token here or set RAY_AUTH_TOKEN"
    else:
        started = ("`ray start --head` turns it on by default" if tokens_by_default() else
                   "a head started with RAY_AUTH_MODE=token uses it")
        token = (f"if the cluster uses token authentication ({started}), export RAY_AUTH_MODE=token with the "
                 "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")
    return f"{token}; or check that the address is the one `ray start` printed (Ray's own messages: {ray_log()})"


RETRIES = 3  # how often a task whose worker or node died is run again elsewhere (Ray's system-failure retries)
CPUS_PER_TASK = 1  # the cores a task claims, and the torch threads it runs with


def _call(fn: Callable[..., Any], threads: int, board: Any, key: str, *args: Any) -> Any:
    import ray
    import torch

    torch.set_num_threads(threads)  # the cores the task claimed: as many threads, no more
    attempt = uuid.uuid4().hex[:8]
    context = ray.get_runtime_context()
    node = f"{ray.util.get_node_ip_address()}/{context.get_node_id()[:6]}"

    def progress(done: int, total: int) -> None:
        board.report.remote(key, attempt, node, done, total)

    try:  # the attempt is on the board before any work: a retry is known even if this one dies at once
        ray.get(board.report.remote(key, attempt, node, 0, 0), timeout=30)
    except Exception:  # the board is a convenience: the work goes on without it
        pass
    return fn(*args, progress=progress)


class Board:
    """The cluster's progress, kept by an actor on the driver's node: each task's frames done and total, by
    key, and each attempt's node (a task that was started more than once was retried)."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}

    def report(self, key: str, attempt: str, node: str, done: int, total: int) -> None:
        task = self.tasks.setdefault(key, {"attempts": {}, "done": 0, "total": 0})
        task["attempts"].setdefault(attempt, node)
        if attempt == list(task["attempts"])[-1]:  # a lost attempt's late reports do not count
            task["done"], task["total"] = done, max(total, task["total"])

    def read(self) -> dict[str, dict[str, Any]]:
        return self.tasks


@dataclass
class Tasks:
    """``submit(key, fn, *args)``: ``fn(*args, progress=...)`` as a Ray task (a GPU where the cluster has
    them, ``cpus`` cores, retried elsewhere when its worker or node dies); ``board()``: what the tasks
    reported, by key."""

    submit: Callable[..., Any]
    read: Callable[[], dict[str, dict[str, Any]]]

    def board(self) -> dict[str, dict[str, Any]]:
        """What the tasks reported ({} where the board cannot be read: it costs only the progress bar)."""
        try:
            return self.read()
        except Exception:
            return {}

    def finished(self, refs: list[Any], progress: Callable[[int, int, str], None] | None = None
                 ) -> Iterator[tuple[Any, dict[str, dict[str, Any]]]]:
        """Each of ``refs`` as its task finishes, with the board as read then; meanwhile ``progress(frames
        done, frames in all, nodes at work)`` every half second."""
        import ray

        left = list(refs)
        while left:
            done, left = ray.wait(left, num_returns=1, timeout=0.5)
            board = self.board()
            if progress is not None and board:
                progress(*at_work(board))
            for ref in done:
                yield ref, board


def at_work(board: dict[str, dict[str, Any]]) -> tuple[int, int, str]:
    """Frames done and in all over the tasks on ``board``, and the nodes of those still running."""
    nodes = {list(t["attempts"].values())[-1] for t in board.values() if t["attempts"] and t["done"] < t["total"]}
    return sum(t["done"] for t in board.values()), sum(t["total"] for t in board.values()), ", ".join(sorted(nodes))


def retried(task: dict[str, Any]) -> str:
    """'' for a task that ran once, else where its attempts ran ("retried: A, then B")."""
    nodes = list(task.get("attempts", {}).values())
    return "" if len(nodes) < 2 else "retried: " + ", then ".join(nodes)


def ray_log() -> Path:
    """Where Ray's own messages go while dreamvideo uses a cluster (its core writes them to the process's stderr)."""
    import tempfile

    return Path(tempfile.gettempdir()) / f"dreamvideo-ray-{os.getpid()}.log"


@contextmanager
def ray_quiet() -> Iterator[None]:
    """The process's stderr (file descriptor 2, where Ray's core writes) goes to ``ray_log()``; Python's
    ``sys.stderr``, where dreamvideo writes its own lines, stays on the terminal."""
    try:
        sys.stderr.flush()
        ours = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): fd 2 alone is redirected
        ours = False
    saved = os.dup(2)
    with open(ray_log(), "ab") as log:
        os.dup2(log.fileno(), 2)
    stream = sys.stderr
    if ours:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=stream.encoding, errors="backslashreplace")
    # the driver's thread that prints the cluster's error messages ("(raylet) Task ... failed", a node marked
    # dead) writes them to sys.stdout as it finds it; they go to the log instead
    worker = sys.modules.get("ray._private.worker")
    printer = getattr(worker, "print_to_stdstream", None)

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        with open(ray_log(), "a") as log:
            log.writelines(f"({data.get('pid', '')}) {line}\n" for line in data.get("lines", []))

    if printer is not None:
        worker.print_to_stdstream = to_log  # type: ignore[union-attr]
    failed = True
    try:
        yield
        failed = False
    finally:
        if printer is not None:
            worker.print_to_stdstream = printer  # type: ignore[union-attr]
        if ours:
            sys.stderr.close()
            sys.stderr = stream
        os.dup2(saved, 2)
        os.close(saved)
        if not failed:
            ray_log().unlink(missing_ok=True)


@contextmanager
def ray_tasks(address: str | None = None, cpus: int = CPUS_PER_TASK) -> Iterator[Tasks]:
    """Ray tasks on the cluster at ``address`` (None: a Ray instance started on this machine, unless one is
    running). Ray's own log lines never reach the terminal; failures are one ConfigError line."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ConfigError("--executor ray needs Ray: pip install \"dreamvideo[ray]\"")
    if cpus < 1:
        raise ConfigError(f"--cpus-per-task {cpus}: a task needs at least one core")
    import ray  # before stderr is redirected: Ray's Python loggers keep the stream they were set up with

    started = not ray.is_initialized()
    with ray_quiet():
        if started:
            connect(address)
        with _tasks(started, cpus) as tasks:
            yield tasks


@contextmanager
def _tasks(started: bool, cpus: int) -> Iterator[Tasks]:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        task = ray.remote(num_gpus=gpus, num_cpus=cpus, max_retries=RETRIES, retry_exceptions=False)(_call)
        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
        board: Any = ray.remote(num_cpus=0, max_restarts=0)(Board).options(scheduling_strategy=here).remote()
        yield Tasks(lambda key, fn, *args: task.remote(fn, cpus, board, key, *args),
                    lambda: ray.get(board.read.remote(), timeout=60))
    finally:
        if started:
            ray.shutdown()
