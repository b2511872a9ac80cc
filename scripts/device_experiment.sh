#!/usr/bin/env bash
# `mosaic experiment run` past its data step, on a GPU machine without the project's environment (the lent
# device: a bare machine per session, commands of at most 10 minutes, 64 MiB carried). docs/experiment.md.
#   scripts/device_experiment.sh WORK OUT BUDGET_S [CONFIG [UNTIL]]
# WORK is the experiment's work folder after the data and bundle steps ran on the CPU machine (ledger.json,
# checkout.json: the commit, verified file by file, since the copy has no git; vlm-bundle/, and bundle/ when
# an arm pretrains the geometry encoder), carried. The command continues where WORK stands (ledger.json) and
# starts no step after BUDGET_S seconds (a training run stops at its next checkpoint). What the command made or
# changed of the scores, predictions, MLflow stores, the ledger, logs and (once every run is scored) the report
# comes back as OUT/work.tar.gz.1, .2, ... (scripts/device_carry.py pack; unpack them into WORK here with
# `python3 scripts/device_carry.py unpack FILES_AT WORK`); checkpoints stay on the machine while it is held (the
# next command of the same session continues them); each run is scored before the next trains, so a machine given
# back loses at most the run in progress. The geometry encoder the runs read (geometry/encoder.safetensors) comes
# back too: carried again, the next machine needs neither bundle/ nor the geometry step.
# UNTIL stops after that step (e.g. geometry). A WORK over what one command carries travels as loads WORK.1,
# WORK.2, ... in consecutive calls (scripts/device_carry.py); they are joined into WORK here. Where the geometry
# part came (bundle/), the runs' frames (vlm-bundle/frames) are made here from it, so one warm machine needs only
# the geometry part's loads for the whole experiment; a fresh one, after the geometry step, the runs part.
# Wheels the GPU image lacks (py3.12 manylinux, downloaded on the CPU machine, docs/development.md): .whl/
# open_clip_torch ftfy wcwidth pydantic pydantic_core annotated_types typing_inspection mlflow-skinny (+ needs).
set -u
WORK=$1 OUT=$2 BUDGET=$3 CONFIG=${4:-} UNTIL=${5:-}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if compgen -G "$WORK.[0-9]*" > /dev/null; then  # carried in loads (scripts/device_carry.py split); once joined,
  python3 scripts/device_carry.py join "$WORK" || exit 1  # they are removed: the next command joins nothing
fi
if [ -d "$WORK/bundle" ] && [ ! -d "$WORK/vlm-bundle/frames" ]; then  # the geometry part is here: the runs' frames
  # are copies of its frames (bundle.qa_frames_bundle, the bundle step's own), so they need not travel
  python3 -m mosaic_model.experiment.bundle qa-frames "$WORK/bundle" "$WORK/vlm-bundle" > /dev/null || exit 1
fi
mkdir -p "$WORK/logs"
python3 scripts/device_carry.py snapshot "$WORK" || exit 1  # what was carried in does not go back
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 >> "$WORK/logs/nvidia_smi.csv" &
smi=$!
python3 -m mosaic_model.experiment run ${CONFIG:+--config "$CONFIG"} --work "$WORK" --results "$WORK/results" \
  --budget-s "$BUDGET" ${UNTIL:+--until "$UNTIL"} 2>&1 | tee -a "$WORK/logs/experiment.log"
rc=${PIPESTATUS[0]}
kill $smi
python3 scripts/device_carry.py pack "$WORK" "$OUT" || exit 1
exit "$rc"
