#!/bin/sh
# Builds the initramfs of Omni's smallest VM: busybox (static) for a shell and poweroff,
# omni-node with every shared library it loads (ldd), and an /init that mounts the kernel's
# file systems, has omni-node report the machine on the serial console, and powers off.
# The TCG boot test (tests/drivers/tcg_boot_test.cc) boots it under libvirt + QEMU.
# Reproducible: fixed mtimes, owners and file order.
# usage: build_initramfs.sh OMNI_NODE_BINARY OUTPUT_CPIO_GZ
set -eu
binary=$1
output=$2
busybox=${BUSYBOX:-/bin/busybox}

for tool in cpio gzip ldd; do
  command -v "$tool" >/dev/null || { echo "build_initramfs.sh: $tool is not installed" >&2; exit 1; }
done
# A dynamic busybox would need its own libraries; Debian's busybox-static is one file.
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "build_initramfs.sh: $busybox is not a static busybox (apt install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/omni-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/usr/local/bin" "$root/proc" "$root/sys" "$root/dev" \
  "$root/tmp" "$root/etc"
cp "$busybox" "$root/bin/busybox"
for applet in sh mount poweroff cat echo sleep; do ln -s busybox "$root/bin/$applet"; done
cp "$binary" "$root/usr/local/bin/omni-node"
ldd "$binary" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

# The report goes to ttyS0, the serial port libvirt writes to a file on the host. ASan (in
# test builds of omni-node) must not look for a symbolizer that is not there.
cat > "$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export ASAN_OPTIONS=symbolize=0:detect_leaks=0
/usr/local/bin/omni-node report > /dev/ttyS0 2>&1 || echo "omni-node report failed: $?" > /dev/ttyS0
echo "omni-initramfs: powering off" > /dev/ttyS0
poweroff -f
EOF
chmod 755 "$root/init"

find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -n -9 > "$output.tmp"
mv "$output.tmp" "$output"
