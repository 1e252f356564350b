#!/usr/bin/env bash
# Builds the native TensorFlow binding of @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (--gpu) against
# libtensorflow taken from the official TensorFlow pip wheel, because the packages' own install script downloads
# libtensorflow from a host these machines cannot reach. Idempotent: the extracted library and the built binding are
# cached under $DCIGN_CACHE (default ~/.cache/dcign) keyed by versions, so a second run copies and rebuilds nothing.
#
#   scripts/setup-tensorflow.sh          CPU binding (tensorflow-cpu wheel)
#   scripts/setup-tensorflow.sh --gpu    GPU binding (tensorflow wheel + CUDA 12 libraries from its and-cuda extra)
set -euo pipefail

TF_VERSION=2.21.0
variant=cpu
[[ "${1:-}" == "--gpu" ]] && variant=gpu
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
say() { echo "[setup-tensorflow:$variant] $*"; }

if [[ $variant == cpu ]]; then
  pkg=@tensorflow/tfjs-node; wheel_name=tensorflow-cpu; wheel_glob='tensorflow_cpu-*.whl'
else
  pkg=@tensorflow/tfjs-node-gpu; wheel_name=tensorflow; wheel_glob='tensorflow-*.whl'
fi
pkg_dir=$root/node_modules/$pkg
if [[ ! -f $pkg_dir/package.json ]]; then
  echo "error: $pkg is not installed in $root/node_modules. Run 'npm install' first." >&2
  exit 1
fi
tfjs_version=$(node -p "require('$pkg_dir/package.json').version")
node_abi=$(node -p process.versions.modules)
lib_dir=$cache/libtensorflow-$variant-$TF_VERSION
binding_cache=$cache/bindings/$variant-tfjs$tfjs_version-tf$TF_VERSION-abi$node_abi
binding_target=$pkg_dir/lib/napi-v8/tfjs_binding.node

# 1. libtensorflow from the wheel: the C API lives in libtensorflow_cc.so.2, headers under tensorflow/include.
if [[ ! -f $lib_dir/.complete ]]; then
  mkdir -p "$cache/wheels"
  wheel=$(ls "$cache"/wheels/$wheel_glob 2>/dev/null | grep -E "$TF_VERSION" | head -n 1 || true)
  if [[ -z $wheel ]]; then
    say "downloading the $wheel_name==$TF_VERSION wheel (about 270 MB CPU, 600 MB GPU)"
    python3 -m pip download --quiet --no-deps "$wheel_name==$TF_VERSION" -d "$cache/wheels"
    wheel=$(ls "$cache"/wheels/$wheel_glob | grep -E "$TF_VERSION" | head -n 1)
  fi
  say "extracting libtensorflow and the C headers from $(basename "$wheel")"
  rm -rf "$lib_dir.tmp" && mkdir -p "$lib_dir.tmp"
  python3 - "$wheel" "$lib_dir.tmp" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
keep_inc = ('tensorflow/include/tensorflow/c/', 'tensorflow/include/tensorflow/core/platform/',
            'tensorflow/include/tsl/', 'tensorflow/include/xla/tsl/c/',
            'tensorflow/include/xla/tsl/platform/')
with zipfile.ZipFile(wheel) as z:
    for n in z.namelist():
        if n.endswith('/'):
            continue
        if n in ('tensorflow/libtensorflow_cc.so.2', 'tensorflow/libtensorflow_framework.so.2'):
            dest = os.path.join(out, 'lib', os.path.basename(n))
        elif n.startswith(keep_inc) and n.endswith('.h'):
            dest = os.path.join(out, 'include', n[len('tensorflow/include/'):])
        else:
            continue
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(n) as src, open(dest, 'wb') as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
PY
  # tfjs-node links -ltensorflow -ltensorflow_framework; the C API symbols are exported by libtensorflow_cc.
  ln -sf libtensorflow_cc.so.2 "$lib_dir.tmp/lib/libtensorflow.so"
  ln -sf libtensorflow_cc.so.2 "$lib_dir.tmp/lib/libtensorflow.so.2"
  ln -sf libtensorflow_framework.so.2 "$lib_dir.tmp/lib/libtensorflow_framework.so"
  touch "$lib_dir.tmp/.complete"
  rm -rf "$lib_dir" && mv "$lib_dir.tmp" "$lib_dir"
else
  say "libtensorflow $TF_VERSION already extracted in $lib_dir"
fi

# 2. deps/ of the package points at the cached library (the binding's rpath is $ORIGIN/../../deps/lib).
mkdir -p "$pkg_dir/deps"
for d in lib include; do
  if [[ "$(readlink "$pkg_dir/deps/$d" 2>/dev/null || true)" != "$lib_dir/$d" ]]; then
    rm -rf "${pkg_dir:?}/deps/$d" && ln -s "$lib_dir/$d" "$pkg_dir/deps/$d"
  fi
