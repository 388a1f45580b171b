#!/usr/bin/env bash
# make test-litellm: start the real LiteLLM of ../shared/litellm-real, run tests/litellm_real
# against it, stop it (also on failure or interrupt). No stdin needed (CI).
#
#   LITELLM_REAL_DIR   where start.sh lives (default: ../shared/litellm-real beside the clone,
#                      or ../../shared/litellm-real from a git worktree)
#   LITELLM_PORT, FAKE_PORT, LITELLM_DB, LITELLM_REAL_RUN, LITELLM_MASTER_KEY: passed to start.sh
#   PYTEST_ARGS        extra pytest arguments
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${LITELLM_REAL_DIR:-}" ]; then
  for candidate in "$ROOT/../shared/litellm-real" "$ROOT/../../shared/litellm-real"; do
    if [ -x "$candidate/start.sh" ]; then LITELLM_REAL_DIR=$candidate; break; fi
  done
fi
if [ ! -x "${LITELLM_REAL_DIR:-}/start.sh" ]; then
  echo "test-litellm: no start.sh; set LITELLM_REAL_DIR (looked beside $ROOT)" >&2
  exit 2
fi
export LITELLM_PORT=${LITELLM_PORT:-4011} FAKE_PORT=${FAKE_PORT:-4012}
export LITELLM_MASTER_KEY=${LITELLM_MASTER_KEY:-sk-master-1234}
stop() { "$LITELLM_REAL_DIR/start.sh" stop < /dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
started=$(date +%s)
"$LITELLM_REAL_DIR/start.sh" < /dev/null
echo "test-litellm: LiteLLM up in $(( $(date +%s) - started )) s"
cd "$ROOT"
# shellcheck disable=SC2086
LITELLM_REAL_URL="http://127.0.0.1:$LITELLM_PORT" .venv/bin/python -m pytest -q \
  -p no:cacheprovider --timeout 300 tests/litellm_real ${PYTEST_ARGS:-} < /dev/null
