#!/usr/bin/env bash
# Interop with tools nobody here wrote: DCMTK's storescu sends phantom series
# (single-frame MR and Enhanced MR multi-frame) to `ovoflow edge`; each egg's
# EggScan reaches Kafka and an inference worker's prediction for it follows.
# dcmodify breaks images (wrong modality, wrong pixel representation, a huge
# declared size): each gets its DICOM error status and a dead letter.
# Needs the test broker (CTest fixture "kafka"): OVOFLOW_TEST_BROKERS.
set -euo pipefail

bin="${OVOFLOW_BINARY_DIR:?}/src/exe/ovoflow"
brokers="${OVOFLOW_TEST_BROKERS:?}"
work=$(mktemp -d -t ovoflow-edge-interop.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run="edge$$-$RANDOM"
echo "edge_interop: run $run, DICOM port $port"

"$bin" --brokers "$brokers" --log-level warn edge --tenant hatchery-a --scanner-id "mri-$run" --line line-1 \
  --spool "$work/spool" --dicom-port "$port" --allow-ae SCANNER --series-quiet-ms 2000 >"$work/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'listening on DICOM port' "$work/edge.log" && break; sleep 0.1; done
grep -q 'listening on DICOM port' "$work/edge.log" || { cat "$work/edge.log"; exit 1; }

# Three eggs per layout, exported by the phantom.
"$bin" --log-level warn phantom export --out "$work/single" --count 3 --seed 101 --layout single 2>/dev/null
"$bin" --log-level warn phantom export --out "$work/enhanced" --count 3 --seed 102 --layout enhanced 2>/dev/null

store() {  # [storescu options] files...: with the allowed calling AE; prints its log
  local opts=()
  while [[ "$1" == [-+]* ]]; do opts+=("$1"); shift; done
  storescu -aet SCANNER -aec OVOFLOW "${opts[@]}" 127.0.0.1 "$port" "$@" 2>&1 || true
}
for egg in "$work"/single/* "$work"/enhanced/*; do
  out=$(store +sd "$egg")
  if grep -qiE 'error|fail' <<<"$out"; then echo "storescu failed for $egg:"; echo "$out"; exit 1; fi
done
# Implicit VR Little Endian as well (storescu -xi proposes it first).
"$bin" --log-level warn phantom export --out "$work/implicit" --count 1 --seed 103 --layout single 2>/dev/null
out=$(store -xi +sd "$work/implicit"/*)
if grep -qiE 'error|fail' <<<"$out"; then echo "$out"; exit 1; fi

# Broken images: one file each, modified by dcmodify.
mkdir -p "$work/broken"
first=$(find "$work/single" -name '*.dcm' | sort | head -1)
cp "$first" "$work/broken/ct.dcm" && dcmodify -nb -m "Modality=CT" -m "SOPInstanceUID=1.2.3.$RANDOM.1" "$work/broken/ct.dcm"
cp "$first" "$work/broken/bits.dcm" && dcmodify -nb -m "BitsAllocated=32" -m "SOPInstanceUID=1.2.3.$RANDOM.2" "$work/broken/bits.dcm"
cp "$first" "$work/broken/huge.dcm" && dcmodify -nb -m "Rows=65535" -m "Columns=65535" -m "SOPInstanceUID=1.2.3.$RANDOM.3" "$work/broken/huge.dcm"
expect_status() {  # file, storescu's name of the status (A900, C000)
  local out
  out=$(store -v "$work/broken/$1")
  if ! grep -q "Received Store Response (Error: $2" <<<"$out"; then
    echo "expected status $2 for $1, storescu said:"; echo "$out"; exit 1
  fi
  echo "edge_interop: $1 -> $2"
}
expect_status ct.dcm DataSetDoesNotMatchSOPClass
expect_status bits.dcm CannotUnderstand
expect_status huge.dcm CannotUnderstand
# A calling AE outside the allow-list is refused.
out=$(storescu -aet STRANGER -aec OVOFLOW 127.0.0.1 "$port" "$first" 2>&1 || true)
grep -qi 'reject\|refused\|fail' <<<"$out" || { echo "STRANGER was not refused: $out"; exit 1; }

# Every egg's scan on Kafka, and a prediction for each from a worker.
eggs=7
"$bin" --brokers "$brokers" --log-level warn infer --infer-group "edge-interop-$run" --no-model-activations \
  >"$work/infer.log" 2>&1 &
pids+=($!)
count_predictions() {
  kcat -C -b "$brokers" -t ovoflow.predictions.v1 -o beginning -e -q -f '%s\n' 2>/dev/null |
    grep -a -c "mri-$run" || true
}
for _ in $(seq 240); do
  n=$(count_predictions)
  [ "$n" -ge "$eggs" ] && break
  sleep 0.5
done
echo "edge_interop: predictions for this scanner: $n of $eggs"
[ "$n" -ge "$eggs" ] || { tail -20 "$work/edge.log" "$work/infer.log"; exit 1; }
dead=$(kcat -C -b "$brokers" -t ovoflow.deadletter.v1 -o beginning -e -q -f '%s\n' 2>/dev/null | grep -a -c "mri-$run" || true)
echo "edge_interop: dead letters for this scanner: $dead"
[ "$dead" -ge 3 ] || { tail -20 "$work/edge.log"; exit 1; }
echo "edge_interop: ok"
