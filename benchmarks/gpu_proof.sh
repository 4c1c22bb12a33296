#!/usr/bin/env bash
# GPU proof kit: everything CUDA-specific in tui-trainer, measured on one NVIDIA GPU in < 8 min.
#
#   bash benchmarks/gpu_proof.sh [--out FILE] [--no-compile] [--dry-run]
#
# Writes every section's output into ONE results file (default:
# benchmarks/results/gpu_proof-<host>-<UTC time>.txt) and ends with a PASS/FAIL table:
#   1. environment (nvidia-smi, torch/CUDA/cuDNN versions)      5. host-sync check of the real loop
#   2. `tui-trainer gpus`                                        6. tmux capture of the console's
#   3. the gpu-marked tests (pytest -m gpu)                         GPU panel during a run
#   4. fp32/fp16/bf16 samples/s + peak memory, resnet18 @224,    7. one-process NCCL DDP start-up
#      channels_last and compile on top (targets: fp16 >= 1.8x fp32 speed, <= 0.6x memory)
# Each section has its own time limit (sum 470 s) so a hang cannot eat the device budget.
# --dry-run checks the arguments, the tools and the helper scripts' arguments (no CUDA needed,
# nothing heavy runs) and writes the plan into the results file; the test suite runs it.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT=""
DRY=0
COMPILE=1
usage() { echo "usage: bash benchmarks/gpu_proof.sh [--out FILE] [--no-compile] [--dry-run]"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --out)
            [ $# -ge 2 ] && [ -n "$2" ] || { echo "gpu_proof: --out needs a file name" >&2; usage >&2; exit 2; }
            OUT="$2"; shift 2 ;;
        --out=*) OUT="${1#--out=}"; [ -n "$OUT" ] || { echo "gpu_proof: --out needs a file name" >&2; exit 2; }; shift ;;
        --dry-run) DRY=1; shift ;;
        --no-compile) COMPILE=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_proof: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

PY="${PYTHON:-python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
if [ -z "$OUT" ]; then
    OUT="$ROOT/benchmarks/results/gpu_proof-$(hostname -s 2>/dev/null || echo host)-$(date -u +%Y%m%d-%H%M%S).txt"
fi
mkdir -p "$(dirname "$OUT")" 2>/dev/null || { echo "gpu_proof: cannot create the folder of --out '$OUT'" >&2; exit 2; }
# -- tools -------------------------------------------------------------------------------------
missing=()
for tool in "$PY" timeout tmux; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "gpu_proof: missing tool(s): ${missing[*]}" >&2
    exit 2
fi
HAVE_SMI=1
command -v nvidia-smi >/dev/null 2>&1 || HAVE_SMI=0
if [ "$DRY" = 0 ] && [ "$HAVE_SMI" = 0 ]; then
    echo "gpu_proof: nvidia-smi not found: this needs an NVIDIA GPU machine (try --dry-run)" >&2
    exit 2
fi

if [ -e "$OUT" ]; then
    echo "gpu_proof: --out '$OUT' exists; results are never overwritten (pick another name)" >&2
    exit 2
fi
: > "$OUT" || { echo "gpu_proof: cannot write --out '$OUT'" >&2; exit 2; }


declare -a NAMES=() VERDICTS=()
T0=$(date +%s)
log() { printf '%s\n' "$*" | tee -a "$OUT"; }
section() { log ""; log "=== $1 ==="; }
# run_step NAME LIMIT_S COMMAND...: output into the results file; verdict from the exit code.
run_step() {
    local name="$1" limit="$2"; shift 2
    section "$name (limit ${limit} s)"
    log "\$ $*"
    local t=$(date +%s) rc
    timeout --signal=TERM --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$OUT"
    rc=${PIPESTATUS[0]}
    local verdict=PASS
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then verdict="TIMEOUT"; elif [ "$rc" != 0 ]; then verdict="FAIL (rc $rc)"; fi
    log "--- $name: $verdict in $(( $(date +%s) - t )) s"
    NAMES+=("$name"); VERDICTS+=("$verdict")
}

log "tui-trainer GPU proof kit — $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname 2>/dev/null)"
log "repo: $ROOT ($(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout'))"
log "results: $OUT"

if [ "$DRY" = 1 ]; then
    section "dry run: plan (nothing heavy runs)"
    log "tools: $PY, timeout, tmux found; nvidia-smi $([ "$HAVE_SMI" = 1 ] && echo found || echo 'NOT found (needed for a real run)')"
    log "1 environment 10s | 2 tui-trainer gpus 15s | 3 pytest -m gpu 90s | 4 gpu_precision.py 170s$([ "$COMPILE" = 0 ] && echo ' (no compile)')"
    log "5 gpu_sync_check.py 90s | 6 tmux GPU-panel capture 35s | 7 NCCL DDP (1 process) 60s"
    [ -f "$ROOT/tests/conftest.py" ] || { log "gpu_proof: tests/ not found under $ROOT"; exit 2; }
    # One interpreter checks the three Python helpers' arguments and imports (torch once).
    run_step "helper scripts (arguments, imports)" 90 "$PY" "$HERE/gpu_kit_dry_run.py" "$COMPILE"
    run_step "console capture tools" 10 bash "$HERE/gpu_console_capture.sh" --dry-run
else
    run_step "environment" 10 bash -c "nvidia-smi; $PY -c 'import torch, torchvision; print(\"torch\", torch.__version__, \"CUDA\", torch.version.cuda, \"cuDNN\", torch.backends.cudnn.version(), \"torchvision\", torchvision.__version__); print(\"cuda available:\", torch.cuda.is_available(), \"devices:\", torch.cuda.device_count(), \"bf16:\", torch.cuda.is_bf16_supported(), \"nccl:\", torch.distributed.is_nccl_available())'"
    run_step "tui-trainer gpus" 15 "$PY" -m tui_trainer gpus
    run_step "gpu-marked tests" 90 "$PY" -m pytest "$ROOT/tests" -m gpu -q -p no:cacheprovider -rs
    PREC_ARGS=(--batch 128 --steps 15 --rounds 3)
    [ "$COMPILE" = 0 ] && PREC_ARGS+=(--no-compile)
    run_step "precision, channels_last, compile (resnet18 @224)" 170 "$PY" "$HERE/gpu_precision.py" "${PREC_ARGS[@]}"
    run_step "no host sync inside a training step" 90 "$PY" "$HERE/gpu_sync_check.py" --steps-per-epoch 100 --epochs 2

    run_step "console GPU panel (tmux capture-pane)" 35 bash "$HERE/gpu_console_capture.sh"
    run_step "NCCL DDP start-up (1 process)" 60 "$PY" "$HERE/gpu_nccl_check.py" --epochs 1
fi

section "summary ($(( $(date +%s) - T0 )) s in all)"
failed=0
for i in "${!NAMES[@]}"; do
    log "$(printf '%-55s %s' "${NAMES[$i]}" "${VERDICTS[$i]}")"
    [ "${VERDICTS[$i]}" = PASS ] || failed=1
done
log "results file: $OUT"
exit $failed
