// ContainerdDriver: importing OCI images (content, images, diff, snapshots, leases services).
#include <filesystem>
#include <fstream>

#include "drivers/container/containerd_api.h"
#include "drivers/container/containerd_driver.h"

namespace omni::drivers {
namespace {

constexpr std::size_t k_chunk_bytes = 256 << 10;

cd::types::Descriptor to_proto(const OciDescriptor& d) {
  cd::types::Descriptor out;
  out.set_media_type(d.media_type);
  out.set_digest(d.digest);
  out.set_size(d.size);
  return out;
}

// A temp dir removed on every path out of import_image.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    std::string pattern = std::filesystem::temp_directory_path().string() + "/omni-import-XXXXXX";
    if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

Outcome<std::string> ContainerdDriver::create_lease(const std::string& purpose) {
  cd::leases::CreateRequest request;
  request.set_id("omni-" + purpose + "-" + std::to_string(::getpid()) + "-" +
                 std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  cd::leases::CreateResponse response;
  auto ctx = context();
  auto status = cd::leases::Leases::NewStub(channel_)->Create(ctx.get(), request, &response);
  if (!status.ok()) return failure<std::string>(error_of(status, "cannot create a lease"));
  return success(response.lease().id());
}

void ContainerdDriver::delete_lease(const std::string& lease) {
  cd::leases::DeleteRequest request;
  request.set_id(lease);
  google::protobuf::Empty empty;
  auto ctx = context();
  cd::leases::Leases::NewStub(channel_)->Delete(ctx.get(), request, &empty);
}

DriverResult ContainerdDriver::write_blob(const OciImage& image, const OciDescriptor& blob,
                                          const std::map<std::string, std::string>& labels,
                                          const std::string& lease) {
  auto content = cd::content::Content::NewStub(channel_);
  {
    cd::content::InfoRequest request;
    request.set_digest(blob.digest);
    cd::content::InfoResponse response;
    auto ctx = context(lease);
    if (content->Info(ctx.get(), request, &response).ok()) return ok_result();  // already there
  }
  std::ifstream in(image.blob_path(blob.digest), std::ios::binary);
  if (!in) return error_result(DriverStatus::failed, "blob " + blob.digest + " missing in image");
  std::string ref = "omni-" + blob.digest;
  auto ctx = context(lease);
  auto stream = content->Write(ctx.get());
  cd::content::WriteContentResponse response;
  // As containerd's own client does: STAT opens the ingest, then WRITE chunks, then COMMIT;
  // every request gets one response.
  cd::content::WriteContentRequest stat;
  stat.set_action(cd::content::STAT);
  stat.set_ref(ref);
  stat.set_total(blob.size);
  stat.set_expected(blob.digest);
  bool healthy = stream->Write(stat) && stream->Read(&response);
  std::int64_t offset = healthy ? response.offset() : 0;
  if (healthy && offset > 0) in.seekg(offset);
  std::string chunk(k_chunk_bytes, '\0');
  while (healthy) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    auto got = static_cast<std::int64_t>(in.gcount());
    bool last = offset + got >= blob.size || got == 0;
    cd::content::WriteContentRequest request;
    request.set_action(last ? cd::content::COMMIT : cd::content::WRITE);
    request.set_ref(ref);
    request.set_total(blob.size);
    request.set_expected(blob.digest);
    request.set_offset(offset);
    request.set_data(chunk.data(), static_cast<std::size_t>(got));
    if (last) request.mutable_labels()->insert(labels.begin(), labels.end());
    healthy = stream->Write(request) && stream->Read(&response);
    offset += got;
    if (last) break;
  }
  stream->WritesDone();
  // Drain what the server may still send, so Finish can see its status.
  while (stream->Read(&response)) {
  }
  auto status = stream->Finish();
  if (!status.ok() && status.error_code() != grpc::StatusCode::ALREADY_EXISTS) {
    return error_of(status, "cannot write blob " + blob.digest);
  }
  if (status.ok() && !healthy) {
    return error_result(DriverStatus::failed, "writing blob " + blob.digest + " ended early");
  }
  return ok_result();
}

DriverResult ContainerdDriver::unpack(const OciImage& image, const std::string& lease) {
  auto snapshots = cd::snapshots::Snapshots::NewStub(channel_);
  auto differ = cd::diff::Diff::NewStub(channel_);
  auto chain = chain_ids(image.diff_ids);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    cd::snapshots::StatSnapshotRequest stat;
    stat.set_snapshotter(options_.snapshotter);
    stat.set_key(chain[i]);
    cd::snapshots::StatSnapshotResponse stat_response;
    if (snapshots->Stat(context(lease).get(), stat, &stat_response).ok()) continue;

    std::string key = "omni-extract-" + chain[i];
    cd::snapshots::PrepareSnapshotRequest prepare;
    prepare.set_snapshotter(options_.snapshotter);
    prepare.set_key(key);
    if (i > 0) prepare.set_parent(chain[i - 1]);
    cd::snapshots::PrepareSnapshotResponse prepared;
    auto status = snapshots->Prepare(context(lease).get(), prepare, &prepared);
    if (!status.ok()) return error_of(status, "cannot prepare snapshot for layer " + chain[i]);

    cd::diff::ApplyRequest apply;
    *apply.mutable_diff() = to_proto(image.layers[i]);
    *apply.mutable_mounts() = prepared.mounts();
    cd::diff::ApplyResponse applied;
    status = differ->Apply(context(lease).get(), apply, &applied);
    if (status.ok()) {
      cd::snapshots::CommitSnapshotRequest commit;
      commit.set_snapshotter(options_.snapshotter);
      commit.set_name(chain[i]);
      commit.set_key(key);
      google::protobuf::Empty empty;
      status = snapshots->Commit(context(lease).get(), commit, &empty);
    }
    if (!status.ok()) {
      remove_snapshot(key);
      return error_of(status, "cannot unpack layer " + image.layers[i].digest);
    }
  }
  return ok_result();
}

DriverResult ContainerdDriver::put_image(const std::string& name, const OciDescriptor& target) {
  auto images = cd::images::Images::NewStub(channel_);
  cd::images::Image image;
  image.set_name(name);
  *image.mutable_target() = to_proto(target);
  cd::images::CreateImageRequest create;
  *create.mutable_image() = image;
  cd::images::CreateImageResponse created;
  auto status = images->Create(context().get(), create, &created);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    cd::images::UpdateImageRequest update;
    *update.mutable_image() = image;
    cd::images::UpdateImageResponse updated;
    status = images->Update(context().get(), update, &updated);
  }
  return status.ok() ? ok_result() : error_of(status, "cannot record image " + name);
}

