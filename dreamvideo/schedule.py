"""Keyframed values: a number, or {seconds: value} interpolated between keys.

    zoom.scale: 1.5                                  # constant
    zoom.scale: {0: 1.2, 5: 2.0, 10: 1.2}            # speeds up, then slows down again
    zoom.rotate: {0: 0, 4: 90, interpolation: step}  # this key jumps; the others follow zoom.interpolation

Interpolation: ``linear``; ``smooth``, ease in-out (smoothstep: no jolt at the keys); ``step``, each key's
value holds until the next key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

INTERPOLATIONS = ("linear", "smooth", "step")


@dataclass(frozen=True)
class Schedule:
    keys: tuple[tuple[float, float], ...]  # (seconds, value), strictly increasing seconds
    interpolation: str | None = None  # this schedule's own; None: the caller's

    def at(self, seconds: float, interpolation: str = "linear") -> float:
        keys, mode = self.keys, self.interpolation or interpolation
        if seconds <= keys[0][0]:
            return keys[0][1]
        for (t0, v0), (t1, v1) in zip(keys, keys[1:]):
            if seconds < t1:
                if mode == "step":
                    return v0
                u = (seconds - t0) / (t1 - t0)
                if mode == "smooth":
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
            raw = dict(raw)
            mode = raw.pop("interpolation", None)
            if mode is not None and mode not in INTERPOLATIONS:
                from dreamvideo.errors import did_you_mean

                raise ValueError(f"interpolation {mode!r}: {did_you_mean(str(mode), INTERPOLATIONS)}"
                                 f"use {', '.join(INTERPOLATIONS)}")
            if not raw:
                raise ValueError("a schedule needs at least one key, e.g. {0: 1.0, 10: 2.0}")
            keys: list[tuple[float, float]] = []
            for k, v in raw.items():
                t = _number(_numeric(k), "schedule key (seconds)")
                if t < 0:
                    raise ValueError(f"schedule key {k!r} is negative; keys are seconds from the start")
                if keys and t <= keys[-1][0]:
                    raise ValueError(f"schedule keys must increase: {k!r} comes after {keys[-1][0]:g}")
                keys.append((t, check(_number(v, f"value at {k!r}"))))
            return Schedule(tuple(keys), mode)
        return Schedule(((0.0, check(_number(raw, "value"))),))

    def dump(s: Schedule) -> Any:
        if s.constant and s.interpolation is None:
            return s.keys[0][1]
        return {f"{t:g}": v for t, v in s.keys} | ({"interpolation": s.interpolation} if s.interpolation else {})

    return Annotated[Schedule, BeforeValidator(parse), PlainSerializer(dump)]
