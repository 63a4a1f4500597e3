#include "drivers/util/cpio.h"

#include <sys/stat.h>

#include <cstdio>

namespace omni::drivers {
namespace {

void pad_to_four(std::string& out) {
  while (out.size() % 4 != 0) out += '\0';
}

void append_entry(std::string& out, unsigned inode, unsigned mode, const std::string& name,
                  const std::string& content) {
  const unsigned fields[] = {inode,
                             mode,
                             0,  // uid
                             0,  // gid
                             (mode & S_IFDIR) != 0 ? 2u : 1u,
                             0,  // mtime
                             static_cast<unsigned>(content.size()),
                             0,
                             0,
                             0,
                             0,
                             static_cast<unsigned>(name.size() + 1),
                             0};  // check: unused by newc
  out += "070701";
  char hex[9];
  for (const unsigned field : fields) {
    std::snprintf(hex, sizeof hex, "%08X", field);
    out += hex;
  }
  out += name;
  out += '\0';
  pad_to_four(out);
  out += content;
  pad_to_four(out);
}

}  // namespace

std::string newc_archive(const std::vector<ArchiveFile>& files) {
  std::string out;
  unsigned inode = 1;
  for (const auto& file : files) {
    const unsigned type = file.directory ? S_IFDIR : S_IFREG;
    append_entry(out, inode++, type | (file.mode & 07777), file.path,
                 file.directory ? std::string() : file.content);
  }
  append_entry(out, 0, 0, "TRAILER!!!", {});
  return out;
}

}  // namespace omni::drivers
