#!/usr/bin/env bash
# The GPU figures of benchmarks/RESULTS.md in one go (about 5-10 minutes on one H100-class GPU):
# the laptop step against the plain loop (fp32, bf16), the paper-profile step and its kernel census,
# and seconds per epoch of every config in the paper profile (fp32 and bf16).
#   CMMD_DATA_DIR=../shared/data bash benchmarks/gpu.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-benchmarks/results}
mkdir -p "$out"
python=${PYTHON:-python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
$python benchmarks/bench_train_step.py --device cuda --config mnist2 --profile laptop --epochs 1 --repeats 3 \
    --stacked 6 --stacked-steps 50 --json "$out/train_step_mnist2_laptop_cuda.json"
$python benchmarks/bench_train_step.py --device cuda --config mnist2 --profile paper --steps 200 --repeats 3 \
    --stacked 0 --json "$out/train_step_mnist2_paper_cuda.json"
for precision in fp32 bf16; do
    $python benchmarks/epoch_times.py --device cuda --profiles paper --steps 100 --precision "$precision" \
        --markdown "$out/epoch_times_cuda_$precision.md" --json "$out/epoch_times_cuda_$precision.json"
done
