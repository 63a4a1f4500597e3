#!/bin/sh
# Builds Omni's OCI image: omni-node plus every shared library it loads (ldd), as one
# uncompressed layer, written as an OCI image layout tar that `ctr images import` and Omni's
# containerd driver both import. Reproducible: fixed mtimes, owners and file order.
# usage: build_omni_image.sh OMNI_NODE_BINARY OUTPUT_TAR [REF_NAME]
set -eu
binary=$1
output=$2
ref=${3:-omni/omni-node:dev}
work=$(mktemp -d "${TMPDIR:-/tmp}/omni-image.XXXXXX")
trap 'rm -rf "$work"' EXIT

root=$work/rootfs
mkdir -p "$root/usr/local/bin" "$root/tmp" "$root/etc"
cp "$binary" "$root/usr/local/bin/omni-node"
# Every library the dynamic loader resolves, plus the loader itself, at its own path.
ldd "$binary" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
echo "root:x:0:0:root:/:/usr/local/bin/omni-node" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"

tar_flags="--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner"
# shellcheck disable=SC2086
tar $tar_flags -C "$root" -cf "$work/layer.tar" .
layout=$work/layout
mkdir -p "$layout/blobs/sha256"
sha() { sha256sum "$1" | cut -d' ' -f1; }
size() { stat -c %s "$1"; }

layer_digest=$(sha "$work/layer.tar")
cp "$work/layer.tar" "$layout/blobs/sha256/$layer_digest"

printf '%s' '{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/usr/local/bin/omni-node"],"Cmd":["version"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:'"$layer_digest"'"]},"history":[{"created_by":"drivers/image/build_omni_image.sh"}]}' > "$work/config.json"
config_digest=$(sha "$work/config.json")
cp "$work/config.json" "$layout/blobs/sha256/$config_digest"

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:'"$config_digest"'","size":'"$(size "$work/config.json")"'},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:'"$layer_digest"'","size":'"$(size "$work/layer.tar")"'}]}' > "$work/manifest.json"
manifest_digest=$(sha "$work/manifest.json")
cp "$work/manifest.json" "$layout/blobs/sha256/$manifest_digest"

printf '%s' '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:'"$manifest_digest"'","size":'"$(size "$work/manifest.json")"',"annotations":{"io.containerd.image.name":"'"$ref"'","org.opencontainers.image.ref.name":"'"$ref"'"},"platform":{"architecture":"amd64","os":"linux"}}]}' > "$layout/index.json"
printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$layout/oci-layout"

# shellcheck disable=SC2086
tar $tar_flags -C "$layout" -cf "$output.tmp" oci-layout index.json blobs
mv "$output.tmp" "$output"
