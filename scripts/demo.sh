#!/usr/bin/env bash
# Sets up, builds, and starts a local 3-node cluster that serves the playground:
# open the URL it prints. Ctrl-C stops every node.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/native/raftbook demo "$@"
