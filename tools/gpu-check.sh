#!/usr/bin/env bash
# minidl GPU check: build here, run on a GPU machine. See tools/README.md.
#
#   tools/gpu-check.sh prepare [--build-dir DIR] [--bundle-dir DIR] [--no-build]
#                              [--data DIR | --no-data] [--jobs N] [-- EXTRA_CMAKE_ARGS...]
#   tools/gpu-check.sh verify  [--bundle-dir DIR]
#
# prepare configures and builds the Release CUDA build (arch: env CUDA_ARCHS,
# default 90), gathers the test/benchmark executables, minidl-info, minidl-train, the SVM tools,
# libminidl and the non-CUDA, non-glibc shared libraries they need into
# <bundle-dir>/minidl-gpu.tar.xz, copies Fashion-MNIST's four .gz files (from
# --data, default $MINIDL_FASHION_MNIST_DIR or /usr/share/datasets/fashion-mnist;
# about 30 MB, for the training runs and the SVM benchmark) into
# <bundle-dir>/fashion-mnist/, writes the launcher <bundle-dir>/run.sh and prints
# the device command. Defaults: build dir build-gpu, bundle dir gpu-bundle
# (both at the repository root, both git-ignored).
#
# Environment: CUDA_ARCHS (default 90), CMAKE_ARGS (extra cmake args, split on
# spaces), MINIDL_BUNDLE_MAX_MIB (default 48; the tarball's limit), MINIDL_TRANSFER_MAX_MIB
# (default 62: the working tree and the bundle folder together, which travel to the GPU
# machine in one copy of at most 64 MiB; prepare fails above it).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "gpu-check: error: $*" >&2; exit 1; }
info() { echo "gpu-check: $*"; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  prepare|verify) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

# The working tree and the bundle folder travel to the GPU machine in one copy (64 MiB at
# most there). check_transfer DIR: prints their sizes, fails above TRANSFER_MAX_MIB.
TRANSFER_MAX_MIB="${MINIDL_TRANSFER_MAX_MIB:-62}"
check_transfer() {
  local tree_kib bundle_kib
  tree_kib="$(cd "$ROOT" && git ls-files -z -co --exclude-standard 2>/dev/null | du -ck --files0-from=- 2>/dev/null | tail -n1 | cut -f1 || true)"
  bundle_kib="$(du -sk "$1" | cut -f1)"
  info "working tree ~${tree_kib:-0} KiB + bundle ${bundle_kib} KiB (they travel together: at most ${TRANSFER_MAX_MIB} MiB here, 64 MiB there)"
  (( ${tree_kib:-0} + bundle_kib <= TRANSFER_MAX_MIB * 1024 )) ||
    die "the working tree and the bundle come to $(( (${tree_kib:-0} + bundle_kib) / 1024 )) MiB, over ${TRANSFER_MAX_MIB} MiB: the device tool would refuse the copy (shrink the bundle, --no-data, or untracked files in the tree)"
}

