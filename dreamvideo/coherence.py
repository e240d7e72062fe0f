"""The coherence chain: a video dreamed frame after frame, each frame starting from the previous dream
carried along the optical flow, where the flow holds, and held at the strength of its shot's fresh first
frame. ``Chain.step(frame)`` takes one source frame and returns what it shows; ``render``, ``split`` and
``live`` all dream through it. ``motions`` computes the motion of a whole stream ahead, on several threads.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from dreamvideo.config import Style
from dreamvideo.engine import DreamParams
from dreamvideo.flow import FlowFn, estimator, feather, histogram_similarity, matching, reliable, to_gray, trusted, warp
from dreamvideo.look import Look
from dreamvideo.media.images import to_uint8
from dreamvideo.media.threads import ordered_map


@dataclass(frozen=True)
class Motion:
    """What the flow says about a frame: the backward flow, the soft mask where it holds, a scene cut."""

    backward: np.ndarray | None
    mask: np.ndarray | None
    cut: bool


FIRST = Motion(None, None, True)  # the first frame of a stream: a chain starts


@dataclass(frozen=True)
class Carry:
    """How much of a frame's dream carries into the next: ``blend`` of it where the flow holds, with
    ``warp`` "detail" (dreamed minus source, times ``decay``) or "frame" (the whole dreamed frame); with
    ``hold``, the carried detail is held at the strength of the shot's fresh first frame (``Strength``)."""

    blend: float
    warp: str
    decay: float
    hold: bool = False

    @classmethod
    def of(cls, style: Style) -> Carry:
        return cls(style.blend, style.warp, style.decay, style.hold_strength and style.warp == "detail")


WARM_SHARE = 0.3  # a carried frame's iterations, as a share of the style's (3 of the default 10)
WARM_OCTAVES = 2  # and its octaves at most: fewer octaves add less new, unaligned detail


def warm_params(style: Style, full: DreamParams) -> DreamParams:
    """The work on a frame that starts from a carried dream: the style's ``warm_*`` keys where it sets
    them, else a share of its own work, so that a light style's carried frames stay light and a heavy
    style's heavy."""
    return replace(full, iterations=style.warm_iterations or max(1, round(full.iterations * WARM_SHARE)),
                   octaves=style.warm_octaves or min(WARM_OCTAVES, full.octaves))


def strength(dreamed: np.ndarray, source: np.ndarray) -> float:
    """How strong a dream is: the RMS of dreamed minus source, in the 0..1 range."""
    return float(np.sqrt(np.mean(np.square(dreamed.astype(np.float32) - source.astype(np.float32))))) / 255


def masked_rms(values: np.ndarray, mask: np.ndarray) -> float:
    """The RMS of (H, W, C) ``values``, each pixel weighted by the (H, W) ``mask``."""
    weight = mask[..., None]
    return float(np.sqrt((weight * np.square(values)).sum() / (values.shape[-1] * weight.sum() + 1e-6)))


@dataclass
class Strength:
    """Keeps carried frames at the dream strength of their shot's fresh first frame, changing slowly.

    A carried frame's strength would be what it carries (``decay`` of the last dream's detail) plus what
    its warm steps add: a light style gains detail frame after frame, a heavy one loses it. Instead, the
    carried detail is rescaled so that, where the flow holds, it has the target strength (``target``: the
    reference, moved by a ``react:`` step-size mapping), and the change the warm steps then make there is at
    most ``CHANGE`` of it (``settle``): new detail that grows in a frame is what flickers, and its share of
    a light style's dream is the largest. Its state is one number, saved with a render's resume chunks.
    """

    reference: float | None = None  # the fresh frame's strength, per unit of step size

    CHANGE = 0.08  # the most a carried frame's dream changes (RMS, where the flow holds), per unit of strength

    def start(self, dreamed: np.ndarray, source: np.ndarray, step_size: float) -> None:
        """A fresh frame: its strength is the reference of the frames carried from it."""
        self.reference = strength(dreamed, source) / step_size

    def target(self, step_size: float) -> float | None:
        return None if self.reference is None else self.reference * step_size

    def settle(self, start: np.ndarray, dreamed: np.ndarray, mask: np.ndarray, step_size: float) -> np.ndarray:
        """``dreamed`` (uint8), with its change from ``start`` (float, 0..1) scaled down where ``mask`` holds
        so that there it is at most ``CHANGE`` times the target strength."""
        if self.reference is None:
            return dreamed
        change = dreamed.astype(np.float32) / 255 - start
        target = cast(float, self.target(step_size))  # a reference, so a target
        scale = min(1.0, self.CHANGE * target / max(masked_rms(change, mask), 1e-9))
        if scale == 1.0:
            return dreamed
        return to_uint8(start + change * (1 - mask[..., None] * (1 - scale)))


