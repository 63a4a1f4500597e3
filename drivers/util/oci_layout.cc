#include "drivers/util/oci_layout.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/sha.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "drivers/util/subprocess.h"

namespace omni::drivers {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

bool parse_json(const std::string& json, Struct& out) {
  return google::protobuf::util::JsonStringToMessage(json, &out).ok();
}

const Value* field(const Struct& object, const std::string& key) {
  auto it = object.fields().find(key);
  return it == object.fields().end() ? nullptr : &it->second;
}

std::string string_field(const Struct& object, const std::string& key) {
  const Value* v = field(object, key);
  return v != nullptr && v->has_string_value() ? v->string_value() : "";
}

std::vector<std::string> strings_field(const Struct& object, const std::string& key) {
  std::vector<std::string> out;
  const Value* v = field(object, key);
  if (v == nullptr || !v->has_list_value()) return out;
  for (const auto& item : v->list_value().values()) {
    if (item.has_string_value()) out.push_back(item.string_value());
  }
  return out;
}

bool descriptor_of(const Value& value, OciDescriptor& out) {
  if (!value.has_struct_value()) return false;
  const Struct& object = value.struct_value();
  out.media_type = string_field(object, "mediaType");
  out.digest = string_field(object, "digest");
  const Value* size = field(object, "size");
  out.size = size != nullptr ? static_cast<std::int64_t>(size->number_value()) : 0;
  return out.digest.rfind("sha256:", 0) == 0;
}

DriverResult bad_layout(const std::string& tar_path, const std::string& why) {
  return error_result(DriverStatus::failed, "OCI image " + tar_path + ": " + why);
}

DriverResult read_manifest(const std::string& tar_path, OciImage& image) {
  bool ok = false;
  std::string text = read_whole_file(image.blob_path(image.manifest.digest), ok);
  Struct manifest;
  if (!ok || !parse_json(text, manifest)) return bad_layout(tar_path, "manifest unreadable");
  const Value* config = field(manifest, "config");
  if (config == nullptr || !descriptor_of(*config, image.config)) {
    return bad_layout(tar_path, "manifest has no config");
  }
  const Value* layers = field(manifest, "layers");
  if (layers == nullptr || !layers->has_list_value()) {
    return bad_layout(tar_path, "manifest has no layers");
  }
  for (const auto& layer : layers->list_value().values()) {
    OciDescriptor descriptor;
    if (!descriptor_of(layer, descriptor)) return bad_layout(tar_path, "bad layer descriptor");
    image.layers.push_back(descriptor);
  }
  return ok_result();
}

}  // namespace

std::string OciImage::blob_path(const std::string& digest) const {
  auto colon = digest.find(':');
  return dir + "/blobs/" + digest.substr(0, colon) + "/" + digest.substr(colon + 1);
}

std::string read_whole_file(const std::string& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string sha256_digest(const std::string& bytes) {
  unsigned char hash[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), hash);
  std::string out = "sha256:";
  char hex[3];
  for (unsigned char b : hash) {
    std::snprintf(hex, sizeof hex, "%02x", b);
    out += hex;
  }
  return out;
}

std::vector<std::string> chain_ids(const std::vector<std::string>& diff_ids) {
  std::vector<std::string> chain;
  for (const auto& diff_id : diff_ids) {
    chain.push_back(chain.empty() ? diff_id : sha256_digest(chain.back() + " " + diff_id));
  }
  return chain;
}

// protobuf's JSON string quoting without the surrounding quotes, for building JSON by hand.
std::string json_escape(const std::string& text) {
  google::protobuf::Value value;
  value.set_string_value(text);
  std::string quoted;
  if (!google::protobuf::util::MessageToJsonString(value, &quoted).ok() || quoted.size() < 2)
    return {};
  return quoted.substr(1, quoted.size() - 2);
}

DriverResult parse_image_config(const std::string& json, OciImage& image) {
  Struct config;
  if (!parse_json(json, config))
    return error_result(DriverStatus::failed, "image config is not JSON");
  const Value* process = field(config, "config");
  if (process != nullptr && process->has_struct_value()) {
    image.entrypoint = strings_field(process->struct_value(), "Entrypoint");
    image.cmd = strings_field(process->struct_value(), "Cmd");
    image.env = strings_field(process->struct_value(), "Env");
    image.working_dir = string_field(process->struct_value(), "WorkingDir");
  }
  const Value* rootfs = field(config, "rootfs");
  if (rootfs != nullptr && rootfs->has_struct_value()) {
    image.diff_ids = strings_field(rootfs->struct_value(), "diff_ids");
  }
  return ok_result();
}

Outcome<OciImage> read_oci_layout(const std::string& tar_path, const std::string& dir) {
  auto untar = run_command({"tar", "-xf", tar_path, "-C", dir}, std::chrono::minutes(5));
  if (!untar.ok()) {
    return failure<OciImage>(DriverStatus::not_found,
                             "cannot read OCI image " + tar_path + ": " + untar.output);
  }
  OciImage image;
  image.dir = dir;
  bool ok = false;
  Struct index;
  if (!parse_json(read_whole_file(dir + "/index.json", ok), index) || !ok) {
    return failure<OciImage>(bad_layout(tar_path, "no readable index.json (not an OCI layout)"));
  }
  const Value* manifests = field(index, "manifests");
  if (manifests == nullptr || !manifests->has_list_value() ||
      manifests->list_value().values().empty() ||
      !descriptor_of(manifests->list_value().values(0), image.manifest)) {
    return failure<OciImage>(bad_layout(tar_path, "index.json lists no manifest"));
  }
  const Value& first = manifests->list_value().values(0);
  const Value* annotations = field(first.struct_value(), "annotations");
  if (annotations != nullptr && annotations->has_struct_value()) {
    image.ref_name = string_field(annotations->struct_value(), "org.opencontainers.image.ref.name");
  }
  if (auto read = read_manifest(tar_path, image); !is_ok(read)) return failure<OciImage>(read);
  std::string config = read_whole_file(image.blob_path(image.config.digest), ok);
  if (!ok) return failure<OciImage>(bad_layout(tar_path, "config blob missing"));
  if (auto parsed = parse_image_config(config, image); !is_ok(parsed)) {
    return failure<OciImage>(bad_layout(tar_path, parsed.message));
  }
  if (image.diff_ids.size() != image.layers.size()) {
    return failure<OciImage>(bad_layout(tar_path, "config diff_ids do not match the layers"));
  }
  return success(std::move(image));
}

}  // namespace omni::drivers
