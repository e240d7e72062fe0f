"""The measure of a zoom's life: it flags a dive that collapses into one zooming texture and passes one that
keeps making new forms (synthetic dives with known behaviour). The keeper: it lifts a dive's large forms
only once they have faded below what it holds, and it is on in the zoom presets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamvideo.config import load_style
from dreamvideo.video.life import OPENING, Keeper, assess, structure, zoom_motion
from dreamvideo.video.zoom import motion_matrix, move

SIZE, FPS, SCALE = 96, 6.0, 1.4  # a small dive at 1.4x a second


def dive(seconds: float, collapse_at: float | None, seed: int = 0) -> list[np.ndarray]:
    """Each frame the last one zoomed in, with new large blobs of colour born in it (a living dive); from
    ``collapse_at`` on, a fine periodic texture that only zooms (a collapsed one)."""
    rng = np.random.default_rng(seed)
    step = motion_matrix((SIZE, SIZE), SCALE ** (1 / FPS), 0.0, (0.0, 0.0), (0.5, 0.5))
    frame = np.full((SIZE, SIZE, 3), 128, np.uint8)
    frames = []
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in range(round(seconds * FPS)):
        t = i / FPS
        frame = move(frame, step, "reflect")
        if collapse_at is None or t < collapse_at:
            for _ in range(8):  # new forms every frame, a sixteenth of the frame across
                cx, cy, r = rng.uniform(0, SIZE), rng.uniform(0, SIZE), SIZE / 16
                colour = rng.uniform(0, 255, 3)
                cv2.circle(frame, (int(cx), int(cy)), int(r), colour.tolist(), -1)
        else:  # a grating of 4 px, its phase drifting: texture everywhere, form nowhere
            phase = rng.uniform(0, 2 * np.pi)
            grating = 128 + 60 * np.sin(2 * np.pi * (xx + yy) / 4 + phase)
            frame = np.repeat(grating[..., None], 3, axis=2).astype(np.uint8)
        frames.append(frame.copy())
    return frames, [step] * len(frames)


def test_the_measure_passes_a_living_dive_and_flags_a_collapse():
    alive, steps = dive(60, None)
    life = assess(alive, FPS, zoom_motion(steps))
    assert life.alive and life.collapse is None, [(w.start, w.structure, w.novelty) for w in life.windows]
    dead, steps = dive(60, collapse_at=30)
    life = assess(dead, FPS, zoom_motion(steps))
    assert not life.alive and life.collapse == 30.0
    assert all(w.alive for w in life.windows[:3]) and not any(w.alive for w in life.windows[3:])
    assert max(w.structure for w in life.windows[3:]) < 0.2 * life.opening[0]  # flat after the blur


def test_structure_is_what_survives_the_blur():
    texture = (128 + 100 * np.sin(np.arange(200) * np.pi / 2))[None, :, None].repeat(150, 0).repeat(3, 2)
    halves = np.zeros((150, 200, 3)); halves[:, 100:] = 200
    assert structure(texture.astype(np.uint8)) < 3 and structure(halves.astype(np.uint8)) > 90


def test_the_keeper_lifts_faded_forms_and_leaves_held_ones_alone():
    rng = np.random.default_rng(0)
    blobs = cv2.GaussianBlur(rng.uniform(0, 255, (64, 96, 3)).astype(np.float32), (0, 0), 6)
    blobs = np.clip((blobs - blobs.mean()) * 4 + 128, 0, 255).astype(np.uint8)  # large forms
    faded = ((blobs.astype(np.float32) - 128) * 0.5 + 128).astype(np.uint8)  # the same, half as strong
    keeper = Keeper(hold=0.95, strength=1.0, fps=FPS)
    for _ in range(round(OPENING * FPS)):  # the opening sets what is held
        keeper.see(blobs)
    keeper.see(blobs)
    assert keeper.gain() == 0 and keeper.lift(blobs) is blobs  # held: nothing done
    keeper.see(faded)
    assert keeper.gain() == pytest.approx(2 ** (1 / FPS) - 1)  # half the forms: full strength (doubled a second)
    lifted = keeper.lift(faded)
    assert structure(faded) < structure(lifted) < structure(blobs)
    assert abs(float(lifted.mean()) - float(faded.mean())) < 1  # the forms, not the brightness
    keeper.see(((blobs.astype(np.float32) - 128) * 0.88 + 128).astype(np.uint8))  # a little short: a little push
    assert 0 < keeper.gain() < 2 ** (1 / FPS) - 1
    assert Keeper(hold=0.0, strength=1.0, fps=FPS).lift(faded) is faded  # off


def test_the_keeper_is_on_in_every_zoom_preset():
    for name in ("zoom-dive", "zoom-drift", "zoom-spiral"):
        life = load_style(name).zoom.life
        assert life.hold > 0 and life.strength > 0, name
