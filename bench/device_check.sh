#!/usr/bin/env bash
# The GPU measurements and checks in one run, on a machine with a CUDA build of PyTorch:
#   1. training throughput of the three presets: in-memory samples, .npz read per batch, the decoder alone,
#      and the FLOP rates (the target: the whole step at 40% or more of the decoder alone's rate)
#   2. batched reconstruction of 64 shapes against one at a time (the target: 10x), and mesh extraction
#   3. the device-parametrised tests on the GPU (training, resume, batched reconstruction)
#   4. torch.compile, bfloat16 autocast and TF32 on the GPU; one torchrun (NCCL) training process
# Each part writes its JSON and log under OUT as it finishes, so a run stopped early keeps what it measured.
#
#   bash bench/device_check.sh [OUT]          OUT defaults to $OUT, then bench_out/
#   QUICK=1 bash bench/device_check.sh        tiny sizes on whatever device there is (checks this script)
#
# Writes data/device_check/ (the embedded shapes, 500,000 samples per mesh) and training/device_check_*.
# Python packages missing there (trimesh, libigl, embreex) are installed from wheels in .whl/ if present.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-bench_out}}
PY=${PYTHON:-python3}
QUICK=${QUICK:-0}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
step() { echo "== $(date +%T) $*" | tee -a "$OUT/log.txt"; }
run() { "$@" 2>&1 | tee -a "$OUT/log.txt"; local rc=${PIPESTATUS[0]}; [ "$rc" = 0 ] || step "FAILED ($rc): $*"; }

if ! $PY -c "import igl, trimesh" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    step "installing wheels from .whl/"
    run $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
step "machine"
run $PY -c "import torch, platform; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'gpu',
torch.cuda.get_device_name() if torch.cuda.is_available() else None, 'cpus', __import__('os').cpu_count(),
'python', platform.python_version())"
command -v nvidia-smi >/dev/null && run nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv

if [ "$QUICK" = 1 ]; then
    PER_FAMILY=2; SAMPLES=20000; WORKERS=2; EPOCHS=60; STEPS=2; ROUNDS=1; PRESETS=very_narrow,narrow
    SHAPES=4; ITERS=5; RES=32
else
    PER_FAMILY=12; SAMPLES=500000; WORKERS=$(nproc); EPOCHS=100; STEPS=10; ROUNDS=5; PRESETS=very_narrow,narrow,paper
    SHAPES=64; ITERS=800; RES=256
fi

D=data/device_check
step "data: embedded shapes in $D, $SAMPLES samples per mesh"
run $PY load_data.py --default --per-family $PER_FAMILY --data-dir $D --no-progress
run $PY sample_points.py --dataset EmbeddedShapes --data-dir $D --workers $WORKERS --num-samples $SAMPLES --no-progress
# the narrow preset (specs.json) on that data
$PY -c "import json; s = json.load(open('specs.json')); s.update(DataSource='$D',
TrainSplit='$D/splits/EmbeddedShapes_train.json', TestSplit='$D/splits/EmbeddedShapes_test.json');
json.dump(s, open('$D/specs.json', 'w'), indent=2)"

step "1. training throughput (fp32)"
run $PY bench/bench_training.py --data-dir $D --presets $PRESETS --variants memory,npz --steps $STEPS --rounds $ROUNDS \
    --out "$OUT/training.json"

step "2. reconstruction: $SHAPES shapes batched against one at a time, meshes at $RES^3"
EXP=training/device_check_narrow
rm -rf "$EXP"
run $PY train.py -e $EXP --specs $D/specs.json --epochs $EPOCHS --no-progress --no-tensorboard
run $PY bench/bench_reconstruction.py -e $EXP --shapes $SHAPES --iterations $ITERS --samples 8000 \
    --resolution $RES --out "$OUT/reconstruction.json"

step "3. tests on every device there is"
run $PY -m pytest -q -p no:cacheprovider tests/test_training.py tests/test_reconstruction.py -k "cuda or batched"

step "4. compile, amp and tf32; torchrun"
run $PY bench/bench_training.py --data-dir $D --presets $PRESETS --variants memory,compile,amp --steps $STEPS --rounds $ROUNDS \
    --out "$OUT/training_compile_amp.json"
run $PY bench/bench_training.py --data-dir $D --presets $PRESETS --variants memory --steps $STEPS --rounds $ROUNDS --tf32 \
    --out "$OUT/training_tf32.json"
run $PY bench/bench_reconstruction.py -e $EXP --shapes $SHAPES --iterations $((ITERS / 4 + 1)) --samples 8000 \
    --resolution $RES --tf32 --out "$OUT/reconstruction_tf32.json"
rm -rf training/device_check_ddp
run $PY -m torch.distributed.run --standalone --nproc_per_node=1 train.py -e training/device_check_ddp \
    --specs $D/specs.json --epochs 2 --no-progress --no-tensorboard
step "done"