class MotionOf:
    """The motion of a frame from the previous one: ``flow`` (dis, farneback, none) both ways, the mask
    where it holds (``flow.trusted``), and a scene cut where less than ``scene_cut`` of the frame passes the
    flow checks (``flow.reliable``). DIS keeps buffers between calls: one per thread.

    ``quick`` takes DIS's fast preset (a fifth of the time at 320 px); ``glance`` is what a live stage takes
    at each shown frame: the backward flow alone, held where the moved frame reproduces this one
    (``flow.matching``), never a cut (across one nothing matches, and the frame shows as it is).
    """

    def __init__(self, flow: str, scene_cut: float, size: tuple[int, int] | None = None, quick: bool = False,
                 glance: bool = False):
        self.flow, self.scene_cut, self.size = flow, scene_cut, size
        self.quick, self.glance = quick or glance, glance
        self._estimate: FlowFn | None = None

    def __call__(self, frame: np.ndarray, gray: np.ndarray, prev: np.ndarray | None,
                 prev_gray: np.ndarray | None) -> Motion:
        if prev is None:
            return FIRST
        if self.flow == "none":
            cut = self.scene_cut > 0 and histogram_similarity(frame, prev) < 0.5
            return Motion(None, np.ones(gray.shape, np.float32), cut)
        if self._estimate is None:
            self._estimate = estimator(self.flow, self.size or (frame.shape[1], frame.shape[0]), self.quick)
        prev_g = cast(np.ndarray, prev_gray)  # given with prev
        if self.glance:
            backward = self._estimate(gray, prev_g)
            return Motion(backward, feather(matching(prev, frame, backward)), False)
        backward, forward = self._estimate(gray, prev_g), self._estimate(prev_g, gray)
        valid = reliable(backward, forward)
        return Motion(backward, trusted(valid, prev, frame, backward), bool(valid.mean() < self.scene_cut))


def motions(frames: Iterator[np.ndarray], size: tuple[int, int] | None, *, flow: str, scene_cut: float,
            workers: int | None = None) -> Iterator[tuple[np.ndarray, Motion]]:
    """Pair each source frame with its motion from the previous one (``MotionOf``; the first starts a
    chain). The motion of a pair needs only the two source frames, so pairs are analysed on ``workers``
    threads (OpenCV lets go of the GIL; ``ordered_map``), each with its own estimator; frames come out
    in order."""
    local = threading.local()

    def motion(pair: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]) -> tuple[np.ndarray, Motion]:
        if getattr(local, "motion", None) is None:
            local.motion = MotionOf(flow, scene_cut, size)
        return pair[0], local.motion(*pair)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]]:
        prev = prev_gray = None
        for frame in frames:
            gray = to_gray(frame)
            yield frame, gray, prev, prev_gray
            prev, prev_gray = frame, gray

    return ordered_map(motion, pairs(), workers or flow_workers(), name="dreamvideo-flow")


