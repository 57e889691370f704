#!/usr/bin/env bash
# Runs every test: set-up (Azurite, restore), build, then all test projects.
# Each test assembly starts its own Azurite on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet build ConvNeXt.Batch.sln --no-restore -c Release --verbosity quiet -nologo
dotnet test ConvNeXt.Batch.sln --no-build -c Release --verbosity quiet -nologo --logger "console;verbosity=normal" "$@"
