#!/bin/sh
# azd postprovision hook (azure.yaml): runs after every `azd provision` / `azd up`, before the
# images are deployed. It fails `azd up` (exit 1, one line saying what to do) unless:
#   1. both apps are Azure Functions apps: Microsoft.App/containerApps with kind == functionapp.
#      Without it the app is a plain container app that never starts from zero (the API version
#      in functionapp.bicep is chosen for this; the check catches a service that drops it anyway).
#   2. the model is in blob storage and pinned: with MODEL_FILE set (a local .onnx), it is uploaded
#      to MODEL_BLOB (models/<file>.onnx: MODEL_LOCATION or the profile's model; an output of main.bicep), its SHA-256 is stored with
#      `azd env set MODEL_SHA256` (so the next provision passes it to Bicep) and set on both apps
#      now (Model__Sha256). Without MODEL_FILE, MODEL_SHA256 must be set and the blob must exist:
#      an unpinned blob model is refused by the handler, and every upload would be dead-lettered.
# Reads (azd exports them to hooks): AZURE_RESOURCE_GROUP, AZURE_SCORING_APP_NAME,
# AZURE_FUNCTION_APP_NAME, AZURE_STORAGE_ACCOUNT_NAME, MODEL_BLOB, MODEL_SHA256, MODEL_FILE.
# Needs: az (logged in, containerapp extension), azd, sha256sum.
set -u

fail() {
  echo "postprovision FAILED: $*" >&2
  exit 1
}

rg="${AZURE_RESOURCE_GROUP:-}"
[ -n "$rg" ] || fail "AZURE_RESOURCE_GROUP is empty (run through azd)"
for tool in az azd sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done

# ---- 1. both apps are function apps ---------------------------------------------------------
for app in "${AZURE_SCORING_APP_NAME:-}" "${AZURE_FUNCTION_APP_NAME:-}"; do
  [ -n "$app" ] || fail "AZURE_SCORING_APP_NAME or AZURE_FUNCTION_APP_NAME is empty"
  kind="$(az containerapp show -g "$rg" -n "$app" --query kind -o tsv 2>/dev/null)" \
    || fail "az containerapp show $app failed"
  [ "$kind" = "functionapp" ] \
    || fail "$app has kind '$kind', not 'functionapp': it would never start from zero. Check the Microsoft.App/containerApps API version in Infrastructure/modules/functionapp.bicep"
  echo "postprovision: $app is a function app"
done

# ---- 2. the model is uploaded and pinned ----------------------------------------------------
location="${MODEL_BLOB:-}"
case "$location" in
  models/*.onnx) ;;
  *) echo "postprovision: model '$location' is not a blob in models/: nothing to upload"; exit 0 ;;
esac
account="${AZURE_STORAGE_ACCOUNT_NAME:-}"
[ -n "$account" ] || fail "AZURE_STORAGE_ACCOUNT_NAME is empty"
blob="${location#models/}"
pinned="${MODEL_SHA256:-}"

if [ -n "${MODEL_FILE:-}" ]; then
  [ -f "$MODEL_FILE" ] || fail "MODEL_FILE '$MODEL_FILE' is not a file"
  sha="$(sha256sum "$MODEL_FILE" | cut -d' ' -f1)"
  if [ "$sha" != "$pinned" ] || ! az storage blob exists --auth-mode login --account-name "$account" -c models -n "$blob" \
      --query exists -o tsv 2>/dev/null | grep -qx true; then
    # The operator's Blob Data Contributor role may take a minute to apply after the first provision.
    tries=0
    until az storage blob upload --auth-mode login --account-name "$account" -c models -n "$blob" -f "$MODEL_FILE" \
        --overwrite --only-show-errors >/dev/null; do
      tries=$((tries + 1))
      [ "$tries" -lt 6 ] || fail "uploading $MODEL_FILE to models/$blob failed (Storage Blob Data Contributor for AZURE_PRINCIPAL_ID?)"
      sleep 20
    done
    echo "postprovision: uploaded $MODEL_FILE to models/$blob"
  fi
  if [ "$sha" != "$pinned" ]; then
    azd env set MODEL_SHA256 "$sha" >/dev/null || fail "azd env set MODEL_SHA256 failed"
    for app in "$AZURE_SCORING_APP_NAME" "$AZURE_FUNCTION_APP_NAME"; do
      az containerapp update -g "$rg" -n "$app" --set-env-vars "Model__Sha256=$sha" --only-show-errors >/dev/null \
        || fail "could not set Model__Sha256 on $app"
    done
  fi
  echo "postprovision: model models/$blob pinned to sha256 $sha"
  exit 0
fi

[ -n "$pinned" ] || fail "no model pinned: run 'azd env set MODEL_FILE path/to/model.onnx' (uploaded to $location and pinned) or 'azd env set MODEL_SHA256 <hex>' for a model already there, then 'azd provision'"
az storage blob exists --auth-mode login --account-name "$account" -c models -n "$blob" --query exists -o tsv 2>/dev/null | grep -qx true \
  || fail "MODEL_SHA256 is set but $location does not exist: upload it or set MODEL_FILE"
echo "postprovision: model $location pinned to sha256 $pinned"
