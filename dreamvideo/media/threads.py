"""Small threads that overlap decoding, flow and encoding with dreaming."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def prefetch(items: Iterator[T], depth: int = 4) -> Generator[T, None, None]:
    """Run ``items`` in a background thread, ``depth`` ahead; its exceptions surface here."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
        except BaseException as exc:  # handed to the consumer
            q.put((_END, exc))
            return
        finally:
            close = getattr(items, "close", None)
            if stop.is_set() and close is not None:
                close()
        q.put((_END, None))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.1)


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int, name: str = "dreamvideo") -> Iterator[R]:
    """``map(fn, items)`` on ``workers`` threads, results in order, one item more than there are workers
    ahead of the consumer; one worker maps on the caller's thread. Closing the iterator drops what is
    queued and waits for what is running; an exception in ``fn`` surfaces at its item."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    pending: deque = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class Sink:
    """Calls ``consume(item)`` on a background thread; errors are raised on the next ``put`` or ``close``."""

    def __init__(self, consume: Callable[[Any], None], depth: int = 4):
        self.consume = consume
        self.error: BaseException | None = None
        self.q: queue.Queue = queue.Queue(maxsize=depth)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is _END:
                return
            if self.error is None:
                try:
                    self.consume(item)
                except BaseException as exc:
                    self.error = exc

    def put(self, item: Any) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(item)

    def close(self) -> None:
        self.q.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def finish_quietly(self, timeout: float = 60.0) -> None:
        """After an error elsewhere: let the queued items through, stop, and swallow errors."""
        try:
            self.q.put(_END, timeout=timeout)
        except queue.Full:
            return
        self.thread.join(timeout=timeout)
