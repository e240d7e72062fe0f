#!/usr/bin/env bash
# The GPU figures of docs/benchmarks.md, on any machine with a CUDA GPU and dreamvideo installed
# (`pip install -e .`), from the repository root:
#
#     bash benchmarks/gpu.sh smoke        # a minute: every benchmark once, tiny; fix what fails first
#     bash benchmarks/gpu.sh              # all stages (about half an hour on one H100)
#     bash benchmarks/gpu.sh render speed # some of them
#
# Stages:
#   smoke     every benchmark below once, tiny (one 480p step or frame, two octaves of one iteration)
#   speed     ours vs the peers' loop, 480p-4K, bf16 (as shipped) and fp32 at 1080p
#   engine    default style, 480p-4K: s/frame, steps/s, peak GPU and host memory
#   presets   each shipped style at 720p and 1080p
#   ablation  one 1080p step per speed-up, autocast last; the eager step's host floor, where its host
#             time goes, and the two clamps on 1080p's octaves (host.py: keep fusion.LEAN_DEVICES?)
#   compile   compile: true (inductor, and inductor with CUDA graphs) per octave shape at 1080p, then
#             whole frames at 720p and 1080p
#   render    the motion analysis's ceiling (flow.py, 1-8 workers), then the whole pipeline on the sample
#             clip and on synthetic 720p and 1080p clips
#   all       every stage
# Each stage appends its log to $OUT/<stage>.txt (default out/gpu); a stage that fails does not stop the
# others, and the exit status is the number of failed commands. DEVICE=cpu runs the same commands on the
# CPU (the smoke stage takes about 2 minutes on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu}
DEVICE=${DEVICE:-cuda}
mkdir -p "$OUT"

setup() {
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
    python3 -c "import dreamvideo, torch; print('torch', torch.__version__, '|',
                 torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device')" \
        | tee "$OUT/device.txt" || exit 1
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv >>"$OUT/device.txt" 2>&1
    fi
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
setup

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
        *) echo "unknown stage $what: use smoke, speed, engine, presets, ablation, compile, render or all"; exit 2 ;;
    esac
done
[ $failed -eq 0 ] || echo "$failed command(s) failed: $OUT/failed.txt"
exit $failed
