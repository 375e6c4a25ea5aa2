#!/usr/bin/env bash
# The GPU checks of the vector-env and PPO issues in one run, for a session lent a CUDA machine (DESIGN §8:
# everything else runs without one). About 4-6 minutes on one H200; each step has its own time limit and a
# failed step does not stop the others.
#
#   bash benchmarks/gpu_check.sh fetch   # here, where pip works: the wheels the GPU machine lacks, into .whl/
#   bash benchmarks/gpu_check.sh run     # there, e.g. device.run(command="bash benchmarks/gpu_check.sh run",
#                                        #                       carry=[".whl"], timeout_s=540)
#   bash benchmarks/gpu_check.sh dry-run # here: the same steps on the CPU at toy sizes, to check the script
#
# `run` writes one file per step into $OUT (or ./gpu-check/): the sync check (tests marked gpu), the env
# throughput at 4,096 envs against SyncVectorEnv and at 16,384 alone, and PPO training throughput of a
# GPT-2-small-sized model at 1,024 envs with its model-FLOPs utilisation, plus the tiny model against stock
# SB3 PPO. Copy the figures into benchmarks/RESULTS.md with the date and the hardware.
set -u
cd "$(dirname "$0")/.."
mode=${1:-run}
# pure-Python wheels the GPU machine's image lacks (it has torch, transformers, sacrebleu, numpy, pytest)
WHEELS=(gymnasium==1.4.0 farama-notifications==0.0.6 stable-baselines3==2.9.2)

case "$mode" in
  fetch)
    mkdir -p .whl
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ls -l .whl
    exit $?
    ;;
  run)
    device=cuda; small=(--num-envs 4096); large=(--num-envs 16384); model=gpt2-small-random; envs=1024
    updates=3; tiny_envs=64
    if [ -d .whl ] && ls .whl/*.whl > /dev/null 2>&1; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .whl/*.whl || exit 1
      export PYTHONPATH=/tmp/site
    fi
    ;;
  dry-run)
    device=cpu; small=(--num-envs 16 --seconds 0.1); large=(--num-envs 32 --seconds 0.1); model=tiny; envs=4
    updates=1; tiny_envs=4
    ;;
  *)
    echo "usage: bash benchmarks/gpu_check.sh fetch|run|dry-run" >&2
    exit 2
    ;;
esac

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out=${OUT:-gpu-check}
mkdir -p "$out"

step() {  # step NAME SECONDS COMMAND...: run it with a time limit, its output to the screen and $out/NAME.txt
  local name=$1 limit=$2
  shift 2
  echo "== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*"
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  local rc=$?
  tail -n 25 "$out/$name.txt"
  echo "== $name: exit $rc"
}

step machine 60 sh -c 'nvidia-smi || true; python3 -c "import sys, torch, transformers, gymnasium, \
stable_baselines3, sacrebleu, numpy; print(sys.version); print(\"torch\", torch.__version__, \"cuda\", \
torch.cuda.is_available(), torch.cuda.get_device_name() if torch.cuda.is_available() else \"\"); \
print(\"transformers\", transformers.__version__, \"gymnasium\", gymnasium.__version__, \"sb3\", \
stable_baselines3.__version__, \"sacrebleu\", sacrebleu.__version__, \"numpy\", numpy.__version__)"; nproc'
# the sync check: steps in which no episode ends under torch.cuda.set_sync_debug_mode("error"), rows vs the CPU
step gpu-tests 150 python3 -m pytest -q -p no:cacheprovider -m gpu --runslow tests/vector
step env-4096 150 python3 -m benchmarks.throughput.env --device "$device" "${small[@]}" --peers sync --repeats 1
step env-16384 120 python3 -m benchmarks.throughput.env --device "$device" "${large[@]}" --peers none
step train-gpt2-small 180 python3 -m benchmarks.throughput.train --device "$device" --model "$model" \
  --num-envs "$envs" --updates "$updates" --no-peer --peak-tflops 989
step train-tiny-vs-sb3 120 python3 -m benchmarks.throughput.train --device "$device" --num-envs "$tiny_envs" \
  --updates "$updates"
# data-parallel PPO: one rank per GPU (torchrun, nccl), against one rank, in the same run
gpus=$(python3 -c "import torch; print(max(torch.cuda.device_count(), 1))" 2>/dev/null || echo 1)
step distributed 150 python3 -m benchmarks.throughput.distributed --device "$device" --ranks 1 "$gpus" \
  --num-envs "$tiny_envs" --updates "$updates"
echo "== done $(date -u +%H:%M:%S); files in $out"
