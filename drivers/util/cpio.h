#pragma once
// The newc cpio format, which the Linux kernel unpacks as an initramfs. Archives concatenated
// to an initramfs are unpacked over it in order, so appending one with a VM's own files (its key
// and certificates) to a shared initramfs gives that VM its files without rebuilding the image.
#include <string>
#include <vector>

namespace omni::drivers {

struct ArchiveFile {
  std::string path;     // relative, '/'-separated: "etc/omni/ca.crt"
  std::string content;  // empty for a directory
  unsigned mode = 0600;
  bool directory = false;
};

// A newc archive of `files` (parents are not added: list them first as directories), ending with
// the trailer. Owner root, mtime 0: the same files give the same bytes.
std::string newc_archive(const std::vector<ArchiveFile>& files);

}  // namespace omni::drivers
