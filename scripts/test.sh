#!/usr/bin/env bash
# Runs every test: set-up (Azurite, restore), build, then all test projects.
# Each test assembly starts its own Azurite on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build ConvNeXt.Batch.sln --no-restore -c Release --verbosity quiet -nologo

results=$(mktemp -d)
status=0
dotnet test ConvNeXt.Batch.sln --no-build -c Release --verbosity quiet -nologo \
  --logger "console;verbosity=normal" --logger "trx;LogFilePrefix=tests" --results-directory "$results" "$@" || status=$?

# One closing line over all test assemblies, summed from their TRX reports.
passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -e "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  passed=$((passed + $(get passed)))
  failed=$((failed + $(get failed)))
  skipped=$((skipped + $(get notExecuted)))
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
exit $status
