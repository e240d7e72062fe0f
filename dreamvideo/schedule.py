"""Keyframed values: a number, or {time: value} interpolated between keys.

    zoom.scale: 1.5                                  # constant
    zoom.scale: {0: 1.2, 5: 2.0, 10: 1.2}            # speeds up, then slows down again
    zoom.rotate: {0: 0, 4: 90, interpolation: step}  # this key jumps; the others follow zoom.interpolation
    zoom.scale: {bar 1: 1.2, bar 17: 2.0, beat 97: 1.2}   # on the song's bars and beats, counted from 1

A time is seconds, or ``bar N`` or ``beat N`` (N may have a fraction): those are resolved against the song's
tracked grid (``dreamvideo.beats``) before the schedule is used (``resolved``).

Interpolation: ``linear``; ``smooth``, ease in-out (smoothstep: no jolt at the keys); ``step``, each key's
value holds until the next key.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

INTERPOLATIONS = ("linear", "smooth", "step")


UNITS = ("bar", "beat")


@dataclass(frozen=True)
class Schedule:
    keys: tuple[tuple[float, float], ...]  # (time, value): seconds, increasing; or a bar's or a beat's number
    interpolation: str | None = None  # this schedule's own; None: the caller's
    units: tuple[str, ...] | None = None  # each key's unit ("s", "bar", "beat"); None: all seconds

    @property
    def musical(self) -> bool:
        """Whether some key names a bar or a beat (and must be ``resolved`` before use)."""
        return self.units is not None and any(u != "s" for u in self.units)

    def resolved(self, time: Callable[[str, float], float]) -> Schedule:
        """This schedule keyed in seconds: ``time(unit, number)`` gives a bar's or a beat's (a Grid's
        ``time``). Raises ValueError where keys no longer increase."""
        if not self.musical:
            return self
        assert self.units is not None
        keys: list[tuple[float, float]] = []
        for (t, v), unit in zip(self.keys, self.units):
            seconds = t if unit == "s" else time(unit, t)
            if keys and seconds <= keys[-1][0]:
                raise ValueError(f"schedule keys must increase: {label(t, unit)} falls at {seconds:.2f} s, "
                                 f"not after {keys[-1][0]:.2f} s")
            keys.append((seconds, v))
        return Schedule(tuple(keys), self.interpolation)

    def at(self, seconds: float, interpolation: str = "linear") -> float:
        if self.musical:
            raise ValueError("a schedule keyed in bars or beats is resolved against the song first")
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


def label(number: float, unit: str) -> str:
    return f"{number:g}" if unit == "s" else f"{unit} {number:g}"


def parse_time(key: Any) -> tuple[float, str]:
    """A key's (number, unit): seconds (keys read back from JSON are strings: "5", "2.5"), "bar 9", "beat 33"
    (counted from 1)."""
    return _amount(key, "schedule key", "a time: use seconds (8), bar N or beat N", moment=True)


def parse_length(value: Any) -> tuple[float, str]:
    """A length's (number, unit): seconds (2.5), or "N bars", "N beats" (also "1 bar", "1 beat")."""
    return _amount(value, "length", "a length: use seconds (2), N bars or N beats", moment=False)


def _amount(value: Any, what: str, kinds: str, moment: bool) -> tuple[float, str]:
    """A moment ("bar 9": the unit first, counted from 1) or a length ("2 bars"), or seconds (0 and more)."""
    parts = value.split() if isinstance(value, str) else []
    if len(parts) == 2:
        unit, number = (parts[0], parts[1]) if moment else (parts[1].rstrip("s"), parts[0])
        if unit in UNITS:
            amount = _number(_float(number), f"{what} {value!r}:")
            if amount < (1 if moment else 0):
                raise ValueError(f"{what} {value!r}: " + ("bars and beats are counted from 1" if moment else
                                                          "it is negative"))
            return amount, unit
    if isinstance(value, str) and isinstance(_float(value), str):
        raise ValueError(f"{what} {value!r} is not {kinds}")
    seconds = _number(_float(value) if isinstance(value, str) else value, f"{what} (seconds)")
    if seconds < 0:
        raise ValueError(f"{what} {value!r} is negative" + ("; keys are seconds from the start" if moment else ""))
    return seconds, "s"


def _float(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return text


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
            units: list[str] = []
            for k, v in raw.items():
                t, unit = parse_time(k)
                same = [kt for kt, ku in zip(keys, units) if ku == unit]
                if same and t <= same[-1][0]:
                    raise ValueError(f"schedule keys must increase: {k!r} comes after {label(same[-1][0], unit)}")
                keys.append((t, check(_number(v, f"value at {k!r}"))))
                units.append(unit)
            return Schedule(tuple(keys), mode, None if set(units) == {"s"} else tuple(units))
        return Schedule(((0.0, check(_number(raw, "value"))),))

    def dump(s: Schedule) -> Any:
        if s.constant and s.interpolation is None and s.keys[0][0] == 0 and not s.musical:  # a plain value
            return s.keys[0][1]
        units = s.units or ("s",) * len(s.keys)
        return ({label(t, u): v for (t, v), u in zip(s.keys, units)}
                | ({"interpolation": s.interpolation} if s.interpolation else {}))

    return Annotated[Schedule, BeforeValidator(parse), PlainSerializer(dump)]
