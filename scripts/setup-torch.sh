#!/usr/bin/env bash
# Installs libtorch 2.11.0 (from the torch==2.11.0 wheel on PyPI) into a project-local
# virtual environment, once. Later calls return at once. Everything that builds textgan
# (cargo through .cargo/config.toml, ./textgan, scripts/test.sh) finds it at .venv/libtorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
want="2.11.0"
marker="$venv/.torch-$want-ok"
# The CUDA headers NCCL's process group is compiled against (build.rs, csrc/dist_nccl.cpp): the
# runtime's come with torch, CCCL's and crt's do not. Pinned to the CUDA 13.0 of torch's wheel.
cuda_headers() {
  local m="$venv/.cuda-headers-13.0-ok"
  [ -f "$m" ] && return 0
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "nvidia-cuda-cccl==13.0.85.*" "nvidia-cuda-crt==13.0.88.*" &&
    touch "$m" ||
    echo "setup-torch: the CUDA headers could not be installed; textgan builds without NCCL" >&2
}
if [ -f "$marker" ] && [ -e "$venv/libtorch/lib/libtorch_cpu.so" ]; then
  cuda_headers
  exit 0
fi
python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup-torch: $python not found; textgan needs Python 3.9+ with pip once, to fetch libtorch $want" >&2
  exit 1
fi
echo "setup-torch: installing torch==$want into $venv (once; about 5 GB with its CUDA libraries)" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "torch==$want"
site="$("$venv/bin/python" -c 'import torch, os; print(os.path.dirname(torch.__file__))' 2>/dev/null)"
version="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)"
if [ "$version" != "$want" ]; then
  echo "setup-torch: expected torch $want, found $version in $venv" >&2
  exit 1
fi
ln -sfn "$site" "$venv/libtorch"
cuda_headers
touch "$marker"
echo "setup-torch: libtorch $want ready at $venv/libtorch" >&2
