#!/usr/bin/env bash
# Run a command inside the project environment (venv + built workspace + local-only DDS).
set -euo pipefail
# shellcheck disable=SC1091
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/env.sh"
exec "$@"
