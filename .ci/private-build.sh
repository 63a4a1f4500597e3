# shellcheck shell=bash
# Sourced by bench/compare-builds.sh and tests/mutation/shrink: a private copy of a commit, and a
# plain Release build of some targets (no sanitizers, warnings not fatal, ccache).

# private_copy REPO DIR REV: DIR holds REV's files as committed. A `git clone --shared`: it reads
# REPO's objects and changes nothing in REPO; a second call reuses DIR.
private_copy() {
  [[ -d $2/.git ]] || git clone --quiet --shared --no-checkout "$1" "$2"
  git -C "$2" checkout --quiet --force --detach "$3"
  git -C "$2" clean -fdq
}

# release_build SOURCE BUILD LOGS TARGET...: configures and builds under nice; fails with the
# logs in LOGS.configure.log and LOGS.build.log. OMNI_BUILD_JOBS: parallel jobs (default 2).
release_build() {
  local src=$1 build=$2 logs=$3
  shift 3
  nice -n 10 cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DOMNI_SANITIZE=OFF \
    -DOMNI_WERROR=OFF -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache \
    >"$logs.configure.log" 2>&1 &&
    nice -n 10 cmake --build "$build" -j "${OMNI_BUILD_JOBS:-2}" --target "$@" \
      >"$logs.build.log" 2>&1
}
