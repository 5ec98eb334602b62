#!/usr/bin/env bash
# The reference set on an NVIDIA GPU, one command (README: GPUs): `make reference-gpu`, or
#   scripts/reference_gpu.sh [DIR] [sweep options, e.g. --executor ray]
# Which Python: $PYTHON if set; else .venv's when its JAX sees a GPU; else the machine's own python3
# when its JAX already sees a GPU (the usual GPU container: no venv, no install, quantlab from this
# checkout through PYTHONPATH); else .venv with the `cuda` extra installed, when a package index is
# reachable and an NVIDIA driver is present (nvidia-smi); otherwise it says exactly what to install. quantlab is tested with JAX 0.10.2 (the lock)
# and 0.11.2 (an H200 machine's own, replicates/); other versions get a warning. The data must be
# prepared (python -m quantlab data) or carried: the three Fashion-MNIST files of $QUANTLAB_CACHE/data
# (README: GPUs). Then every reference spec runs into DIR (default results-gpu/: the records share
# their keys with the CPU records in results/ and differ by rounding) and each spec's wall time, the
# device and the commit go to DIR/TIMINGS.md. Resumable like any sweep: rerun it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${1:-results-gpu}"
shift || true
TESTED_JAX="0.10.2 0.11.2"

sees_gpu() { "$1" -c "import jax; assert jax.devices()[0].platform == 'gpu'" >/dev/null 2>&1; }

if [[ -n "${PYTHON:-}" ]]; then
  PY=$PYTHON
elif [[ -x .venv/bin/python ]] && sees_gpu .venv/bin/python; then
  PY=.venv/bin/python
elif command -v python3 >/dev/null && sees_gpu python3; then
  PY=python3
  echo "== using this machine's python3 and its JAX (no install); quantlab from $(pwd)"
elif command -v nvidia-smi >/dev/null && [[ -x .venv/bin/python ]] && .venv/bin/pip download -q --no-deps -d "$(mktemp -d)" six >/dev/null 2>&1; then
  echo "== installing the cuda extra into .venv (pip install -c requirements.lock -e '.[cuda]')"
  .venv/bin/pip install -q --disable-pip-version-check -c requirements.lock -e '.[cuda]'
  PY=.venv/bin/python
else
  cat >&2 <<'MSG'
error: no Python here has a JAX that sees a GPU (and no NVIDIA driver with a package index to install one).
Install JAX with CUDA for this machine's Python (e.g. pip install 'jax[cuda12]==0.10.2', or the
machine's own wheels), plus flax, optax, numpy and tqdm, then rerun (PYTHON=/path/to/python to choose
it). Check with: python3 -c "import jax; print(jax.devices())"
MSG
  exit 2
fi
export PYTHONPATH="$(pwd)${PYTHONPATH:+:$PYTHONPATH}"
jaxv=$($PY -c "import jax; print(jax.__version__)")
[[ " $TESTED_JAX " == *" $jaxv "* ]] || echo "warning: JAX $jaxv; quantlab is tested with JAX $TESTED_JAX" >&2
if ! $PY -c "from quantlab import data; raise SystemExit(0 if data.is_cached('fashion_mnist') else 1)"; then
  $PY -m quantlab data || { echo "error: prepare the data where TFDS is installed (python -m quantlab data) and copy \$QUANTLAB_CACHE/data/fashion_mnist-*.npz here (README: GPUs)" >&2; exit 2; }
fi
specs=($($PY -c "from quantlab.book import REFERENCE_SPECS; print(*REFERENCE_SPECS)"))
device=$($PY -c "import jax; d = jax.devices(); print(d[0].platform, d[0].device_kind, 'x', len(d))")
case "$device" in
  gpu*|cuda*) ;;
  *) echo "error: $PY's JAX sees no GPU (jax.devices(): $device); see README, GPUs" >&2; exit 2 ;;
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
