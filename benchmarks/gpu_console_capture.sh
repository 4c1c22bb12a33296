#!/usr/bin/env bash
# The console's GPU panel during a real CUDA run, captured with tmux as a person would see it.
#   bash benchmarks/gpu_console_capture.sh [--dry-run]
# Prints two captures (after 12 s and 22 s), stops the console with SIGTERM (it checkpoints and
# exits), and passes when the GPU's name (from nvidia-smi) appears on the captured screen.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python}"
if [ "${1:-}" = "--dry-run" ]; then
    command -v tmux >/dev/null || { echo "gpu_console_capture: tmux not found" >&2; exit 2; }
    echo "gpu_console_capture dry run: tmux $(tmux -V | cut -d' ' -f2), 140x45, 2 captures"
    exit 0
fi
[ $# -eq 0 ] || { echo "usage: bash benchmarks/gpu_console_capture.sh [--dry-run]" >&2; exit 2; }
TMP="$(mktemp -d)"
SESSION="gpu-proof-$$"
cleanup() { tmux kill-session -t "$SESSION" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
tmux new-session -d -s "$SESSION" -x 140 -y 45 \
    "cd '$ROOT' && PYTHONPATH='${PYTHONPATH:-$ROOT}' $PY -m tui_trainer fake-benchmark --start device=cuda data.name=fake data.num_samples=8192 data.image_size=96 model.name=resnet18 epochs=50 --out '$TMP/runs'; sleep 5"
PID="$(tmux display-message -p -t "$SESSION" '#{pane_pid}')"
sleep 12
echo "--- after 12 s"
tmux capture-pane -p -t "$SESSION" | tee "$TMP/a.txt"
sleep 10
echo "--- after 22 s"
tmux capture-pane -p -t "$SESSION" | tee "$TMP/b.txt"
pkill -TERM -P "$PID" 2>/dev/null
sleep 3
NAME="$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | sed 's/^NVIDIA //')"
WORD="$(printf '%s' "$NAME" | awk '{print $1}')"
if grep -qF -- "$WORD" "$TMP/a.txt" "$TMP/b.txt"; then
    echo "GPU panel shows '$WORD' (from '$NAME'): PASS"
    exit 0
fi
echo "GPU panel: '$WORD' (from '$NAME') not on the captured screen: FAIL"
exit 3
