#pragma once
// Reading an OCI image layout tar (index.json -> manifest -> config + layers), shared by the
// containerd driver (which uploads the blobs) and the process runtime (which unpacks them).
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/util/outcome.h"

namespace omni::drivers {

struct OciDescriptor {
  std::string media_type;
  std::string digest;  // sha256:HEX
  std::int64_t size = 0;
};

struct OciImage {
  std::string dir;  // where the layout was unpacked; blobs are under dir/blobs/sha256/
  std::string ref_name;
  OciDescriptor manifest;
  OciDescriptor config;
  std::vector<OciDescriptor> layers;
  std::vector<std::string> diff_ids;  // from the config: digests of the uncompressed layers
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::string working_dir;
  std::string blob_path(const std::string& digest) const;
};

// Unpacks `tar_path` into `dir` (which must exist) and reads its first manifest.
Outcome<OciImage> read_oci_layout(const std::string& tar_path, const std::string& dir);

// Reads entrypoint, cmd, env, working_dir and diff_ids from an image config JSON.
DriverResult parse_image_config(const std::string& json, OciImage& image);

// "sha256:HEX" of `bytes`.
std::string sha256_digest(const std::string& bytes);
// The chain IDs of a layer stack (OCI image spec): chain[0] = diff[0],
// chain[i] = sha256(chain[i-1] + " " + diff[i]).
std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids);

std::string json_escape(const std::string& text);
std::string read_whole_file(const std::string& path, bool& ok);

}  // namespace omni::drivers
