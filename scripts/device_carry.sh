#!/usr/bin/env bash
# The part of an experiment's work folder one device command carries (docs/experiment.md, "Where it runs"):
#   scripts/device_carry.sh WORK DEST geometry   ledger, checkout.json, bundle/ and the QA of vlm-bundle/:
#                                                 what the geometry step reads (run it with UNTIL=geometry)
#   scripts/device_carry.sh WORK DEST runs       ledger, checkout.json, vlm-bundle/ and what earlier commands
#                                                 brought back (geometry/, eval/, mlflow/, logs/): training, scoring
# DEST (a git-ignored folder of the checkout, named in the command's carry) is made anew, of hard links where
# WORK is on the same file system. It fails when DEST and .whl/ together exceed the 64 MiB a command carries.
set -euo pipefail
WORK=$1 DEST=$2 PART=$3
LIMIT_MIB=64
case "$PART" in
  geometry) paths=(ledger.json checkout.json bundle vlm-bundle/qa.parquet vlm-bundle/manifest.json) ;;
  runs) paths=(ledger.json checkout.json vlm-bundle geometry eval mlflow logs) ;;
  *) echo "device_carry.sh: PART is geometry or runs, not '$PART'" >&2; exit 2 ;;
esac
rm -rf "$DEST"
mkdir -p "$DEST"
for p in "${paths[@]}"; do
  [ -e "$WORK/$p" ] || continue
  mkdir -p "$DEST/$(dirname "$p")"
  cp -al "$WORK/$p" "$DEST/$p" 2>/dev/null || cp -a "$WORK/$p" "$DEST/$p"
done
for required in ledger.json checkout.json; do
  [ -f "$DEST/$required" ] || { echo "device_carry.sh: $WORK/$required is missing: run the CPU part first" >&2; exit 1; }
done
mib=$(du -cm --apparent-size "$DEST" .whl 2>/dev/null | tail -1 | cut -f1)
echo "$DEST: $(du -sm --apparent-size "$DEST" | cut -f1) MiB, with .whl/ $mib MiB (limit $LIMIT_MIB)"
[ "$mib" -le "$LIMIT_MIB" ] || { echo "device_carry.sh: over the $LIMIT_MIB MiB a command carries" >&2; exit 1; }
