#!/usr/bin/env bash
# The reference set on an NVIDIA GPU, one command (README: GPUs): `make reference-gpu`, or
#   scripts/reference_gpu.sh [DIR] [sweep options, e.g. --executor ray]
# Installs the `cuda` extra (JAX's CUDA 12 wheels, pinned in pyproject.toml) into .venv if missing,
# checks that JAX sees a GPU, then runs every reference spec into DIR (default results-gpu/: the
# records share their keys with the CPU records in results/ and differ by rounding) and appends each
# spec's wall time, the device and the commit to DIR/TIMINGS.md. Resumable like any sweep: rerun it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-results-gpu}"
shift || true
PY=.venv/bin/python
specs=(ffdnn-width ffdnn-depth cnn-maps budget-ffdnn budget-cnn)

if ! command -v nvidia-smi >/dev/null; then
  echo "error: no NVIDIA driver here (nvidia-smi not found); see README, GPUs" >&2
  exit 2
fi
if ! $PY -c "import jax_cuda12_plugin" 2>/dev/null; then
  echo "== installing the cuda extra (pip install -c requirements.lock -e '.[cuda]')"
  .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[cuda]'
fi
device=$($PY -c "import jax; d = jax.devices(); print(d[0].platform, d[0].device_kind, 'x', len(d))")
case "$device" in
  gpu*|cuda*) ;;
  *) echo "error: JAX sees no GPU (jax.devices(): $device); see README, GPUs" >&2; exit 2 ;;
esac
mkdir -p "$dir"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
{
  echo
  echo "## $(date -u '+%Y-%m-%d %H:%M UTC'): $device, commit $commit, options: ${*:-none}"
  echo
  echo "| spec | wall time (s) | exit |"
  echo "|---|---:|---:|"
} >> "$dir/TIMINGS.md"
total=0
for spec in "${specs[@]}"; do
  start=$(date +%s)
  rc=0
  $PY -m quantlab sweep "$spec" --results "$dir" "$@" || rc=$?
  took=$(( $(date +%s) - start ))
  total=$(( total + took ))
  echo "| $spec | $took | $rc |" >> "$dir/TIMINGS.md"
  echo "== $spec: $took s (exit $rc)"
done
echo "| all | $total | |" >> "$dir/TIMINGS.md"
echo "== reference set on $device: $total s; records in $dir, timings in $dir/TIMINGS.md"
