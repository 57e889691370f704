#!/usr/bin/env bash
# Builds a deployable Functions app folder (custom handler):
#   <out>/host.json
#   <out>/<FunctionName>/function.json   (one per function, from Functions/function-app/)
#   <out>/handler/convnext-batch-handler (dotnet publish of Functions/)
#   <out>/local.settings.json            (only with --local-settings: the sample, for `func start`)
# Usage: scripts/assemble-functionapp.sh [--out DIR] [--no-publish] [--local-settings] [-- extra dotnet publish args]
# Run it with `func start` inside <out> (see README.md, "Running under the Functions host"). The
# image build runs it without --local-settings: the sample settings do not belong in the image.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/artifacts/functionapp"
publish=1
local_settings=0
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --no-publish) publish=0; shift ;;
    --local-settings) local_settings=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

rm -rf "$out"
mkdir -p "$out"
cp "$root/host.json" "$out/host.json"
count=0
for dir in "$root"/Functions/function-app/*/; do
  name="$(basename "$dir")"
  [[ -f "$dir/function.json" ]] || continue
  mkdir -p "$out/$name"
  cp "$dir/function.json" "$out/$name/function.json"
  count=$((count + 1))
done
if [[ $local_settings -eq 1 ]]; then
  cp "$root/Functions/function-app/local.settings.sample.json" "$out/local.settings.json"
fi

if [[ $publish -eq 1 ]]; then
  dotnet publish "$root/Functions/ConvNeXt.Batch.Functions.csproj" -c Release -o "$out/handler" -nologo -v q ${extra[@]+"${extra[@]}"}
  test -x "$out/handler/convnext-batch-handler" || { echo "publish produced no handler executable" >&2; exit 1; }
fi
echo "assembled $count functions into $out"
