#!/usr/bin/env bash
# Every GPU measurement of docs/performance.md in one go, for a GPU session of a few minutes.
#
#   benchmarks/gpu_session.sh OUT_DIR [SECONDS]
#
# Runs each part in its own process, within what is left of SECONDS (default 550): fine-tuning speed;
# compiled batch-8 throughput; the batch-1 comparison with the reference (eager, tuned, cached
# embeddings, then approximate mode with the feature cache every 3 and 5 steps); a second process
# that compiles again from the warm on-disk cache and times 20 DPM-Solver++ steps, with and without
# the feature cache (approximate mode); training speed; batch-8 memory; memory and offloading at
# batch 1. Logs
# and JSON land in OUT_DIR; a step that fails or runs out of time leaves its log, and the steps
# after it still run.
set -u
out=${1:?usage: benchmarks/gpu_session.sh OUT_DIR [SECONDS]}
deadline=$(( $(date +%s) + ${2:-550} ))
mkdir -p "$out"
root=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH="$root/src:$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-/tmp/blip-diffusion-inductor}
python=${PYTHON:-python3}

step() {  # step NAME MAX_SECONDS ARGS...: one benchmark process, its log in OUT_DIR/NAME.log
    local name=$1 limit=$2 left=$(( deadline - $(date +%s) ))
    shift 2
    (( left < limit )) && limit=$left
    if (( limit < 20 )); then echo "== $name: skipped, no time left"; return 1; fi
    echo "== $name (at most ${limit} s): $*"
    local start=$(date +%s)
    timeout "$limit" "$python" "$@" > "$out/$name.log" 2>&1
    local rc=$?
    echo "   rc $rc after $(( $(date +%s) - start )) s"
    grep -v "Warning\|warn\|deprecated\|^ *$" "$out/$name.log" | tail -n 14
    return $rc
}

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$python" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
cd "$root"
# Order: what the last run could not measure first (docs/performance.md, "Against the targets"), since a
# budget of about 9 minutes does not fit every step on a fresh machine: the fine-tune's set-up, split
# into its parts (models to the GPU, photos through the VAE, subject encoding); compiled batch-8
# throughput; then the comparison with the reference (the first tuned compile is 120-150 s and the
# feature cache compiles its own two passes, about 70 s: that step needs about 360 s).
step finetune 150 benchmarks/bench_finetune.py --sd15 --json "$out/finetune.json"
step batch8_tuned 200 benchmarks/bench_generate.py --sd15 --batch 8 --tuned --no-reference --runs 2 \
    --json "$out/batch8_tuned.json"
step batch1 400 benchmarks/bench_generate.py --sd15 --tuned --feature-cache 3 5 --json "$out/batch1.json"
# A second process: the tuned compile from the warm on-disk cache, and approximate mode (20 DPM-Solver++ steps,
# then with the feature cache every second step).
step warm_start_dpm20 120 benchmarks/bench_generate.py --sd15 --tuned --no-reference --steps 20 --scheduler dpm \
    --feature-cache 2 --json "$out/warm_start_dpm20.json"
step train 90 benchmarks/bench_train.py --sd15 --mixed-precision bf16 --gradient-checkpointing --steps 10 --json "$out/train.json"
step batch8_memory 80 benchmarks/bench_generate.py --sd15 --batch 8 --memory --runs 1 --json "$out/batch8_memory.json"
step memory 70 benchmarks/bench_generate.py --sd15 --memory --runs 2 --json "$out/memory.json"
exit 0
