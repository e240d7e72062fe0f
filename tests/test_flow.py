from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import skimage.data

from dreamvideo.config import load_style
from dreamvideo.flow import estimator, feather, matching, reliable, to_gray, trusted, warp
from media import camera_path, demo_clip, render
from dreamvideo.coherence import Carry, Motion, motions, start_image
from dreamvideo.look import Look

PHOTO = skimage.data.astronaut()


def mse(a, b, mask=None) -> float:
    d = (a.astype(np.float32) - b.astype(np.float32)) ** 2
    return float(d[mask].mean() if mask is not None else d.mean())


def test_warp_with_a_known_translation():
    prev, cur = PHOTO[100:280, 100:340], PHOTO[102:282, 103:343]  # cur(x) = prev(x + (3, 2))
    flow = np.zeros(cur.shape[:2] + (2,), np.float32)
    flow[...] = (3, 2)
    inner = (slice(0, -4), slice(0, -5))
    assert mse(warp(prev, flow)[inner], cur[inner]) < 1e-6
    assert mse(warp(prev, -flow)[inner], cur[inner]) > 100  # the flipped sign must fail
    estimated = estimator("dis", (240, 180))(to_gray(cur), to_gray(prev))
    assert np.allclose(estimated[10:-10, 10:-10].mean((0, 1)), (3, 2), atol=0.1)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_warp_with_zoom_and_rotation(method):
    size = (200, 150)
    cams = camera_path((512, 512), size, 3, pan=2.0, zoom=0.02, rotate=1.0)
    clip = render(PHOTO, cams, size)
    prev, cur, exact, valid = clip.frames[1], clip.frames[2], clip.flows[2], clip.valid[2]
    assert mse(warp(prev, exact), cur, valid) < 15
    assert mse(warp(prev, -exact), cur, valid) > 10 * mse(warp(prev, exact), cur, valid)
    flow = estimator(method, size)
    estimated = flow(to_gray(cur), to_gray(prev))
    assert np.median(np.linalg.norm(estimated - exact, axis=-1)[valid]) < 0.5
    assert mse(warp(prev, estimated), cur, valid) < 0.2 * mse(prev, cur, valid)


def test_reliability_mask_finds_out_of_frame_and_occluded_pixels():
    clip = demo_clip((160, 120), 6)
    flow = estimator("dis", (160, 120))
    agree = []
    for t in range(1, 6):
        g0, g1 = to_gray(clip.frames[t - 1]), to_gray(clip.frames[t])
        ok = reliable(flow(g1, g0), flow(g0, g1))
        agree.append((ok & clip.valid[t]).sum() / clip.valid[t].sum())
        assert (~ok[~clip.valid[t]]).mean() > 0.5  # most of what cannot be followed is caught
    assert np.mean(agree) > 0.85  # and most of what can, is kept
    soft = feather(np.ones((20, 20), bool) & (np.arange(20) < 10)[None, :])
    assert soft.min() == 0 and soft.max() > 0.95 and 0 < soft[10, 7] < 1
    assert (np.diff(soft[10]) <= 1e-6).all()  # falls off smoothly towards the invalid side


def test_matching_pixels_rescue_ambiguous_flow_but_not_occlusions():
    """Where the moved previous frame reproduces the current one the flow carries the right picture, even
    where the two flows disagree; the trusted mask keeps more of what can be followed, and still drops
    what cannot (out of frame, behind the moving disc)."""
    clip = demo_clip((160, 120), 6)
    flow = estimator("dis", (160, 120))
    kept, kept_reliable, dropped = [], [], []
    for t in range(1, 6):
        prev, cur = clip.frames[t - 1], clip.frames[t]
        backward, forward = flow(to_gray(cur), to_gray(prev)), flow(to_gray(prev), to_gray(cur))
        match, ok = matching(prev, cur, backward), reliable(backward, forward)
        soft = trusted(ok, prev, cur, backward)
        truth = clip.valid[t]
        assert match[~truth].mean() < 0.25  # an occlusion shows another surface
        assert (match & ~ok).any()  # some pixels are rescued
        kept.append(soft[truth].mean())
        kept_reliable.append(feather(ok)[truth].mean())
        dropped.append(1 - soft[~truth].mean())
    assert np.mean(kept) > np.mean(kept_reliable) + 0.02
    assert np.mean(dropped) > 0.5
    still = clip.frames[0]
    assert matching(still, still, np.zeros(still.shape[:2] + (2,), np.float32)).all()
    shifted = np.ascontiguousarray(np.roll(still, 7, axis=1))
    assert matching(still, shifted, np.zeros(still.shape[:2] + (2,), np.float32)).mean() < 0.5


