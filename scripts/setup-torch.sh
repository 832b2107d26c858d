#!/usr/bin/env bash
# Installs libtorch 2.11.0 (from the torch==2.11.0 wheel on PyPI) into a project-local
# virtual environment, once. Later calls return at once. Everything that builds textgan
# (cargo through .cargo/config.toml, ./textgan, scripts/test.sh) finds it at .venv/libtorch.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
want="2.11.0"
marker="$venv/.torch-$want-ok"
if [ -f "$marker" ] && [ -e "$venv/libtorch/lib/libtorch_cpu.so" ]; then
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
touch "$marker"
echo "setup-torch: libtorch $want ready at $venv/libtorch" >&2
