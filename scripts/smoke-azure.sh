#!/usr/bin/env bash
# End-to-end check of a deployment, run after `azd up`:
#   1. health        GET /api/health (anonymous) until the API app answers: this wakes a replica
#                    scaled to zero, so the key lookup after it finds a running host; then
#                    GET /api/health/details with the key answers Healthy (model loaded and pinned)
#   2. upload        one image into images/smoke/<id>/
#   3. prediction    wait for its Predictions row (Event Grid -> Service Bus -> scoring app); on a
#                    GPU profile (SCORING_PROFILE gpu-*) the row's executionProvider must be cuda
#   4. validation    upload a tiny labelled set (<wnid>_*.JPEG names) and POST /api/validation-runs
#   5. completion    wait for the run to complete, then print its figures
#   6. deadletters   both queues' dead-letter counts are 0
#   7. alerts        every alert rule of the deployment exists (AZURE_ALERT_RULES)
# Exits 0 when every step passed; otherwise 1, naming the step that failed (2: bad arguments).
#
# Usage: scripts/smoke-azure.sh --images DIR [--count N] [--timeout SECONDS]
#   DIR holds labelled JPEGs named <wnid>_<anything>.JPEG (e.g. n01440764_tench.JPEG); the first
#   is scored as the single image, the first N (default 3) form the validation set.
# Reads AZURE_FUNCTION_APP_URL, AZURE_FUNCTION_APP_NAME, AZURE_RESOURCE_GROUP,
# AZURE_STORAGE_ACCOUNT_NAME, AZURE_SERVICEBUS_NAMESPACE, SCORING_PROFILE and AZURE_ALERT_RULES from
# the environment, or from `azd env get-values` when unset.
# FUNCTION_KEY skips the key lookup (`az containerapp function keys list`); SMOKE_POLL_SECONDS (10)
# is the polling interval.
# Needs: curl, jq, az (logged in, with the containerapp extension); azd when the variables are unset.
set -uo pipefail

images=""
count=3
timeout=900
poll="${SMOKE_POLL_SECONDS:-10}"
usage() { echo "usage: scripts/smoke-azure.sh --images DIR [--count N] [--timeout SECONDS]" >&2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --images) images="${2:-}"; shift 2 || { usage; exit 2; } ;;
    --count) count="${2:-}"; shift 2 || { usage; exit 2; } ;;
    --timeout) timeout="${2:-}"; shift 2 || { usage; exit 2; } ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage; exit 2 ;;
  esac
done
[[ -n "$images" && -d "$images" ]] || { echo "--images must name a folder of labelled JPEGs" >&2; usage; exit 2; }
[[ "$count" =~ ^[1-9][0-9]*$ ]] || { echo "--count must be a positive integer" >&2; exit 2; }
[[ "$timeout" =~ ^[1-9][0-9]*$ ]] || { echo "--timeout must be a positive number of seconds" >&2; exit 2; }

step="setup"
fail() {
  echo "smoke test FAILED at step '$step': $*" >&2
  exit 1
}
begin() {
  step="$1"
  echo "== $step: $2"
}

# ---- setup: tools, outputs of the deployment, function key ---------------------------------
begin setup "tools and deployment outputs"
for tool in curl jq; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done
if [[ -z "${AZURE_FUNCTION_APP_URL:-}" ]]; then
  command -v azd >/dev/null || fail "AZURE_FUNCTION_APP_URL is unset and azd is not installed"
  values="$(azd env get-values)" || fail "azd env get-values failed (run it in the project folder after azd up)"
  eval "$values"