def flow_workers() -> int:
    """Threads for the motion analysis of a render: half the cores, from 1 to 8.

    Pairs on separate threads scale better than OpenCV's threads inside one flow, which leave the
    consistency check on one core (docs/benchmarks.md); a small machine keeps its cores for dreaming.
    """
    return max(1, min(8, (os.cpu_count() or 1) // 2))


def start_image(source: np.ndarray, prev_source: np.ndarray | None, prev_dream: np.ndarray | None,
                motion: Motion, carry: Carry, target: float | None = None) -> tuple[np.ndarray, bool]:
    """The image to dream for this frame, in [0, 1] float32, and whether it starts from a carried dream.

    With a ``target`` strength (``Strength``), the carried detail is rescaled to it where the flow holds,
    in place of ``decay``.
    """
    s = source.astype(np.float32) / 255
    if prev_dream is None or prev_source is None or motion.cut or carry.blend == 0:
        return s, False
    flow_mask = cast(np.ndarray, motion.mask)  # None only at a cut
    mask = flow_mask[..., None] * carry.blend
    if carry.warp == "detail":
        detail = (prev_dream.astype(np.float32) - prev_source.astype(np.float32)) / 255
        carried = warp(detail, motion.backward) if motion.backward is not None else detail
        if target is None:
            carried *= carry.decay
        else:  # bounded, so that a nearly blank carried frame is not blown up
            carried *= min(4.0, target / max(masked_rms(carried, flow_mask), 1e-6))
        start = s + mask * carried
    else:
        dream = prev_dream.astype(np.float32) / 255
        carried = warp(dream, motion.backward) if motion.backward is not None else dream
        start = s * (1 - mask) + carried * mask
    return np.clip(start, 0.0, 1.0), True


@dataclass(frozen=True)
class Last:
    """The chain's last frame: its index, source and what it showed."""

    index: int
    source: np.ndarray
    shown: np.ndarray


class Chain:
    """The coherence chain, fed one frame at a time: ``step(frame)`` is what frame ``index`` shows.

    A frame starts from the previous dream carried along the flow (``start_image``) and gets the warm
    share of the style's work, or the full work where it starts a shot; what is shown (after the look's
    mask and colours) is what carries on. With the style's ``cadence`` k, only every k-th frame of a shot
    is dreamed; the frames between carry the dream and nothing more (``carried``). The motion comes with
    the frame (``motions``, ahead, on threads) or is computed here from the previous frame. Its state is
    the frame index, the previous source and dreamed frames and the shot's reference strength: ``state()``
    is what a resume needs besides the two frames, and ``restore`` takes all of it back, so a resumed chain
    equals an uninterrupted one. ``restyle`` changes the style on the way, keeping the state. A ``quick``
    chain (live) computes the motion it is not given with DIS's fast preset (``MotionOf``), and at a cut
    dreams the new shot's first frame with the warm work, keeping the strength it held: the frames after
    it rise to that strength within a few updates instead of waiting a full fresh dream out.
    """

    def __init__(self, look: Look, carry: Carry | None = None, first: int = 0, quick: bool = False):
        self.quick = quick
        self.restyle(look, carry)
        self.strength = Strength()
        self.index = first
        self.shot = first  # where the current shot began
        self.last: Last | None = None
        self._gray: np.ndarray | None = None

    def restyle(self, look: Look, carry: Carry | None = None) -> None:
        """Dream the next frames with ``look`` (another style), going on from the frames before."""
        style = look.style
        self.look, self.carry = look, carry or Carry.of(style)
        self.full = look.dreamer.params
        self.warm = warm_params(style, self.full)
        self.cadence = style.cadence
        self._motion = MotionOf(style.flow, style.scene_cut, quick=self.quick)

    def motion(self, frame: np.ndarray) -> Motion:
        """The motion of ``frame`` from the previous source frame."""
        gray = to_gray(frame)
        if self.last is not None and self._gray is None:
            self._gray = to_gray(self.last.source)
        found = self._motion(frame, gray, self.last.source if self.last else None, self._gray)
        self._gray = gray
        return found

    def _carry_of(self, index: int) -> tuple[Carry, float, float | None]:
        """Frame ``index``'s carry (blend moved by react:), step size and held strength."""
        reaction = self.look.reaction(index)
        carry = replace(self.carry, blend=min(1.0, max(0.0, reaction("blend", self.carry.blend))))
        step_size = reaction.params(self.full).step_size
        return carry, step_size, self.strength.target(step_size) if carry.hold else None

    def step(self, frame: np.ndarray, motion: Motion | None = None) -> np.ndarray:
        """Dream source ``frame`` (uint8) as the chain's next frame; uint8."""
        if motion is None:
            motion = self.motion(frame)
        else:
            self._gray = None
        index = self.index
        carry, step_size, target = self._carry_of(index)
        last = self.last
        start, carried = start_image(frame, last.source if last else None, last.shown if last else None, motion,
                                     carry, target)
        held = self.quick and not carried and self.strength.reference is not None  # a live cut
        if not carried:
            self.shot = index
        if carried and (index - self.shot) % self.cadence:
            dreamed = to_uint8(start)  # a frame between dreams: the dream carried, nothing more
        else:
            dreamed = self.look.dream(start, index, self.warm if carried or held else self.full)
            if carried and carry.hold:
                dreamed = self.strength.settle(start, dreamed, cast(np.ndarray, motion.mask), step_size)  # no cut
        dreamed = self.look.land(index, frame, dreamed)  # what is shown is what carries on
        if not carried and not held:
            self.strength.start(dreamed, frame, step_size)
        self.last, self.index = Last(index, frame, dreamed), index + 1
        return dreamed

    def carried(self, frame: np.ndarray, motion: Motion, last: Last | None = None) -> np.ndarray:
        """``frame`` with the dream of ``last`` (default: the chain's last frame) carried onto it along
        ``motion`` (from ``last.source`` to ``frame``), as the chain would carry it, without dreaming and
        without changing the chain: a live frame shown between dream updates. uint8."""
        last = last or self.last
        carry, _, target = self._carry_of(last.index if last else self.index)
        start, moved = start_image(frame, last.source if last else None, last.shown if last else None, motion,
                                   carry, target)
        return self.look.land(last.index if last else self.index, frame, to_uint8(start)) if moved else frame

    def state(self) -> dict[str, Any]:
        """What a resumed chain needs besides the previous source and dreamed frames (JSON)."""
        return {"reference": self.strength.reference, "shot": self.shot}

    def restore(self, index: int, source: np.ndarray | None, dream: np.ndarray | None,
                state: dict[str, Any] | None) -> None:
        """Go on as if frames up to ``index`` - 1 had been dreamed here: ``source`` and ``dream`` were the
        last of them, ``state`` what ``state()`` said then."""
        state = state or {}
        self.index, self._gray = index, None
        self.last = Last(index - 1, source, dream) if source is not None and dream is not None else None
        self.strength = Strength(state.get("reference"))
        self.shot = state.get("shot", 0)


def dream_frames(frames: Iterator[np.ndarray], look: Look, carry: Carry | None = None) -> Iterator[np.ndarray]:
    """Dream an in-memory sequence of frames with the render's coherence (no files, no resume); ``carry``
    replaces the style's (``blend: 0`` dreams every frame on its own)."""
    style = look.style
    chain = Chain(look, carry)
    for frame, motion in motions(frames, None, flow=style.flow, scene_cut=style.scene_cut):
        yield chain.step(frame, motion)
