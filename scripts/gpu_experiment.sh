#!/usr/bin/env bash
# The paper experiment on the GPU machine (device tool), resumable: run it again after a cut-off.
#   scripts/gpu_experiment.sh BUNDLE WORK OUT BUDGET_S CHAIN [CHAIN ...]
# CHAIN: a run of params.yaml `experiment.runs` (full, no_geometry, blind), trained then evaluated; `full`
# first pretrains the geometry encoder. The chains share the GPU in parallel. After them, the chain
# `throughput` (if named) benchmarks the training step with the GPU to itself. Every stage skips what WORK
# already holds and training resumes from its latest checkpoint, so a second command on the same (warm)
# machine continues; everything stops BUDGET_S seconds after the start. Scores, predictions, geometry
# metrics, MLflow SQLite stores and logs are packed into OUT/results.tar.gz.
set -u
BUNDLE=$1 WORK=$2 OUT=$3 BUDGET=$4
shift 4
deadline=$((SECONDS + BUDGET))
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MOSAIC_ARTIFACTS=$WORK/artifacts PYTHONUNBUFFERED=1
mkdir -p "$WORK/logs"
left() { echo $((deadline - SECONDS)); }
stage() { timeout "$(left)" python3 -m mosaic_model.experiment "$@" --bundle "$BUNDLE" --work "$WORK"; }
chain() {
  if [ "$1" = full ]; then stage geometry || return; fi
  stage train "$1" && stage evaluate "$1"
}
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 >> "$WORK/logs/nvidia_smi.csv" &
smi=$!
pids=() throughput=
for name in "$@"; do
  if [ "$name" = throughput ]; then throughput=1; continue; fi
  chain "$name" >> "$WORK/logs/$name.log" 2>&1 &
  pids+=($!)
done
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
kill $smi
if [ -n "$throughput" ] && [ ! -f "$WORK/throughput.json" ]; then  # the GPU alone
  timeout "$(left)" python3 benchmarks/train_throughput.py --qa "$BUNDLE/qa.parquet" --images "$BUNDLE/frames" \
    --steps 40 --warmup 5 --out "$WORK/throughput.json" > "$WORK/logs/throughput.log" 2>&1
fi
grep -h -v "INFO\|WARN" "$WORK"/logs/*.log | tail -n 12
ls "$WORK"/runs/*/checkpoints "$WORK"/eval/* 2>/dev/null
(cd "$WORK" && tar czf "$OUT/results.tar.gz" --exclude=mlflow/artifacts \
  $(ls -d geometry/metrics.json eval mlflow logs throughput.json 2>/dev/null))
ls -la "$OUT"
