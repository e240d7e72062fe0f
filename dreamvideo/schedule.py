"""Keyframed values: a number, or {seconds: value} interpolated linearly or smoothly between keys.

    zoom.scale: 1.5                     # constant
    zoom.scale: {0: 1.2, 5: 2.0, 10: 1.2}   # speeds up, then slows down again
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer


@dataclass(frozen=True)
class Schedule:
    keys: tuple[tuple[float, float], ...]  # (seconds, value), strictly increasing seconds

    def at(self, seconds: float, smooth: bool = False) -> float:
        keys = self.keys
        if seconds <= keys[0][0]:
            return keys[0][1]
        for (t0, v0), (t1, v1) in zip(keys, keys[1:]):
            if seconds <= t1:
                u = (seconds - t0) / (t1 - t0)
                if smooth:
                    u = u * u * (3 - 2 * u)  # smoothstep: no jolt at the keys
                return v0 + (v1 - v0) * u
        return keys[-1][1]

    @property
    def constant(self) -> bool:
        return len(self.keys) == 1


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} {value!r} is not a number")
    return float(value)


def _numeric(key: Any) -> Any:
    """Keys read back from JSON are strings: accept "5" and "2.5", nothing else."""
    if isinstance(key, str):
        try:
            return float(key)
        except ValueError:
            return key
    return key


def schedule(low: float | None = None, high: float | None = None, low_open: bool = False):
    """An annotated Schedule type whose values must lie in [low, high] (or (low, high] with low_open)."""

    def check(v: float) -> float:
        if low is not None and (v <= low if low_open else v < low):
            raise ValueError(f"{v:g} is out of range: must be {'>' if low_open else '>='} {low:g}")
        if high is not None and v > high:
            raise ValueError(f"{v:g} is out of range: must be <= {high:g}")
        return v

    def parse(raw: Any) -> Schedule:
        if isinstance(raw, Schedule):
            return raw
        if isinstance(raw, dict):
            if not raw:
                raise ValueError("a schedule needs at least one key, e.g. {0: 1.0, 10: 2.0}")
            keys = []
            for k, v in raw.items():
                t = _number(_numeric(k), "schedule key (seconds)")
                if t < 0:
                    raise ValueError(f"schedule key {k!r} is negative; keys are seconds from the start")
                if keys and t <= keys[-1][0]:
                    raise ValueError(f"schedule keys must increase: {k!r} comes after {keys[-1][0]:g}")
                keys.append((t, check(_number(v, f"value at {k!r}"))))
            return Schedule(tuple(keys))
        return Schedule(((0.0, check(_number(raw, "value"))),))

    def dump(s: Schedule) -> Any:
        return s.keys[0][1] if s.constant else {f"{t:g}": v for t, v in s.keys}

    return Annotated[Schedule, BeforeValidator(parse), PlainSerializer(dump)]
