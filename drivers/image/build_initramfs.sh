#!/bin/sh
# Builds the initramfs of Omni's VMs: busybox (static) for a shell, ip and poweroff; omni-node
# with every shared library it loads (ldd); the kernel modules a VM's virtio NIC needs; Omni's
# OCI image, which an Agent's process runtime unpacks for its containers; and an /init that
# reads what the VM is from the kernel command line:
#
#   omni.role=director|agent   run `omni-node ROLE --config omni.config=FILE`, with the NIC at
#   omni.address=A.B.C.D/N     this address and omni.gateway=A.B.C.1, as VM omni.vm=NAME
#                              (its hostname), logging to the serial console; started again
#                              a second after it ends
#   (no omni.role)             `omni-node report` on the serial console, then power off: what
#                              the TCG boot test (tests/drivers/tcg_boot_test.cc) checks
#
# The VM's own files (its key, certificates and node configs) are appended to a copy of this
# image under /etc/omni/ when the VM is made (drivers/util/cpio.h).
# Reproducible: fixed mtimes, owners and file order.
# usage: build_initramfs.sh OMNI_NODE_BINARY OUTPUT_CPIO_GZ [OMNI_IMAGE_TAR]
#   KERNEL_MODULES=/lib/modules/VERSION (default: the newest there) must match the kernel the
#   VMs boot; without it the VMs have no network (the report still works).
set -eu
binary=$1
output=$2
image_tar=${3:-}
busybox=${BUSYBOX:-/bin/busybox}

for tool in cpio gzip ldd; do
  command -v "$tool" >/dev/null || { echo "build_initramfs.sh: $tool is not installed" >&2; exit 1; }
done
# A dynamic busybox would need its own libraries; Debian's busybox-static is one file.
if ! [ -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "build_initramfs.sh: $busybox is not a static busybox (apt install busybox-static)" >&2
  exit 1
fi
if [ -z "${KERNEL_MODULES:-}" ] && [ -d /lib/modules ]; then
  KERNEL_MODULES=$(find /lib/modules -mindepth 1 -maxdepth 1 -type d | LC_ALL=C sort | tail -n 1)
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/omni-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/sbin" "$root/usr/local/bin" "$root/usr/lib/omni" "$root/proc" \
  "$root/sys" "$root/dev" "$root/tmp" "$root/etc/omni" "$root/root" "$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
for applet in sh mount poweroff cat echo sleep ip modprobe hostname uname tar gzip gunzip; do
  ln -s busybox "$root/bin/$applet"
done
cp "$binary" "$root/usr/local/bin/omni-node"
ldd "$binary" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[ -z "$image_tar" ] || cp "$image_tar" "$root/usr/lib/omni/omni-image.tar"

# The virtio NIC's modules and what they depend on, where busybox's modprobe finds them.
if [ -n "${KERNEL_MODULES:-}" ] && [ -f "$KERNEL_MODULES/modules.dep" ]; then
  modules=$root/lib/modules/$(basename "$KERNEL_MODULES")
  mkdir -p "$modules"
  for module in virtio_pci virtio_net; do
    grep "/$module\.ko:" "$KERNEL_MODULES/modules.dep"
  done | tr -d ':' | tr ' ' '\n' | grep . | LC_ALL=C sort -u | while read -r file; do
    mkdir -p "$modules/$(dirname "$file")"
    cp "$KERNEL_MODULES/$file" "$modules/$file"
    grep "^$file:" "$KERNEL_MODULES/modules.dep" >> "$modules/modules.dep"
  done
fi

# Everything goes to ttyS0, the serial port libvirt writes to a file on the host. ASan (in
# test builds of omni-node) must not look for a symbolizer that is not there.
cat > "$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
export ASAN_OPTIONS=symbolize=0:detect_leaks=0 HOME=/root PATH=/usr/local/bin:/bin
say() { echo "omni-initramfs: $*" > /dev/ttyS0; }
arg() {
  for word in $(cat /proc/cmdline); do
    case "$word" in "$1="*) echo "${word#*=}" ;; esac
  done
}
role=$(arg omni.role)
if [ -z "$role" ]; then
  omni-node report > /dev/ttyS0 2>&1 || say "omni-node report failed: $?"
  say "powering off"
  poweroff -f
fi
modprobe -a virtio_pci virtio_net 2> /dev/ttyS0 || say "no virtio modules for $(uname -r)"
mount -t tmpfs -o size=50% tmpfs /tmp
ip link set lo up
address=$(arg omni.address)
gateway=$(arg omni.gateway)
if [ -n "$address" ]; then
  ip link set eth0 up && ip addr add "$address" dev eth0 || say "cannot give eth0 $address"
  [ -z "$gateway" ] || ip route add default via "$gateway" || say "no route via $gateway"
fi
# What a local sandbox's init is told too: the containers an Agent starts find their configs
# among the VM's files, and know which VM they run in.
export OMNI_VM_NAME="$(arg omni.vm)" OMNI_VM_FILES=/etc/omni
[ -z "$OMNI_VM_NAME" ] || hostname "$OMNI_VM_NAME"
say "omni-node $role at ${address:-no address}"
# The VM's supervisor, as the local provider's is a sandbox's: the component is started again a
# second after it ends, and finds its state (in this VM's memory) where it left it.
while :; do
  omni-node "$role" --config "$(arg omni.config)" > /dev/ttyS0 2>&1
  say "omni-node $role ended ($?); starting it again in 1 s"
  sleep 1
done
EOF
chmod 755 "$root/init"

find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) | gzip -n -6 > "$output.tmp"
mv "$output.tmp" "$output"
