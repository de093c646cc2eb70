#!/usr/bin/env bash
# The GPU rows of benchmarks/RESULTS.md (#34) in one command, for a session lent a GPU machine (the `device` tool).
#
# The machine's python3 holds torch, transformers (5.17 when last read), scipy and scikit-learn; marginal_generate
# imports without the packages it lacks (datasets, evaluate, gradio, fastapi), and nothing here downloads anything.
# Both scripts were run on a CPU with transformers 5.17 and those packages blocked (2026-12-07). ../shared does not
# travel there, so copy the seed data set into an ignored folder of the checkout first, here:
#
#     mkdir -p .gpu && cp ../shared/data/content_moderation_lm3.train.jsonl .gpu/ && echo /.gpu/ >> .git/info/exclude
#
# then run it there with `.gpu` carried, e.g. device.run(command="bash benchmarks/gpu_rows.sh", carry=[".gpu"],
# timeout_s=560). The raw output of each benchmark lands in $OUT (or benchmarks/gpu-output when run elsewhere).
# Each step has its own time limit, so one that runs long still leaves the others theirs.
set -u -o pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-benchmarks/gpu-output}"
mkdir -p "$out"
data=.gpu/content_moderation_lm3.train.jsonl
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
    git log --oneline -1 2>/dev/null || true
} 2>&1 | tee "$out/machine.txt"
# an 8B-shaped Llama with random weights and planted guard bigrams, 900-token prompts, two prompts of reference walk
timeout 300 python3 benchmarks/marginalization_speed.py --model random-8b --device cuda --dtype bfloat16 \
    --prompt-length 900 --reference-prompts 2 2>&1 | tee "$out/marginalization_speed_random_8b.txt"
# the data-set run on the embedded model: any_place against greedy generate over the seed prompts
if [ -f "$data" ]; then
    timeout 180 python3 benchmarks/dataset_speed.py --device cuda --data "$data" --num-prompts 1024 \
        --batch-size 32 2>&1 | tee "$out/dataset_speed_embedded.txt"
else
    echo "no $data: copy the seed data set there and carry .gpu (see this script's header)" | tee "$out/dataset_speed_embedded.txt"
fi