def test_scene_cut_starts_a_fresh_chain():
    size = (128, 96)
    a = render(PHOTO, camera_path((512, 512), size, 5), size).frames
    b = render(skimage.data.coffee(), camera_path((600, 400), size, 5), size).frames
    cuts = [motion.cut for _, motion in motions(iter(a + b), size, flow="dis", scene_cut=load_style().scene_cut)]
    assert cuts == [True, False, False, False, False, True, False, False, False, False]


def test_start_image():
    style = Carry.of(load_style(None, ["blend=0.5", "decay=0.8"]))
    src = np.full((4, 4, 3), 100, np.uint8)
    prev_src = np.full((4, 4, 3), 90, np.uint8)
    prev_dream = np.full((4, 4, 3), 140, np.uint8)
    moved = Motion(np.zeros((4, 4, 2), np.float32), np.ones((4, 4), np.float32), False)
    start, carried = start_image(src, prev_src, prev_dream, moved, style)
    assert carried and np.allclose(start, (100 + 0.5 * 0.8 * 50) / 255)
    start, carried = start_image(src, prev_src, prev_dream, Motion(None, None, True), style)
    assert not carried and np.allclose(start, 100 / 255)
    independent = replace(style, blend=0.0)
    assert not start_image(src, prev_src, prev_dream, moved, independent)[1]
    half = np.ones((4, 4), np.float32)
    half[:, 2:] = 0  # the flow holds on the left half only
    whole = replace(style, warp="frame")  # the dreamed frame itself is carried, blended with the source
    start, carried = start_image(src, prev_src, prev_dream, Motion(np.zeros((4, 4, 2), np.float32), half, False), whole)
    assert carried and np.allclose(start[:, :2], (0.5 * 100 + 0.5 * 140) / 255) and np.allclose(start[:, 2:], 100 / 255)


def warp_error(frames, clip) -> float:
    """Mean squared difference between each frame and the previous one moved by the exact flow."""
    return float(np.mean([mse(warp(frames[t - 1], clip.flows[t]), frames[t], clip.valid[t]) / 255**2
                          for t in range(1, len(frames))]))


@pytest.mark.parametrize("mode", ["detail", "frame"])
def test_carrying_the_dream_along_the_flow_flickers_less_than_independent_frames(mode):
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.coherence import dream_frames

    clip = demo_clip((128, 96), 12)
    dreamer = Dreamer(load_style(None, ["octaves=3", "iterations=6", f"warp={mode}"]))
    carried = list(dream_frames(iter(clip.frames), Look(dreamer)))
    independent = list(dream_frames(iter(clip.frames), Look(dreamer), replace(Carry.of(dreamer.style), blend=0.0)))
    e_source, e_carried, e_independent = (warp_error(f, clip) for f in (clip.frames, carried, independent))
    assert e_carried < 0.5 * e_independent  # measured: 0.38 (detail), 0.33 (frame)
    assert e_carried - e_source < 0.5 * (e_independent - e_source)


