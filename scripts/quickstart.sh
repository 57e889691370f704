#!/usr/bin/env bash
# One command on a fresh machine (.NET SDK 10, Node.js + npm): installs what is missing, starts a
# private Azurite (loopback, in memory, telemetry off, free ports), then runs `convnext-batch demo`:
# build the default model, upload sample images to the `images` container, score them into the
# `Predictions` table, run a validation run, print the predictions and the run's metrics.
# Everything it started is stopped on exit.
#
#   scripts/quickstart.sh                 # 64 sample images
#   scripts/quickstart.sh --all           # every sample image
#   CONVNEXT_WEIGHTS=convnext_tiny.safetensors scripts/quickstart.sh   # published weights
#   scripts/quickstart.sh --model ../shared/data/squeezenet/squeezenet1.1-fp16.onnx --preprocessing caffe \
#       --labels ../shared/data/imagenet-labels/LOC_synset_mapping.txt
# Azurite runs in memory: every result vanishes when this script ends (see `convnext-batch serve` to keep one running).
set -euo pipefail
# --help answers before anything is installed, built or started.
for arg in "$@"; do
  case "$arg" in
    -h|--help)
      sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
      echo "Other options are passed to 'convnext-batch demo' (see: convnext-batch demo --help)."
      exit 0 ;;
  esac
done
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/setup.sh

echo "==> building convnext-batch"
dotnet build Cli -c Release --no-restore -v q -nologo
cli=(dotnet "$root/Cli/bin/Release/net10.0/convnext-batch.dll")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)); }
blob_port=$(free_port); queue_port=$(free_port); table_port=$(free_port)

work=$(mktemp -d)
azurite_pid=""
cleanup() {
  if [ -n "$azurite_pid" ] && kill -0 "$azurite_pid" 2>/dev/null; then
    kill "$azurite_pid" 2>/dev/null || true
    wait "$azurite_pid" 2>/dev/null || true
    echo "==> stopped Azurite: it ran in memory, so the tables and blobs above are gone (keep them: see 'serve' in docs/cli.md)" >&2
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

echo "==> starting Azurite on 127.0.0.1 (blob $blob_port, queue $queue_port, table $table_port)"
tools/azurite/node_modules/.bin/azurite --inMemoryPersistence --disableTelemetry --skipApiVersionCheck --loose \
  --blobHost 127.0.0.1 --blobPort "$blob_port" --queueHost 127.0.0.1 --queuePort "$queue_port" \
  --tableHost 127.0.0.1 --tablePort "$table_port" >"$work/azurite.log" 2>&1 &
azurite_pid=$!
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/"$table_port") 2>/dev/null; then break; fi
  sleep 0.1
done

key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
export Storage__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;QueueEndpoint=http://127.0.0.1:$queue_port/devstoreaccount1;TableEndpoint=http://127.0.0.1:$table_port/devstoreaccount1;"

"${cli[@]}" demo --work-dir "$work" "$@"
