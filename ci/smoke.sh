#!/usr/bin/env bash
# The README's first command, as a user on a fresh machine would run it.
set -euo pipefail
cd "$(dirname "$0")/.."
pip install --quiet . && mejax "mixed Reaction Days || Subject: Days, reml" --data sleepstudy
