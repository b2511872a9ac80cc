#!/usr/bin/env bash
# The paper experiment on the GPU machine (device tool), resumable: run it again after a cut-off.
#   scripts/gpu_experiment.sh BUNDLE WORK OUT BUDGET_S [throughput]
# Installs the carried wheels (.whl/*/), runs three chains in parallel (geometry pretraining -> full; no_geometry; blind), each
# training then evaluating, then (optionally, with 150 s left) benchmarks the training step with the
# GPU to itself; everything stops BUDGET_S seconds after the start. Results (scores,
# predictions, geometry metrics, MLflow SQLite stores, logs) are packed into OUT/results.tar.gz.
set -u
BUNDLE=$1 WORK=$2 OUT=$3 BUDGET=$4 THROUGHPUT=${5:-}
deadline=$((SECONDS + BUDGET))
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD MOSAIC_ARTIFACTS=$WORK/artifacts PYTHONUNBUFFERED=1
mkdir -p "$WORK/logs"
left() { echo $((deadline - SECONDS)); }
stage() { timeout "$(left)" python3 -m mosaic_model.experiment "$@" --bundle "$BUNDLE" --work "$WORK"; }
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv -l 15 > "$WORK/logs/nvidia_smi.csv" &
smi=$!
(stage geometry && stage train full && stage evaluate full) > "$WORK/logs/full.log" 2>&1 &
chains=($!)
(stage train no_geometry && stage evaluate no_geometry) > "$WORK/logs/no_geometry.log" 2>&1 &
chains+=($!)
(sleep 20 && stage train blind && stage evaluate blind) > "$WORK/logs/blind.log" 2>&1 &
chains+=($!)
wait "${chains[@]}"
kill $smi
if [ -n "$THROUGHPUT" ] && [ ! -f "$WORK/throughput.json" ] && [ "$(left)" -gt 150 ]; then  # the GPU alone
  timeout "$(left)" python3 benchmarks/train_throughput.py --qa "$BUNDLE/qa.parquet" --images "$BUNDLE/frames" \
    --steps 40 --warmup 5 --out "$WORK/throughput.json" > "$WORK/logs/throughput.log" 2>&1
fi
tail -n 3 "$WORK"/logs/*.log
(cd "$WORK" && tar czf "$OUT/results.tar.gz" --exclude=mlflow/artifacts \
  $(ls -d geometry/metrics.json eval mlflow logs throughput.json 2>/dev/null))
ls -la "$OUT"