# verify: run just before the device call, at no device time. The GPU machine's copy of
# the tree has no .git, so run.sh cannot tell a stale bundle there: this does, here.
if [[ "$cmd" == verify ]]; then
  BUNDLE_DIR="$ROOT/gpu-bundle"
  [[ "${1:-}" == --bundle-dir && $# -ge 2 ]] && BUNDLE_DIR="$2"
  [[ "${1:-}" == --bundle-dir=* ]] && BUNDLE_DIR="${1#*=}"
  [[ -f "$BUNDLE_DIR/manifest.txt" && -f "$BUNDLE_DIR/minidl-gpu.tar.xz" && -f "$BUNDLE_DIR/run.sh" ]] ||
    die "no prepared bundle in $BUNDLE_DIR (run: tools/gpu-check.sh prepare)"
  built="$(sed -n 's/^commit: \([0-9a-f]*\).*/\1/p' "$BUNDLE_DIR/manifest.txt")"
  head_now="$(git -C "$ROOT" rev-parse --short HEAD)"
  [[ "$built" == "$head_now" ]] ||
    die "the bundle was built at $built, the tree is at $head_now: run tools/gpu-check.sh prepare"
  if grep -q -- '--no-build' "$BUNDLE_DIR/manifest.txt"; then
    echo "gpu-check: WARNING: packed with --no-build: the binaries may be older than $built" >&2
  fi
  if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no)" ]]; then
    echo "gpu-check: WARNING: tracked files changed since $head_now; the bundle has the commit's code" >&2
  fi
  check_transfer "$BUNDLE_DIR"
  info "bundle of $built matches the tree"
  info "device command (carry: [\"${BUNDLE_DIR#"$ROOT"/}\"]): bash ${BUNDLE_DIR#"$ROOT"/}/run.sh"
  exit 0
fi

BUILD="$ROOT/build-gpu"
BUNDLE_DIR="$ROOT/gpu-bundle"
DO_BUILD=1
DATA_SRC="${MINIDL_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
JOBS="$(nproc 2>/dev/null || echo 2)"
EXTRA=()
[[ -n "${CMAKE_ARGS:-}" ]] && read -r -a EXTRA <<<"$CMAKE_ARGS"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build-dir) [[ $# -ge 2 ]] || die "--build-dir needs a value"; BUILD="$2"; shift 2 ;;
    --build-dir=*) BUILD="${1#*=}"; shift ;;
    --bundle-dir) [[ $# -ge 2 ]] || die "--bundle-dir needs a value"; BUNDLE_DIR="$2"; shift 2 ;;
    --bundle-dir=*) BUNDLE_DIR="${1#*=}"; shift ;;
    --no-build) DO_BUILD=0; shift ;;
    --data) [[ $# -ge 2 ]] || die "--data needs a value"; DATA_SRC="$2"; shift 2 ;;
    --data=*) DATA_SRC="${1#*=}"; shift ;;
    --no-data) DATA_SRC=""; shift ;;
    --jobs) [[ $# -ge 2 ]] || die "--jobs needs a value"; JOBS="$2"; shift 2 ;;
    --) shift; EXTRA+=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$BUILD" = /* ]] || BUILD="$PWD/$BUILD"
[[ "$BUNDLE_DIR" = /* ]] || BUNDLE_DIR="$PWD/$BUNDLE_DIR"
ARCHS="${CUDA_ARCHS:-90}"
MAX_MIB="${MINIDL_BUNDLE_MAX_MIB:-48}"
for t in cmake ninja ldd strip objdump tar xz; do
  command -v "$t" >/dev/null 2>&1 || die "'$t' is needed"
done

# ------------------------------------------------------------------ build
if (( DO_BUILD )); then
  cfg=(-S "$ROOT" -B "$BUILD" -G Ninja
       -DCMAKE_BUILD_TYPE=Release -DMINIDL_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$ARCHS"
       # bin/ -> ../lib as $ORIGIN-relative rpath, so the bundle's layout works anywhere
       -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON)
  if command -v ccache >/dev/null 2>&1; then
    cfg+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache
          -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  if ! command -v nvcc >/dev/null 2>&1 && [[ -x /usr/local/cuda/bin/nvcc ]]; then
    cfg+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
  fi
  info "configure: cmake ${cfg[*]} ${EXTRA[*]:-}"
  cmake "${cfg[@]}" ${EXTRA[@]+"${EXTRA[@]}"}
  info "build: cmake --build $BUILD -j $JOBS"
  cmake --build "$BUILD" -j "$JOBS"
fi
[[ -d "$BUILD/bin" ]] || die "no $BUILD/bin: did the build run?"

# ------------------------------------------------------------------ stage
TMP="$(mktemp -d "${TMPDIR:-/tmp}/minidl-gpu-prepare.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
STAGE="$TMP/minidl-gpu"
mkdir -p "$STAGE/bin" "$STAGE/lib/fallback"

is_elf() { [[ -f "$1" && "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" == '177ELF' ]]; }

SRC_BINS=()
for f in "$BUILD"/bin/minidl_test_* "$BUILD"/bin/minidl_bench_* "$BUILD"/bin/minidl-info "$BUILD"/bin/minidl-train \
         "$BUILD"/bin/minidl-svm-train "$BUILD"/bin/minidl-svm-predict; do
  [[ -x "$f" ]] && is_elf "$f" && SRC_BINS+=("$f")
done
ntest=0 nbench=0
for f in ${SRC_BINS[@]+"${SRC_BINS[@]}"}; do
  case "$(basename "$f")" in minidl_test_*) ntest=$((ntest + 1)) ;; minidl_bench_*) nbench=$((nbench + 1)) ;; esac
  cp -L "$f" "$STAGE/bin/"
done
(( ntest > 0 )) || die "no test executables $BUILD/bin/minidl_test_*"
[[ -x "$BUILD/bin/minidl-info" ]] || echo "gpu-check: WARNING: no $BUILD/bin/minidl-info" >&2
info "executables: $ntest tests, $nbench benchmarks$([[ -x "$BUILD/bin/minidl-info" ]] && echo ', minidl-info')$([[ -x "$BUILD/bin/minidl-train" ]] && echo ', minidl-train')"

SRC_LIBS=()
for f in "$BUILD"/lib/libminidl.so*; do
  [[ -e "$f" ]] || continue
  cp -a "$f" "$STAGE/lib/"   # keeps the .so -> .so.N -> .so.N.M links
  [[ -L "$f" ]] || SRC_LIBS+=("$f")
done
(( ${#SRC_LIBS[@]} )) || echo "gpu-check: WARNING: no $BUILD/lib/libminidl.so* (static build?)" >&2

# Dependencies, as ld.so resolves them for the build-tree copies.
is_glibc() { [[ "$1" =~ ^(libc|libm|libmvec|libpthread|libdl|librt|libresolv|libutil|libanl|libnsl|libBrokenLocale|libnss_[a-z]+)\.so || "$1" =~ ^(ld-linux|ld64|linux-vdso|linux-gate) ]]; }
is_cuda() { [[ "$1" =~ ^(libcuda|libcudart|libcublas[A-Za-z]*|libcudnn[A-Za-z_]*|libnv[A-Za-z_-]*|libcufft[a-z]*|libcurand|libcusparse[A-Za-z]*|libcusolver[A-Za-z]*|libnccl|libcupti|libnpp[a-z]*)\.so ]]; }
declare -A CUDA_NEEDS=()
unresolved=()
for f in ${SRC_BINS[@]+"${SRC_BINS[@]}"} ${SRC_LIBS[@]+"${SRC_LIBS[@]}"}; do
  while read -r name arrow path _; do
    [[ "$arrow" == "=>" ]] || continue
    if is_glibc "$name"; then continue; fi
    if is_cuda "$name"; then CUDA_NEEDS[$name]=1; continue; fi
    if [[ "$path" == not ]]; then unresolved+=("$name (needed by $(basename "$f"))"); continue; fi
    dest="$STAGE/lib"
    [[ "$name" =~ ^lib(stdc\+\+|gcc_s)\.so ]] && dest="$STAGE/lib/fallback"
    [[ -e "$dest/$name" ]] || cp -L "$path" "$dest/$name"
  done < <(ldd "$f")
done
if (( ${#unresolved[@]} )); then
  printf '  %s\n' "${unresolved[@]}" | sort -u >&2
  die "libraries above are not found by ldd here (not CUDA, not glibc): fix the build or LD_LIBRARY_PATH"
fi

# Strip (not the fallback runtime, which must stay intact).
for f in "$STAGE"/bin/* "$STAGE"/lib/*; do
  [[ -f "$f" && ! -L "$f" ]] && is_elf "$f" || continue
  chmod u+w "$f"
  strip --strip-unneeded "$f" 2>/dev/null || echo "gpu-check: WARNING: could not strip $(basename "$f")" >&2
done

# Versions the bundle needs from the GPU machine's system libraries.
maxver() { # maxver PREFIX: highest PREFIX_x.y.z among the staged binaries and libs
  for f in "$STAGE"/bin/* "$STAGE"/lib/*; do [[ -f "$f" && ! -L "$f" ]] && objdump -T "$f" 2>/dev/null; done |
    grep -oE "\b${1}_[0-9][0-9.]*[0-9]\b" | sed "s/^${1}_//" | sort -uV | tail -n1 || true
}
{
  echo "GLIBC=$(maxver GLIBC)"
  echo "GLIBCXX=$(maxver GLIBCXX)"
  echo "CXXABI=$(maxver CXXABI)"
  echo "GCC=$(maxver GCC)"
  echo "CUDA_LIBS=$(printf '%s\n' "${!CUDA_NEEDS[@]}" | sort | paste -sd, -)"
} >"$STAGE/needs.txt"

cp "$ROOT/tools/gpu-runner.sh" "$STAGE/gpu-runner.sh"
chmod +x "$STAGE/gpu-runner.sh"

git_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
git_dirty="$(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l | tr -d ' ')"
rpath="$(readelf -d "$STAGE/bin/$(basename "${SRC_BINS[0]}")" 2>/dev/null | grep -E 'R(UN)?PATH' | sed 's/.*Library \(r[a-z]*\): \[\(.*\)\]/\1=\2/' | head -n1 || true)"
{
  echo "commit: $git_rev ($git_dirty changed/untracked files)$( ((DO_BUILD)) || echo ' [--no-build: the build folder as it was, not rebuilt at this commit]')"
  echo "built: $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(uname -srm), $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}")"
  cxx="$(grep -E '^CMAKE_CXX_COMPILER:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || true)"
  echo "cxx: ${cxx:-?} ($("${cxx:-c++}" --version 2>/dev/null | head -n1 || echo '?'))"
  echo "nvcc: $(nvcc --version 2>/dev/null | grep -i release | sed 's/.*release //' || /usr/local/cuda/bin/nvcc --version 2>/dev/null | grep -i release | sed 's/.*release //' || echo '?')"
  echo "cuda archs: $(grep -E '^CMAKE_CUDA_ARCHITECTURES:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo "$ARCHS")"
  echo "build type: $(grep -E '^CMAKE_BUILD_TYPE:' "$BUILD/CMakeCache.txt" 2>/dev/null | cut -d= -f2 || echo '?')"
  echo "rpath: ${rpath:-none}"
  echo "needs: $(paste -sd' ' "$STAGE/needs.txt")"
  echo "bundled libs: $(cd "$STAGE/lib" && find . -maxdepth 1 ! -type d -printf '%f\n' | sort | paste -sd' ' -)"
  echo "fallback libs: $(ls "$STAGE/lib/fallback" | paste -sd' ' -)"
} >"$STAGE/manifest.txt"

# ------------------------------------------------------------------ pack
mkdir -p "$BUNDLE_DIR"
rm -f "$BUNDLE_DIR/minidl-gpu.tar.gz" "$BUNDLE_DIR/minidl-gpu.tar.xz" "$BUNDLE_DIR/run.sh" "$BUNDLE_DIR/manifest.txt"
rm -rf "$BUNDLE_DIR/fashion-mnist"
# Fashion-MNIST beside the tarball (its files are gzip already); the GPU machine has no copy.
if [[ -n "$DATA_SRC" ]]; then
  fm_files=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)
  for f in "${fm_files[@]}"; do
    [[ -f "$DATA_SRC/$f" ]] || die "no $DATA_SRC/$f (install dataset-fashion-mnist, pass --data DIR, or --no-data)"
  done
  mkdir -p "$BUNDLE_DIR/fashion-mnist"
  for f in "${fm_files[@]}"; do cp -L "$DATA_SRC/$f" "$BUNDLE_DIR/fashion-mnist/$f"; done
  info "data: Fashion-MNIST from $DATA_SRC -> $BUNDLE_DIR/fashion-mnist ($(du -sk "$BUNDLE_DIR/fashion-mnist" | cut -f1) KiB)"
fi
# xz, not gzip: the libraries shrink far more (oneDNN 39.6 MB -> 6.8 MB against gzip -9's
# 11.3 MB, OpenBLAS 36.6 -> 4.2 MB against 10.7 MB), which keeps the tree, the bundle and
# Fashion-MNIST within the one 64 MiB copy to the GPU machine.
TARBALL="$BUNDLE_DIR/minidl-gpu.tar.xz"
tar -C "$TMP" -cf - minidl-gpu | xz -9e -T0 >"$TARBALL"
size="$(stat -c %s "$TARBALL")"
raw="$(du -sb "$STAGE" | cut -f1)"
if (( size >= MAX_MIB << 20 )); then
  (cd "$STAGE" && find . -type f -printf '%s %p\n' | sort -rn | head -n 15) >&2
  die "bundle is $((size >> 20)) MiB (>= $MAX_MIB MiB); largest files above"
fi
sha="$(sha256sum "$TARBALL" | cut -d' ' -f1)"
cp "$STAGE/manifest.txt" "$BUNDLE_DIR/manifest.txt"

cat >"$BUNDLE_DIR/run.sh" <<EOF
#!/usr/bin/env bash
# minidl GPU check launcher, written by tools/gpu-check.sh prepare ($(date -u +%F)).
# Unpacks minidl-gpu.tar.xz into a temporary folder (tar with xz, else python3's tarfile)
# and runs its gpu-runner.sh.
# Results go to \$OUT (default ./gpu-out). Usage: [OUT=DIR] bash gpu-bundle/run.sh
set -euo pipefail
here="\$(cd "\$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
tarball="\$here/minidl-gpu.tar.xz"
[[ -f "\$tarball" ]] || { echo "run.sh: missing \$tarball" >&2; exit 2; }
# A bundle of another commit tests other code: say so loudly (the runner goes on).
built_at="$git_rev"
head_now="\$(git -C "\$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "\$head_now" != unknown && "\$head_now" != "\$built_at" ]]; then
  echo "run.sh: WARNING: the bundle was built at \$built_at, the tree is at \$head_now: re-run tools/gpu-check.sh prepare" >&2
fi
if command -v sha256sum >/dev/null 2>&1; then
  echo "$sha  \$tarball" | sha256sum -c --status - || { echo "run.sh: \$tarball does not match the prepared bundle (stale or truncated?)" >&2; exit 2; }
fi
export OUT="\${OUT:-\$PWD/gpu-out}"
mkdir -p "\$OUT"
export MINIDL_REPO_ROOT="\${MINIDL_REPO_ROOT:-\$(cd "\$here/.." && pwd)}"
if [[ -z "\${MINIDL_FASHION_MNIST_DIR:-}" && -d "\$here/fashion-mnist" ]]; then
  export MINIDL_FASHION_MNIST_DIR="\$here/fashion-mnist"
fi
work="\$(mktemp -d "\${TMPDIR:-/tmp}/minidl-gpu.XXXXXX" 2>/dev/null || mktemp -d "\$PWD/.minidl-gpu.XXXXXX")"
trap 'rm -rf "\$work"' EXIT
if command -v xz >/dev/null 2>&1; then
  tar -xJf "\$tarball" -C "\$work"
elif command -v python3 >/dev/null 2>&1; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' "\$tarball" "\$work"
else
  echo "run.sh: neither xz nor python3 here to unpack \$tarball" >&2; exit 2
fi
rc=0
bash "\$work/minidl-gpu/gpu-runner.sh" "\$work/minidl-gpu" || rc=\$?
exit "\$rc"
EOF
chmod +x "$BUNDLE_DIR/run.sh"

# ------------------------------------------------------------------ git-ignore
ensure_ignored() { # ensure_ignored ABS_DIR
  local rel
  case "$1/" in "$ROOT"/*) rel="${1#"$ROOT"/}" ;; *) return 0 ;; esac
  [[ -n "$rel" ]] || return 0
  if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$ROOT" check-ignore -q "$rel/" 2>/dev/null && return 0
  elif [[ -f "$ROOT/.gitignore" ]] && grep -qxF "/$rel/" "$ROOT/.gitignore"; then
    return 0
  fi
  [[ -s "$ROOT/.gitignore" && -n "$(tail -c1 "$ROOT/.gitignore")" ]] && echo >>"$ROOT/.gitignore"
  echo "/$rel/" >>"$ROOT/.gitignore"
  info "added /$rel/ to .gitignore"
}
ensure_ignored "$BUILD"
ensure_ignored "$BUNDLE_DIR"

# ------------------------------------------------------------------ report
rel_bundle="${BUNDLE_DIR#"$ROOT"/}"
echo
info "bundle: $TARBALL, $((size / 1024)) KiB ($((raw / 1024)) KiB unpacked)"
info "needs on the GPU machine: $(paste -sd' ' "$STAGE/needs.txt")"
check_transfer "$BUNDLE_DIR"
echo
echo "Device command (carry: [\"$rel_bundle\"]):"
echo "    bash $rel_bundle/run.sh"
echo "Just before it (no device time): tools/gpu-check.sh verify"
echo "Try it here first (CUDA cases skip):"
echo "    OUT=/tmp/gpu-out bash $rel_bundle/run.sh"
