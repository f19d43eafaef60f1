#!/usr/bin/env bash
# Installs what netabase needs to build and test on Debian 12. Safe to run again:
# it asks apt only for the packages that are missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  g++-12 clang-16
  clang-14  # Debian 12's default clang++: the compile_fail.clang14 tests check it is refused in one line
  libclang-rt-16-dev  # libFuzzer and the sanitizer runtimes for clang (only a Recommends of clang-16)
  liblmdb-dev lmdb-utils
  nlohmann-json3-dev  # netabase::json (json.hpp) and the netabase tool
  libboost1.81-dev # Boost.PFR; the default libboost-dev (1.74) has none
  catch2
  libbenchmark-dev libsqlite3-dev liblmdb++-dev  # netabase_bench (scripts/bench.sh, the bench preset)
  libfuse3-dev fuse3  # tests/durability/lossy_fs (FUSE, fusermount3): the [durability] power-cut tests
  librocksdb-dev  # netabase_ycsb's RocksDB engine (7.8.3; the bench preset requires it)
  # netabase::etcd (NETABASE_ETCD, on in the clang preset): gRPC++ and protobuf with their code
  # generators for src/etcd/proto/, and etcd 3.4 itself, which tests/etcd starts as local clusters
  # (etcdctl only for looking at one by hand)
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev etcd-server etcd-client
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "setup: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