DriverResult ContainerdDriver::import_image(const std::string& image, const std::string& tar) {
  if (image.empty()) return error_result(DriverStatus::failed, "an image needs a name");
  ScratchDir scratch;
  if (scratch.path.empty()) return error_result(DriverStatus::failed, "cannot make a temp dir");
  auto layout = read_oci_layout(tar, scratch.path);
  if (!layout.ok()) return layout.result;
  const OciImage& oci = layout.value;
  auto lease = create_lease("import");
  if (!lease.ok()) return lease.result;
  auto chain = chain_ids(oci.diff_ids);
  std::map<std::string, std::string> manifest_labels = {
      {"containerd.io/gc.ref.content.config", oci.config.digest}};
  for (std::size_t i = 0; i < oci.layers.size(); ++i) {
    manifest_labels["containerd.io/gc.ref.content.l." + std::to_string(i)] = oci.layers[i].digest;
  }
  std::map<std::string, std::string> config_labels;
  if (!chain.empty()) {
    config_labels["containerd.io/gc.ref.snapshot." + options_.snapshotter] = chain.back();
  }
  DriverResult result = ok_result();
  for (const auto& layer : oci.layers) {
    if (is_ok(result)) result = write_blob(oci, layer, {}, lease.value);
  }
  if (is_ok(result)) result = write_blob(oci, oci.config, config_labels, lease.value);
  if (is_ok(result)) result = write_blob(oci, oci.manifest, manifest_labels, lease.value);
  if (is_ok(result)) result = unpack(oci, lease.value);
  if (is_ok(result)) result = put_image(image, oci.manifest);
  delete_lease(lease.value);
  if (!is_ok(result)) result.message = "importing " + tar + " as " + image + ": " + result.message;
  return result;
}

Outcome<std::vector<std::string>> ContainerdDriver::list_images() {
  cd::images::ListImagesRequest request;
  cd::images::ListImagesResponse response;
  auto status = cd::images::Images::NewStub(channel_)->List(context().get(), request, &response);
  if (!status.ok())
    return failure<std::vector<std::string>>(error_of(status, "cannot list images"));
  std::vector<std::string> names;
  for (const auto& image : response.images()) names.push_back(image.name());
  std::sort(names.begin(), names.end());
  return success(std::move(names));
}

Outcome<std::string> ContainerdDriver::read_blob(const std::string& digest) {
  cd::content::ReadContentRequest request;
  request.set_digest(digest);
  auto ctx = context();
  auto reader = cd::content::Content::NewStub(channel_)->Read(ctx.get(), request);
  std::string bytes;
  cd::content::ReadContentResponse chunk;
  while (reader->Read(&chunk) && bytes.size() < (64u << 20)) bytes += chunk.data();
  auto status = reader->Finish();
  if (!status.ok()) return failure<std::string>(error_of(status, "cannot read blob " + digest));
  return success(std::move(bytes));
}

// The image's process defaults and layer chain, from its manifest and config in containerd.
Outcome<OciImage> ContainerdDriver::image_config(const std::string& name) {
  cd::images::GetImageRequest request;
  request.set_name(name);
  cd::images::GetImageResponse response;
  auto status = cd::images::Images::NewStub(channel_)->Get(context().get(), request, &response);
  if (!status.ok()) {
    auto error = error_of(status, "image " + name);
    if (error.status == DriverStatus::not_found) error.message += " (never imported?)";
    return failure<OciImage>(error);
  }
  auto manifest = read_blob(response.image().target().digest());
  if (!manifest.ok()) return failure<OciImage>(manifest.result);
  // The manifest names its config; a tiny search avoids a second JSON model here.
  auto at = manifest.value.find("\"config\"");
  auto digest_at = at == std::string::npos ? at : manifest.value.find("sha256:", at);
  if (digest_at == std::string::npos) {
    return failure<OciImage>(DriverStatus::failed, "image " + name + " has no config");
  }
  std::string config_digest = manifest.value.substr(digest_at, 7 + 64);
  auto config = read_blob(config_digest);
  if (!config.ok()) return failure<OciImage>(config.result);
  OciImage image;
  if (auto parsed = parse_image_config(config.value, image); !is_ok(parsed)) {
    return failure<OciImage>(parsed);
  }
  return success(std::move(image));
}

DriverResult ContainerdDriver::remove_image(const std::string& image) {
  cd::images::DeleteImageRequest request;
  request.set_name(image);
  request.set_sync(true);  // its content and snapshots are collected before the answer
  google::protobuf::Empty empty;
  auto status = cd::images::Images::NewStub(channel_)->Delete(context().get(), request, &empty);
  if (status.ok()) return ok_result();
  return error_of(status, "cannot remove image " + image);
}

}  // namespace omni::drivers
