#pragma once
// ContainerDriver over containerd's gRPC API on its unix socket, in one containerd namespace
// (default "omni", sent as the `containerd-namespace` header on every call).
//
// import_image writes an OCI layout's blobs into the content store (under a lease, with the
// labels containerd's garbage collector follows), records the image, and unpacks its layers
// into the snapshotter. create prepares a snapshot and a container with an OCI runtime spec;
// start creates and starts its task (stdout/stderr to a log file) and waits for its exit on a
// thread, which becomes a ContainerEvent.
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "drivers/container/container_driver.h"
#include "drivers/container/oci_spec.h"
#include "drivers/util/event_queue.h"
#include "drivers/util/oci_layout.h"

namespace grpc {
class Channel;
class ClientContext;
class Status;
}  // namespace grpc

namespace omni::drivers {

struct ContainerdOptions {
  std::string socket_path = "/run/containerd/containerd.sock";
  std::string namespace_name = "omni";
  std::string snapshotter = "overlayfs";
  std::string runtime = "io.containerd.runc.v2";
  std::string log_dir = "/var/log/omni/containers";  // CONTAINER.log, written by the shim
  std::chrono::milliseconds call_timeout = std::chrono::seconds(30);
  // Several Agents may share one containerd (the local provider's sandboxes share the
  // machine's): each sees and touches only its scope's containers, whose containerd ids are
  // SCOPE.NAME. Empty: every container of the namespace is this driver's.
  std::string scope;
  // The VM's place on the machine when containerd runs outside the VM (local sandboxes):
  // containers join its network namespace and nest under its cgroup (relative to the cgroup
  // root), so that what ends the VM ends them. Empty: containerd's own, as inside a real VM.
  std::string network_namespace_path;
  std::string cgroup_parent;
  // Containers whose command (first argument) is one of these get the machine (OciPlacement):
  // the Orchestrator, under the local provider, whose hypervisor is this machine.
  std::vector<std::string> host_access_commands;
};

class ContainerdDriver final : public ContainerDriver {
 public:
  // unavailable (with the socket and gRPC's reason) when containerd does not answer.
  static Outcome<std::unique_ptr<ContainerdDriver>> connect(const ContainerdOptions& options);
  ~ContainerdDriver() override;
  ContainerdDriver(const ContainerdDriver&) = delete;
  ContainerdDriver& operator=(const ContainerdDriver&) = delete;

  DriverResult import_image(const std::string& image, const std::string& oci_tar_path) override;
  Outcome<std::vector<std::string>> list_images() override;
  // not_found when there is no such image. Containers made from it keep their root filesystems.
  DriverResult remove_image(const std::string& image);
  DriverResult create(const ContainerSpec& spec) override;
  DriverResult start(const std::string& name) override;
  DriverResult kill(const std::string& name, int signal) override;
  DriverResult remove(const std::string& name) override;
  Outcome<std::vector<ContainerInfo>> list() override;
  Outcome<ContainerInfo> inspect(const std::string& name) override;

  std::vector<ContainerEvent> poll_events() override { return events_.poll(); }
  int event_fd() const override { return events_.fd(); }

  std::string log_path(const std::string& name) const;
  // The containerd id of a container of this driver's scope, and back ("" when not its scope).
  std::string id_of(const std::string& name) const;
  std::string name_of(const std::string& id) const;
  const std::string& version() const { return version_; }

 private:
  explicit ContainerdDriver(const ContainerdOptions& options);
  std::unique_ptr<grpc::ClientContext> context(const std::string& lease = {}) const;
  DriverResult error_of(const grpc::Status& status, const std::string& what) const;

  // images
  DriverResult write_blob(const OciImage& image, const OciDescriptor& blob,
                          const std::map<std::string, std::string>& labels,
                          const std::string& lease);
  DriverResult unpack(const OciImage& image, const std::string& lease);
  DriverResult put_image(const std::string& name, const OciDescriptor& target);
  Outcome<OciImage> image_config(const std::string& image);
  Outcome<std::string> read_blob(const std::string& digest);
  Outcome<std::string> create_lease(const std::string& purpose);
  void delete_lease(const std::string& lease);

  // containers and tasks; by containerd id
  OciPlacement placement_of(const ContainerSpec& spec, const std::string& id) const;
  Outcome<ContainerInfo> inspect_id(const std::string& id);
  DriverResult delete_task(const std::string& name);
  DriverResult remove_snapshot(const std::string& key);
  DriverResult create_leased(const ContainerSpec& spec, const ProcessSpec& process,
                             const OciImage& image, const std::string& lease);
  void watch(const std::string& name);
  void stop_watching(const std::string& name);

  ContainerdOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::string version_;
  EventQueue<ContainerEvent> events_;

  struct Watch {
    std::unique_ptr<grpc::ClientContext> context;
    std::thread thread;
  };
  std::mutex watches_mutex_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;
};

}  // namespace omni::drivers
