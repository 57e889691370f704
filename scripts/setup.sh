#!/usr/bin/env bash
# Installs what the build and the tests need beyond the .NET SDK: Azurite (npm, pinned, local
# to tools/azurite) and the NuGet packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
  echo "==> installing Azurite into tools/azurite"
  npm install --prefix tools/azurite --no-audit --no-fund --loglevel=error
fi
echo "==> restoring NuGet packages"
dotnet restore ConvNeXt.Batch.sln --verbosity quiet
