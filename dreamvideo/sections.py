"""A song's sections: the style changes at given moments (seconds, bars or beats), each faded in over a
crossfade that ends at its moment.

    sections:
      - {at: bar 17, style: dogs, crossfade: 1 bar}       # the chorus: dogs from bar 17, faded in over bar 16
      - {at: bar 33, style: textures.yaml}                # a cut back

``parts`` resolves them on the song's grid; ``moment(plan, t)`` says which style is in effect at a moment
of the song and which one is fading in. The style itself (its other keys) plays before the first section. A
section changes how the dream looks; what belongs to the song (``SONG_KEYS``: its reactions, schedules and
grid, the zoom's motion, the output) stays the style's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamvideo.beats import Grid
from dreamvideo.coherence import Chain, Motion
from dreamvideo.config import Style, section_styles
from dreamvideo.dreamer import Dreamer
from dreamvideo.errors import ConfigError
from dreamvideo.look import Look
from dreamvideo.media.images import to_uint8
from dreamvideo.networks import Networks
from dreamvideo.react import grid_for
from dreamvideo.schedule import label, parse_length, parse_time

SONG_KEYS = ("react", "react_attack", "react_release", "schedule", "music", "zoom", "output", "device",
             "precision", "compile")


@dataclass(frozen=True)
class Part:
    style: Style
    begins: float  # seconds of the song its crossfade begins
    whole: float  # seconds from which it alone is dreamed (its `at`)


@dataclass(frozen=True)
class Moment:
    current: int  # the part wholly in effect
    incoming: int | None  # the part fading in, if any
    share: float  # how far the fade has come, 0..1


def musical(style: Style) -> str | None:
    """The key path of the first section counted in bars or beats, if any."""
    for i, section in enumerate(style.sections):
        if parse_time(section.at)[1] != "s" or parse_length(section.crossfade)[1] != "s":
            return f"sections.{i}"
    return None


def parts(style: Style, grid: Grid | None) -> list[Part]:
    """The style (before any section) and each section's, with their moments in seconds of the song (bars
    and beats counted on ``grid``, which a style counting in them needs)."""
    base = style.model_copy(update={"sections": []})
    out = [Part(base, -math.inf, -math.inf)]
    for i, (section, loaded) in enumerate(zip(style.sections, section_styles(style))):
        at_number, at_unit = parse_time(section.at)
        at = at_number if at_unit == "s" else _on(grid, at_unit, at_number)
        length, unit = parse_length(section.crossfade)
        if unit == "s":
            begins = at - length
        else:  # counted back from `at` on the grid
            beat = _beat_of(grid, at)
            per_bar = grid.meter if grid is not None else 4
            begins = _on(grid, "beat", beat - length * (per_bar if unit == "bar" else 1))
        if at <= out[-1].whole:
            raise ConfigError(f"sections.{i}.at: {label(at_number, at_unit)} falls at {at:.2f} s, not after the "
                              f"section before it ({out[-1].whole:.2f} s); sections go in the order they play")
        song = {key: getattr(style, key) for key in SONG_KEYS}
        out.append(Part(loaded.model_copy(update=song), max(begins, out[-1].whole, 0.0) if length else at, at))
    return out


def _on(grid: Grid | None, unit: str, number: float) -> float:
    assert grid is not None  # a style counting in bars or beats is given its grid (musical)
    return grid.time(unit, number)


def _beat_of(grid: Grid | None, seconds: float) -> float:
    assert grid is not None
    return grid.beat_number(seconds) if seconds <= grid.beats[-1] else \
        len(grid.beats) + (seconds - grid.beats[-1]) / float(np.diff(grid.beats[-2:])[0])


def moment(plan: Sequence[Part], seconds: float) -> Moment:
    """Which part is in effect at ``seconds`` of the song, and which one fades in there."""
    current = max(i for i, part in enumerate(plan) if part.whole <= seconds)
    following = current + 1
    if following < len(plan) and plan[following].begins <= seconds < plan[following].whole:
        part = plan[following]
        return Moment(current, following, (seconds - part.begins) / (part.whole - part.begins))
    return Moment(current, None, 0.0)


def mix(a: np.ndarray, b: np.ndarray, share: float) -> np.ndarray:
    """``a`` faded into ``b`` by ``share`` (0: a, 1: b); uint8."""
    return to_uint8((a.astype(np.float32) * (1 - share) + b.astype(np.float32) * share) / 255)


def song_parts(style: Style, audio: str | Path | None, missing: str, at_start: bool = False) -> list[Part]:
    """``parts`` on the song's grid where a section counts in bars or beats (``grid_for``)."""
    what = musical(style)
    return parts(style, grid_for(style, audio, what, missing, at_start) if what else None)