fi
url="${AZURE_FUNCTION_APP_URL:-}"
[[ -n "$url" ]] || fail "AZURE_FUNCTION_APP_URL is empty"
url="${url%/}"
account="${AZURE_STORAGE_ACCOUNT_NAME:-}"
mapfile -t files < <(find "$images" -maxdepth 1 -type f -iname '*.jp*g' | sort | head -n "$count")
[[ ${#files[@]} -ge 1 ]] || fail "no JPEGs in $images"
id="smoke-$(date -u +%Y%m%d%H%M%S)-$RANDOM"

# GET with the function key; prints the body, returns non-zero unless 200.
get() {
  local out status
  out="$(curl -sS --max-time 60 -w '\n%{http_code}' -H "x-functions-key: $key" "$@")" || return 1
  status="${out##*$'\n'}"
  body="${out%$'\n'*}"
  [[ "$status" == "200" ]]
}

# ---- 1. health: wake the app, then the key, then the details ------------------------------
begin health "GET $url/api/health (wakes a replica scaled to zero)"
deadline=$((SECONDS + timeout))
until status_only="$(curl -sS --max-time 120 "$url/api/health")"; do
  [[ $SECONDS -lt $deadline ]] || fail "the API app did not answer within ${timeout}s"
  sleep "$poll"
done
key="${FUNCTION_KEY:-}"
if [[ -z "$key" ]]; then
  command -v az >/dev/null || fail "FUNCTION_KEY is unset and az is not installed"
  key="$(az containerapp function keys list -g "${AZURE_RESOURCE_GROUP:?}" -n "${AZURE_FUNCTION_APP_NAME:?}" \
      --key-type hostKey --query "[?name=='default'].value | [0]" -o tsv)" || fail "could not read the API app's host key"
  [[ -n "$key" ]] || fail "the API app has no 'default' host key yet (is the image deployed?)"
fi
health="$(curl -sS --max-time 120 -H "x-functions-key: $key" "$url/api/health/details")" || fail "the API app did not answer /api/health/details"
case "$(jq -r '.status // empty' <<<"$health" 2>/dev/null)" in
  Healthy) echo "   $(jq -r '"model \(.modelId) sha256 \(.sha256) on \(.executionProvider)"' <<<"$health")" ;;
  Unpinned) echo "   WARNING: $(jq -r '.warning' <<<"$health")" >&2 ;;
  *) fail "health answered: $health (anonymous: $status_only)" ;;
esac

# ---- 2. upload one image -------------------------------------------------------------------
[[ -n "$account" ]] || { step=upload; fail "AZURE_STORAGE_ACCOUNT_NAME is empty"; }
image="${files[0]}"
blob="smoke/$id/$(basename "$image")"
begin upload "images/$blob"
az storage blob upload --auth-mode login --account-name "$account" -c images -n "$blob" -f "$image" --only-show-errors >/dev/null \
  || fail "upload to images/$blob failed (Storage Blob Data Contributor for you: AZURE_PRINCIPAL_ID)"

# ---- 3. wait for its Predictions row -------------------------------------------------------
begin prediction "waiting up to ${timeout}s for the Predictions row (a cold GPU replica takes minutes)"
deadline=$((SECONDS + timeout))
body=""
until get -G "$url/api/predictions" --data-urlencode container=images --data-urlencode "blob=$blob"; do
  [[ $SECONDS -lt $deadline ]] || fail "no Predictions row for images/$blob after ${timeout}s (check the score-requests queue and its dead letters, and the scoring app's logs)"
  sleep "$poll"