def reference_reliable(backward, forward):
    """The consistency check as the paper writes it, on (H, W, 2) fields (slow; the shipped one is equal)."""
    import cv2

    h, w = backward.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
    fw = cv2.remap(forward, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    consistent = ((backward + fw) ** 2).sum(-1) <= 0.01 * ((backward**2).sum(-1) + (fw**2).sum(-1)) + 0.5
    grad2 = sum((cv2.Sobel(np.ascontiguousarray(backward[..., i]), cv2.CV_32F, dx, dy, ksize=1) / 2) ** 2
                for i in range(2) for dx, dy in ((1, 0), (0, 1)))
    return inside & consistent & ~(grad2 > 0.01 * (backward**2).sum(-1) + 0.002)


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_reliable_equals_the_reference_bit_for_bit(method):
    clip = demo_clip((176, 112), 4)
    flow = estimator(method, (176, 112))
    for t in range(1, 4):
        g0, g1 = to_gray(clip.frames[t - 1]), to_gray(clip.frames[t])
        backward, forward = flow(g1, g0), flow(g0, g1)
        ok = reliable(backward, forward)
        assert ok.dtype == bool and 0.2 < ok.mean() < 1.0  # something to compare on both sides
        assert np.array_equal(ok, reference_reliable(backward, forward))


@pytest.mark.parametrize("flow", ["dis", "none"])
def test_analysis_on_several_threads_equals_one(flow):
    size = (128, 96)
    frames = demo_clip(size, 7).frames
    alone = list(motions(iter(frames), size, flow=flow, scene_cut=0.3, workers=1))
    shared = list(motions(iter(frames), size, flow=flow, scene_cut=0.3, workers=3))
    assert [f is g for (f, _), (g, _) in zip(alone, shared)] == [True] * 7  # same frames, same order
    for (_, a), (_, b) in zip(alone, shared):
        assert a.cut == b.cut
        for x, y in ((a.backward, b.backward), (a.mask, b.mask)):
            assert (x is None and y is None) or np.array_equal(x, y)


def test_analysis_threads_stop_early_and_pass_errors_on():
    size = (128, 96)
    frames = demo_clip(size, 8).frames
    stream = motions(iter(frames), size, flow="dis", scene_cut=0.3, workers=2)
    next(stream), next(stream)
    stream.close()  # a render stopped early: the pending pairs are dropped, nothing hangs

    def broken():
        yield from frames[:3]
        yield frames[3][:50]  # a frame of another size: the flow between them fails on a worker

    import threading

    import cv2

    with pytest.raises(cv2.error, match="sameSize"):
        list(motions(broken(), size, flow="dis", scene_cut=0.3, workers=2))
    assert not [t for t in threading.enumerate() if t.name.startswith("dreamvideo-flow")]


def test_a_cut_between_two_real_clips_starts_a_fresh_dream(real_clips):
    """Two real shots joined (a street scene, then an animated film): the cut is found, and the first frame
    after it is exactly a fresh dream of that frame, nothing of the previous shot's dream carried."""
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.media.ffmpeg import read_frames
    from dreamvideo.coherence import dream_frames

    size = (96, 54)
    frames = list(read_frames(real_clips["bikes"], size, max_frames=8))  # inside its first shot
    frames += list(read_frames(real_clips["bigbuckbunny"], size, max_frames=6))
    style = load_style(None, ["octaves=2", "iterations=3"])
    cuts = [t for t, (_, m) in enumerate(motions(iter(frames), size, flow=style.flow, scene_cut=style.scene_cut))
            if m.cut]
    assert cuts == [0, 8]
    look = Look(Dreamer(style))
    dreamed = list(dream_frames(iter(frames), look))
    fresh = look.dream(frames[8].astype(np.float32) / 255, 8)
    assert np.array_equal(dreamed[8], fresh)
    assert not np.array_equal(dreamed[7], look.dream(frames[7].astype(np.float32) / 255, 7))  # carried


def test_the_real_clips_cut_where_their_shots_change(real_clips):
    """bikes.mp4 is six shots; the render finds the five cuts between them, and none in bigbuckbunny.mp4."""
    from dreamvideo.media.images import fit_size
    from dreamvideo.media.ffmpeg import probe, read_frames

    found = {}
    for name, path in real_clips.items():
        info = probe(path)
        size = fit_size(info.width, info.height, max_side=160, multiple=2)
        moving = motions(read_frames(path, size, info.fps), size, flow="dis", scene_cut=0.3)
        found[name] = [t for t, (_, m) in enumerate(moving) if m.cut][1:]
    assert found == {"bikes": [30, 76, 137, 187, 242], "bigbuckbunny": []}


def test_carried_frames_hold_the_fresh_frames_strength_steadily():
    """With much warm work, a light style's render gains detail frame after frame; held, every carried frame
    has the strength of the shot's fresh first frame (times blend), without swinging around it."""
    from dreamvideo.dreamer import Dreamer
    from dreamvideo.coherence import dream_frames, strength

    clip = demo_clip((128, 96), 16, moving_object=False)

    def relative_strengths(*sets: str) -> np.ndarray:
        style = load_style(None, ["octaves=3", "iterations=5", "warm_iterations=3", "warm_octaves=2", *sets])
        out = list(dream_frames(iter(clip.frames), Look(Dreamer(style))))
        s = np.array([strength(o, f) for o, f in zip(out, clip.frames)])
        return s / s[0]

    free, held = relative_strengths("hold_strength=false"), relative_strengths()
    assert free[-1] > 1.2  # measured: 1.27, still rising
    assert np.all(np.abs(held[1:] - 0.95) < 0.04), held  # measured: 0.93-0.95 on every frame


def test_a_carried_frame_changes_at_most_a_share_of_the_strength_where_the_flow_holds():
    from dreamvideo.coherence import Strength, masked_rms

    rng = np.random.default_rng(0)
    start = rng.uniform(0.3, 0.7, (32, 48, 3)).astype(np.float32)
    dreamed = np.clip((start + rng.normal(0, 0.2, start.shape)) * 255 + 0.5, 0, 255).astype(np.uint8)
    mask = np.zeros((32, 48), np.float32)
    mask[:, :24] = 1  # the flow holds on the left half
    held = Strength(reference=0.1 / 0.012)  # a strength of 0.1 at step size 0.012
    out = held.settle(start, dreamed, mask, 0.012)
    change = out.astype(np.float32) / 255 - start
    assert masked_rms(change, mask) == pytest.approx(Strength.CHANGE * 0.1, abs=0.002)
    assert np.array_equal(out[:, 24:], dreamed[:, 24:])  # where it does not, the dream is what the steps made
    assert held.settle(start, dreamed, mask * 0, 0.012) is dreamed


def test_warm_work_follows_the_style_unless_set():
    import torch

    from dreamvideo.dreamer import dream_params
    from dreamvideo.coherence import warm_params

    def warm(*sets: str) -> tuple[int, int]:
        style = load_style(None, list(sets))
        p = warm_params(style, dream_params(style, torch.device("cpu")))
        return p.octaves, p.iterations

    assert warm() == (2, 3)  # the default style: 4 x 10 fresh
    assert warm("octaves=3", "iterations=5") == (2, 2)
    assert warm("iterations=20") == (2, 6)
    assert warm("octaves=1", "iterations=1") == (1, 1)
    assert warm("iterations=20", "warm_iterations=4", "warm_octaves=3") == (3, 4)



def test_cadence_dreams_every_kth_frame_of_a_shot_and_carries_the_others(dreamed):
    """With cadence: 3 only frames 0, 3, 6... of a shot run the network; the others are the previous frame's
    dream carried along the flow, held at the shot's strength, and cost no ascent step."""
    from dreamvideo.coherence import dream_frames, strength
    from dreamvideo.dreamer import Dreamer

    clip = demo_clip((128, 96), 10, moving_object=False)
    style = load_style(None, ["model=tiny", "layers=[block2]", "octaves=2", "iterations=4", "cadence=3"])
    out = list(dream_frames(iter(clip.frames), Look(Dreamer(style))))
    assert dreamed == [0, 3, 6, 9] and len(out) == 10
    s = np.array([strength(o, f) for o, f in zip(out, clip.frames)])
    assert np.all(np.abs(s[1:] / s[0] - 0.95) < 0.1), s / s[0]  # carried frames keep the dream, held
    assert warp_error(out, clip) < warp_error(list(dream_frames(iter(clip.frames), Look(Dreamer(
        style.model_copy(update={"blend": 0.0}))))), clip)