class Looks:
    """Each part's look, made when first needed (``make``) and closed together; parts in one style share
    their look."""

    def __init__(self, plan: Sequence[Part], first: Look, make: Callable[[Style], Look]):
        self.plan, self.make = plan, make
        self.made = {plan[0].style.model_dump_json(): first}

    def __getitem__(self, part: int) -> Look:
        style = self.plan[part].style
        key = style.model_dump_json()
        if key not in self.made:
            self.made[key] = self.make(style)
        return self.made[key]

    def close(self) -> None:
        for look in self.made.values():
            look.close()


class Dreamers:
    """The dreamer of each style a song's sections dream in: ``first`` for its own style, one made for each
    other, on ``first``'s network where the model, weights and device are its, else on ``networks``' (a section
    back in an earlier style builds nothing)."""

    def __init__(self, first: Dreamer, networks: Networks | None = None):
        self.first, self.networks = first, networks if networks is not None else Networks()
        self.made: dict[str, Dreamer] = {}

    def __call__(self, style: Style) -> Dreamer:
        if style == self.first.style:
            return self.first
        key = style.model_dump_json()
        if key not in self.made:
            same = Networks.key(style) == Networks.key(self.first.style)
            self.made[key] = Dreamer(style, self.first.model if same else self.networks.get(style))
        return self.made[key]


class SectionChain:
    """The coherence chain through a song's sections: at a section's moment the chain goes on in its style
    (a cut in the video still restarts it); over a crossfade a second chain, forked from the first, dreams
    the incoming style on the same frames, and the two are mixed; at the moment, the second goes on alone."""

    def __init__(self, chain: Chain, looks: Looks, fps: float, song_start: float):
        self.chain, self.looks, self.fps, self.song_start = chain, looks, fps, song_start
        self.current = 0
        self.fading: tuple[int, Chain] | None = None

    def step(self, frame: np.ndarray, motion: Motion | None = None) -> np.ndarray:
        now = moment(self.looks.plan, self.song_start + self.chain.index / self.fps)
        if now.current != self.current:
            if self.fading is not None and self.fading[0] == now.current:
                self.chain = self.fading[1]
            else:
                self.chain.restyle(self.looks[now.current])
            self.current, self.fading = now.current, None
        if now.incoming is None:
            return self.chain.step(frame, motion)
        if self.fading is None or self.fading[0] != now.incoming:
            self.fading = (now.incoming, fork(self.chain, self.looks[now.incoming]))
        going, coming = self.chain.step(frame, motion), self.fading[1].step(frame, motion)
        return mix(going, coming, now.share)

    def state(self) -> dict[str, Any]:
        return self.chain.state()

    def restore(self, index: int, source: np.ndarray | None, dream: np.ndarray | None,
                state: dict[str, Any] | None) -> None:
        """As ``Chain.restore``; a render resumed inside a crossfade forks its incoming chain there."""
        self.chain.restore(index, source, dream, state)


def fork(chain: Chain, look: Look) -> Chain:
    """A copy of ``chain`` that goes on with ``look``: the same frames behind it, its own strength hold."""
    other = copy.copy(chain)
    other.strength = copy.deepcopy(chain.strength)
    other.restyle(look)
    return other
