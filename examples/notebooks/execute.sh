#!/usr/bin/env bash
# Executes every notebook in this folder headless with Debian's Jupyter (not a pyenv/venv python) and this
# repository's Java kernel (examples/target/*-kernel.jar, built by `mvn package`). Any cell error fails the run.
# Executed copies go to examples/target/notebooks; the committed notebooks stay without outputs.
# Usage: execute.sh [NOTEBOOK.ipynb ...]   (default: every notebook in this folder)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="$here/../target"
python=/usr/bin/python3
jupyter=/usr/bin/jupyter

if ! "$python" -c "import nbconvert, nbclient, jupyter_client" 2>/dev/null || [ ! -x "$jupyter" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "notebooks: installing Debian's jupyter-nbconvert and jupyter-client" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q jupyter-nbconvert jupyter-client >&2 \
      || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q jupyter-nbconvert jupyter-client >&2; }
  else
    echo "notebooks: Debian's Jupyter is missing; run: sudo apt-get install jupyter-nbconvert jupyter-client" >&2
    exit 1
  fi
fi

kernel_jar="$(ls "$target"/examples-*-kernel.jar 2>/dev/null | head -1)"
if [ -z "$kernel_jar" ]; then
  echo "notebooks: no kernel jar in $target; run mvn -B -DskipTests package first" >&2
  exit 1
fi

# A private Jupyter home: the kernel spec is installed here, nothing is written to ~/.local.
work="$target/jupyter"
rm -rf "$work" && mkdir -p "$work/kernels" "$target/notebooks"
java -cp "$kernel_jar" ai.engram.examples.kernel.KernelMain --install "$work/kernels" >&2
export JUPYTER_PATH="$work" JUPYTER_DATA_DIR="$work/data" JUPYTER_RUNTIME_DIR="$work/runtime"
export JUPYTER_CONFIG_DIR="$work/config" JUPYTER_PLATFORM_DIRS=1 OPT_OUT_TRACKING=true
export DJL_CACHE_DIR="${DJL_CACHE_DIR:-$HOME/.djl.ai}"

execute() { # notebook, output dir
  "$python" "$jupyter" nbconvert --to notebook --execute --ExecutePreprocessor.timeout=1800 \
    --ExecutePreprocessor.kernel_name=engram-java --output-dir "$2" "$1"
}

# First prove that a failing cell fails the run, so a green run means every cell really ran.
probe="$work/failing-cell.ipynb"
cat > "$probe" <<'NB'
{"cells": [{"cell_type": "code", "metadata": {}, "execution_count": null, "outputs": [],
  "source": ["throw new IllegalStateException(\"deliberately failing cell\");"]}],
 "metadata": {"kernelspec": {"name": "engram-java", "display_name": "Java (engram-djl)", "language": "java"}},
 "nbformat": 4, "nbformat_minor": 5}
NB
if execute "$probe" "$work" >"$work/failing-cell.log" 2>&1; then
  echo "notebooks: a deliberately failing cell did not fail nbconvert; refusing to trust the run" >&2
  exit 1
fi
grep -q "deliberately failing cell" "$work/failing-cell.log" \
  || { echo "notebooks: the failing probe failed for another reason:" >&2; cat "$work/failing-cell.log" >&2; exit 1; }
echo "notebooks: failure detection verified" >&2

notebooks=("$@")
[ ${#notebooks[@]} -gt 0 ] || notebooks=("$here"/*.ipynb)
status=0
for notebook in "${notebooks[@]}"; do
  start=$(date +%s)
  if execute "$notebook" "$target/notebooks" >"$target/notebooks/$(basename "$notebook" .ipynb).log" 2>&1; then
    echo "notebooks: $(basename "$notebook") ok ($(( $(date +%s) - start )) s)" >&2
  else
    echo "notebooks: $(basename "$notebook") FAILED:" >&2
    tail -n 40 "$target/notebooks/$(basename "$notebook" .ipynb).log" >&2
    status=1
  fi
done
exit $status
