#!/usr/bin/env bash
# Installs what the build and the tests need beyond the .NET SDK: Azurite (npm, pinned, local
# to tools/azurite), headless Chromium for the report tests (Debian's package, as root), and the
# NuGet packages. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x tools/azurite/node_modules/.bin/azurite ]; then
  echo "==> installing Azurite into tools/azurite"
  npm install --prefix tools/azurite --no-audit --no-fund --loglevel=error
fi
# The report tests load the HTML reports in a real browser. Debian's chromium, plus the Liberation
# fonts (metric-compatible with Arial, the font the charts are measured with).
if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/truetype/liberation ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing chromium and fonts-liberation (apt-get) for the report browser tests"
    { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; } \
      || echo "==> warning: apt-get could not install chromium: the report browser tests will fail" >&2
  else
    echo "==> chromium is missing and cannot be installed here (not root, or no apt-get): the report browser tests will be skipped" >&2
  fi
fi
echo "==> restoring NuGet packages"
dotnet restore ConvNeXt.Batch.sln --verbosity quiet