done
status="$(jq -r '.status' <<<"$body")"
[[ "$status" == "Scored" ]] || fail "images/$blob has an error row: $(jq -c '{status, errorReason, errorMessage}' <<<"$body")"
echo "   $(jq -r '"top-1: \(.top[0].wnid // "?") \(.top[0].name // "") p=\(.top[0].probability // 0) on \(.executionProvider // "?")"' <<<"$body")"
# A GPU deployment that scored on the CPU is a failure, not a slow success.
if [[ "${SCORING_PROFILE:-gpu-t4}" == gpu-* ]]; then
  provider="$(jq -r '.executionProvider // empty' <<<"$body")"
  [[ "$provider" == cuda* ]] || fail "images/$blob was scored on '${provider:-unknown}', not cuda (SCORING_PROFILE ${SCORING_PROFILE:-gpu-t4})"
fi

# ---- 4. a validation run on a tiny labelled set --------------------------------------------
begin validation "uploading ${#files[@]} labelled images to validation/$id/ and starting a run"
for file in "${files[@]}"; do
  az storage blob upload --auth-mode login --account-name "$account" -c validation -n "$id/$(basename "$file")" -f "$file" \
    --only-show-errors >/dev/null || fail "upload of $(basename "$file") failed"
done
created="$(curl -sS --max-time 120 -w '\n%{http_code}' -X POST -H "x-functions-key: $key" -H 'Content-Type: application/json' \
  -d "{\"container\":\"validation\",\"prefix\":\"$id/\",\"labels\":\"names\",\"runId\":\"$id\"}" "$url/api/validation-runs")" \
  || fail "POST /api/validation-runs did not answer"
[[ "${created##*$'\n'}" == "201" ]] || fail "POST /api/validation-runs answered ${created##*$'\n'}: ${created%$'\n'*}"
run="$(jq -r '.runId // .run.runId // empty' <<<"${created%$'\n'*}")"
[[ -n "$run" ]] || fail "no run id in the answer: ${created%$'\n'*}"
echo "   run $run"

# ---- 5. wait for completion and print the figures ------------------------------------------
begin completion "waiting up to ${timeout}s for run $run"
deadline=$((SECONDS + timeout))
while :; do
  get "$url/api/validation-runs/$run" || fail "GET /api/validation-runs/$run failed: $body"
  run_status="$(jq -r '.run.status' <<<"$body")"
  [[ "$run_status" == "Completed" ]] && break
  [[ "$run_status" == "Running" ]] || fail "run $run is $run_status: $body"
  [[ $SECONDS -lt $deadline ]] || fail "run $run not complete after ${timeout}s ($(jq -r '.chunksDone' <<<"$body")/$(jq -r '.run.chunkCount' <<<"$body") chunks; check the validation-chunks dead letters)"
  sleep "$poll"
done
jq -r '.run | "   images \(.imageCount), scored \(.scoredCount), errors \(.errorCount), top-1 \(.top1), top-5 \(.top5), model \(.modelId) \(.modelSha256)"' <<<"$body"
[[ "$(jq -r '.run.scoredCount' <<<"$body")" == "${#files[@]}" ]] || fail "expected ${#files[@]} scored images: $(jq -c .run <<<"$body")"

# ---- 6. dead-letter queues are empty -------------------------------------------------------
begin deadletters "dead-letter counts of score-requests and validation-chunks"
namespace="${AZURE_SERVICEBUS_NAMESPACE:-}"
[[ -n "$namespace" ]] || fail "AZURE_SERVICEBUS_NAMESPACE is empty"
for queue in score-requests validation-chunks; do
  dead="$(az servicebus queue show -g "${AZURE_RESOURCE_GROUP:?}" --namespace-name "$namespace" -n "$queue" \
      --query countDetails.deadLetterMessageCount -o tsv)" || fail "could not read the counts of $queue"
  [[ "$dead" == "0" ]] || fail "$queue has ${dead:-?} dead-lettered message(s): convnext-batch deadletters list $queue --namespace $namespace"
  echo "   $queue: 0 dead-lettered"
done

# ---- 7. the alert rules exist --------------------------------------------------------------
begin alerts "alert rules of the deployment"
expected="${AZURE_ALERT_RULES:-}"
[[ -n "$expected" ]] || fail "AZURE_ALERT_RULES is empty (an output of main.bicep)"
existing="$( (az monitor metrics alert list -g "${AZURE_RESOURCE_GROUP:?}" --query "[].name" -o tsv; \
  az monitor scheduled-query list -g "${AZURE_RESOURCE_GROUP:?}" --query "[].name" -o tsv) )" || fail "could not list the alert rules"
while read -r rule; do
  grep -qx "$rule" <<<"$existing" || fail "alert rule '$rule' is missing"
done < <(jq -r '.[]' <<<"$expected")
echo "   $(jq -r 'length' <<<"$expected") rules present"

step="done"
echo "smoke test passed: $id"
