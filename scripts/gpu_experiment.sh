#!/usr/bin/env bash
# The paper experiment on the GPU machine (device tool), in commands of at most 10 minutes (results/README.md).
#   scripts/gpu_experiment.sh BUNDLE WORK OUT BUDGET_S CHAIN [CHAIN ...]
# CHAIN: a run of params.yaml `experiment.runs` (full, no_geometry, blind), trained then evaluated; `full`
# first pretrains the geometry encoder, `geometry` only pretrains it. The chains share the GPU in parallel.
# After them, the chain `throughput` (if named) benchmarks the training step with the GPU to itself. Every
# stage skips what WORK already holds and training resumes from its latest checkpoint; everything stops
# BUDGET_S seconds after the start. Scores, predictions, geometry metrics, MLflow SQLite stores and logs
# are packed into OUT/results.tar.gz.
# The device machine keeps nothing between commands, so the pretrained encoder travels: what the frozen
# branch reads under bf16 autocast (`experiment export-encoder`) comes back as OUT/encoder.part* +
# OUT/geometry_metrics.json; put them in .geometry/ (carried) and the next command starts from them
# instead of pretraining again. Wheels the GPU image lacks (py3.12 manylinux, downloaded here):
# .whl/model/ open_clip_torch ftfy wcwidth pydantic pydantic_core annotated_types typing_inspection, .whl/mlflow/
# mlflow-skinny and its needs; or, to fit the 64 MiB transfer beside the bundle and encoder, the same unpacked
# and xz'd: for w in .whl/*/*.whl; do unzip -q -o "$w" -d /tmp/s; done; tar cJf .site/site.tar.xz -C /tmp/s .
set -u
BUNDLE=$1 WORK=$2 OUT=$3 BUDGET=$4
shift 4
deadline=$((SECONDS + BUDGET))
if [ -f .site/site.tar.xz ]; then  # the wheels unpacked and xz-compressed: two thirds of their size
  mkdir -p /tmp/site && tar xJf .site/site.tar.xz -C /tmp/site || exit 1
else
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    .whl/*/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD MOSAIC_ARTIFACTS=$WORK/artifacts PYTHONUNBUFFERED=1
mkdir -p "$WORK/logs" "$WORK/geometry"
if [ -d .geometry ] && [ ! -f "$WORK/geometry/metrics.json" ]; then
  cat .geometry/encoder.part* > "$WORK/geometry/vggt.safetensors" && cp .geometry/geometry_metrics.json "$WORK/geometry/metrics.json"
fi
left() { echo $((deadline - SECONDS)); }
within() {  # run "$@" unless the budget is spent (timeout 0 would mean no limit), killed at the deadline
  [ "$(left)" -gt 5 ] || { echo "budget spent before: $*"; return 124; }
  timeout -k 10 "$(left)" "$@"
}
stage() { within python3 -m mosaic_model.experiment "$@" --bundle "$BUNDLE" --work "$WORK"; }
chain() {
  case $1 in
    geometry) stage geometry ;;
    full) stage geometry && stage train full && stage evaluate full ;;
    *) stage train "$1" && stage evaluate "$1" ;;
  esac
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
  within python3 benchmarks/train_throughput.py --qa "$BUNDLE/qa.parquet" --images "$BUNDLE/frames" \
    --steps 40 --warmup 5 --out "$WORK/throughput.json" > "$WORK/logs/throughput.log" 2>&1
fi
grep -h -v "INFO\|WARN" "$WORK"/logs/*.log | tail -n 12
ls "$WORK"/runs/*/checkpoints "$WORK"/eval/* 2>/dev/null
if [ -f "$WORK/geometry/vggt.safetensors" ] && [ ! -d .geometry ]; then
  python3 -m mosaic_model.experiment export-encoder "$WORK/geometry/vggt.safetensors" /tmp/encoder.safetensors &&
  split -b 15M -d /tmp/encoder.safetensors "$OUT/encoder.part" && cp "$WORK/geometry/metrics.json" "$OUT/geometry_metrics.json"
fi
(cd "$WORK" && tar czf "$OUT/results.tar.gz" --exclude=mlflow/artifacts \
  $(ls -d geometry/metrics.json eval mlflow logs throughput.json 2>/dev/null))
ls -la "$OUT"