done

# 3. The binding itself, built once per (tfjs, TensorFlow, Node ABI) and copied in afterwards.
if [[ ! -f $binding_cache/tfjs_binding.node ]]; then
  say "building the $pkg binding from source (node-gyp, about a minute)"
  node_gyp=$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
  [[ -f $node_gyp ]] || node_gyp=$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js
  nodedir=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  (cd "$pkg_dir" && node "$node_gyp" rebuild --nodedir="$nodedir" --module_name=tfjs_binding --module_path="$pkg_dir/lib/napi-v8" >"$cache/node-gyp-$variant.log" 2>&1) || {
    echo "error: building the $pkg binding failed; the log is $cache/node-gyp-$variant.log" >&2
    exit 1
  }
  mkdir -p "$binding_cache"
  cp "$binding_target" "$binding_cache/tfjs_binding.node.tmp" && mv "$binding_cache/tfjs_binding.node.tmp" "$binding_cache/tfjs_binding.node"
elif ! cmp -s "$binding_cache/tfjs_binding.node" "$binding_target"; then
  say "binding already built; copying it from $binding_cache"
  mkdir -p "$(dirname "$binding_target")" && cp "$binding_cache/tfjs_binding.node" "$binding_target"
else
  say "binding already in place; nothing to rebuild"
fi

# 3a. The graph addon (native/tf-graph/tf_graph.c: TensorFlow's C API graph and session calls, used by the graph
# training step), compiled against the same cached libtensorflow the binding loads (one copy in the process) into
# build/tf-graph/<variant>/ of the clone. Cached by the hash of its source, the variant and the Node ABI.
addon_src=$root/native/tf-graph/tf_graph.c
addon_hash=$(cat "$addon_src" | sha256sum | cut -c1-16)
addon_cache=$cache/bindings/tf-graph-$variant-tf$TF_VERSION-abi$node_abi-$addon_hash
addon_target=$root/build/tf-graph/$variant/dcign_tf_graph.node
if [[ ! -f $addon_cache/dcign_tf_graph.node ]]; then
  say "building the graph addon (native/tf-graph, a few seconds)"
  node_include=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")/include/node
  mkdir -p "$addon_cache"
  ${CC:-cc} -O2 -shared -fPIC -Wall -Werror -DNODE_GYP_MODULE_NAME=dcign_tf_graph -I"$node_include" -I"$lib_dir/include" \
    "$addon_src" -L"$lib_dir/lib" -l:libtensorflow_cc.so.2 -Wl,-rpath,"$lib_dir/lib" \
    -o "$addon_cache/dcign_tf_graph.node.tmp" || { echo "error: building the graph addon failed (above)" >&2; exit 1; }
  mv "$addon_cache/dcign_tf_graph.node.tmp" "$addon_cache/dcign_tf_graph.node"
fi
if ! cmp -s "$addon_cache/dcign_tf_graph.node" "$addon_target"; then
  mkdir -p "$(dirname "$addon_target")" && cp "$addon_cache/dcign_tf_graph.node" "$addon_target"
fi

# 3b. On a GPU node the binding needs CUDA 12 and cuDNN at run time: the wheel's `and-cuda` extra brings them as
# nvidia-* pip packages, installed into a virtualenv whose lib folders src/backend.ts puts on LD_LIBRARY_PATH of the
# processes that load the GPU binding. Skipped where no GPU is visible (the binding then runs on the CPU).
if [[ $variant == gpu ]] && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  gpu_venv=$cache/tf-gpu-venv
  if [[ ! -f $gpu_venv/.complete-$TF_VERSION ]]; then
    say "installing the CUDA libraries of tensorflow[and-cuda]==$TF_VERSION into $gpu_venv (several GB)"
    python3 -m venv "$gpu_venv"
    "$gpu_venv/bin/pip" install --quiet --disable-pip-version-check --find-links "$cache/wheels" "tensorflow[and-cuda]==$TF_VERSION"
    touch "$gpu_venv/.complete-$TF_VERSION"
  fi
  export LD_LIBRARY_PATH=$(ls -d "$gpu_venv"/lib/python3*/site-packages/nvidia/*/lib | paste -sd:)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi

# 4. Prove it loads natively and computes.
(cd "$root" && TF_CPP_MIN_LOG_LEVEL=2 node --input-type=module -e "
const tf = await import('$pkg');
if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
const s = tf.tensor1d([1, 2, 3]).square().sum().dataSync()[0];
if (s !== 14) throw new Error('1+4+9 gave ' + s);
console.log('[setup-tensorflow:$variant] $pkg loads: backend tensorflow, TF ' + tf.version.tfjs + ' / ' + (tf.backend().binding?.TF_Version ?? '$TF_VERSION'));
")
