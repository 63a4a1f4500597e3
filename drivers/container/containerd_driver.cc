// ContainerdDriver: connection, containers and tasks (containers, snapshots, tasks services).
#include "drivers/container/containerd_driver.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "drivers/container/containerd_api.h"
#include "drivers/container/oci_spec.h"

namespace omni::drivers {
namespace {

constexpr const char* k_spec_type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

ContainerState state_of(cd::task_types::Status status) {
  switch (status) {
    case cd::task_types::CREATED:
      return ContainerState::created;
    case cd::task_types::RUNNING:
    case cd::task_types::PAUSED:
    case cd::task_types::PAUSING:
      return ContainerState::running;
    case cd::task_types::STOPPED:
      return ContainerState::stopped;
    default:
      return ContainerState::unknown;
  }
}

}  // namespace

ContainerdDriver::ContainerdDriver(const ContainerdOptions& options) : options_(options) {}

ContainerdDriver::~ContainerdDriver() {
  std::map<std::string, std::unique_ptr<Watch>> watches;
  {
    std::lock_guard lock(watches_mutex_);
    watches.swap(watches_);
  }
  for (auto& [name, watch] : watches) {
    watch->context->TryCancel();
    if (watch->thread.joinable()) watch->thread.join();
  }
}

std::unique_ptr<grpc::ClientContext> ContainerdDriver::context(const std::string& lease) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("containerd-namespace", options_.namespace_name);
  if (!lease.empty()) ctx->AddMetadata("containerd-lease", lease);
  ctx->set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
  return ctx;
}

DriverResult ContainerdDriver::error_of(const grpc::Status& status, const std::string& what) const {
  DriverStatus kind = DriverStatus::failed;
  switch (status.error_code()) {
    case grpc::StatusCode::NOT_FOUND:
      kind = DriverStatus::not_found;
      break;
    case grpc::StatusCode::ALREADY_EXISTS:
      kind = DriverStatus::already_exists;
      break;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      kind = DriverStatus::no_capacity;
      break;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      kind = DriverStatus::unavailable;
      break;
    default:
      break;
  }
  std::string where = kind == DriverStatus::unavailable
                          ? " (containerd at " + options_.socket_path + ")"
                          : std::string();
  return error_result(kind, what + where + ": " + status.error_message());
}

Outcome<std::unique_ptr<ContainerdDriver>> ContainerdDriver::connect(
    const ContainerdOptions& options) {
  using Result = std::unique_ptr<ContainerdDriver>;
  if (!std::filesystem::exists(options.socket_path)) {
    return failure<Result>(DriverStatus::unavailable,
                           "no containerd socket at " + options.socket_path +
                               " (is containerd running? is the path right?)");
  }
  std::unique_ptr<ContainerdDriver> driver(new ContainerdDriver(options));
  driver->channel_ =
      grpc::CreateChannel("unix://" + options.socket_path, grpc::InsecureChannelCredentials());
  google::protobuf::Empty empty;
  cd::version::VersionResponse version;
  auto ctx = driver->context();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto status =
      cd::version::Version::NewStub(driver->channel_)->Version(ctx.get(), empty, &version);
  if (!status.ok()) {
    auto error = driver->error_of(status, "cannot reach containerd");
    error.status = DriverStatus::unavailable;
    return failure<Result>(error);
  }
  driver->version_ = version.version();
  cd::namespaces::CreateNamespaceRequest create;
  create.mutable_namespace_()->set_name(options.namespace_name);
  cd::namespaces::CreateNamespaceResponse created;
  cd::namespaces::Namespaces::NewStub(driver->channel_)
      ->Create(driver->context().get(), create, &created);  // exists already: fine
  std::error_code ignored;
  std::filesystem::create_directories(options.log_dir, ignored);
  // Resume watching tasks that run from before a restart, so their exits are reported.
  auto listed = driver->list();
  for (const auto& container : listed.value) {
    if (container.state == ContainerState::running) driver->watch(driver->id_of(container.name));
  }
  return success(std::move(driver));
}

std::string ContainerdDriver::log_path(const std::string& name) const {
  return options_.log_dir + "/" + id_of(name) + ".log";
}

std::string ContainerdDriver::id_of(const std::string& name) const {
  return options_.scope.empty() ? name : options_.scope + "." + name;
}

std::string ContainerdDriver::name_of(const std::string& id) const {
  if (options_.scope.empty()) return id;
  const std::string prefix = options_.scope + ".";
  return id.rfind(prefix, 0) == 0 ? id.substr(prefix.size()) : std::string();
}

OciPlacement ContainerdDriver::placement_of(const ContainerSpec& spec,
                                            const std::string& id) const {
  OciPlacement placement;
  placement.cgroups_path =
      options_.cgroup_parent.empty() ? "/omni/" + id : "/" + options_.cgroup_parent + "/omni-" + id;
  placement.limits = options_.cgroup_parent.empty();
  placement.network_namespace_path = options_.network_namespace_path;
  const auto& commands = options_.host_access_commands;
  placement.host_access = !spec.args.empty() && std::find(commands.begin(), commands.end(),
                                                          spec.args.front()) != commands.end();
  // The driver's own: an Agent runs in the machine's mount namespace, and the process it starts
  // enters it at once, while that Agent runs (if it has gone, the start fails and is retried).
  // Not the machine's init: /proc/1/ns may need capabilities root lacks (it does here).
  placement.machine_mount_namespace_path = "/proc/" + std::to_string(::getpid()) + "/ns/mnt";
  return placement;
}

DriverResult ContainerdDriver::remove_snapshot(const std::string& key) {
  cd::snapshots::RemoveSnapshotRequest request;
  request.set_snapshotter(options_.snapshotter);
  request.set_key(key);
  google::protobuf::Empty empty;
  auto status =
      cd::snapshots::Snapshots::NewStub(channel_)->Remove(context().get(), request, &empty);
  if (status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND) return ok_result();
  return error_of(status, "cannot remove snapshot " + key);
}

DriverResult ContainerdDriver::create(const ContainerSpec& spec) {
  if (auto invalid = validate_container_name(spec.name); !invalid.empty()) {
    return error_result(DriverStatus::failed, invalid);
  }
  const std::string id = id_of(spec.name);
  auto containers = cd::containers::Containers::NewStub(channel_);
  {
    cd::containers::GetContainerRequest get;
    get.set_id(id);
    cd::containers::GetContainerResponse got;
    if (containers->Get(context().get(), get, &got).ok()) {
      return error_result(DriverStatus::already_exists,
                          "container " + spec.name + " already exists");
    }
  }
  auto image = image_config(spec.image);
  if (!image.ok()) return image.result;
  ProcessSpec process;
  process.args = image.value.entrypoint;
  const auto& tail = spec.args.empty() ? image.value.cmd : spec.args;
  process.args.insert(process.args.end(), tail.begin(), tail.end());
  if (process.args.empty()) {
    return error_result(DriverStatus::failed,
                        "image " + spec.image + " has no command and none was given");
  }
  process.env = image.value.env;
  process.env.insert(process.env.end(), spec.env.begin(), spec.env.end());
  process.cwd = image.value.working_dir;

  // Between Prepare and the container's Create nothing references the new snapshot, and the
  // garbage collection that an earlier remove scheduled could take it; a lease holds it.
  auto lease = create_lease("create");
  if (!lease.ok()) return lease.result;
  ContainerSpec scoped = spec;
  scoped.name = id;
  if (!options_.scope.empty()) scoped.labels["omni.scope"] = options_.scope;
  DriverResult result = create_leased(scoped, process, image.value, lease.value);
  delete_lease(lease.value);
  return result;
}

DriverResult ContainerdDriver::create_leased(const ContainerSpec& spec, const ProcessSpec& process,
                                             const OciImage& image, const std::string& lease) {
  auto chain = chain_ids(image.diff_ids);
  cd::snapshots::PrepareSnapshotRequest prepare;
  prepare.set_snapshotter(options_.snapshotter);
  prepare.set_key(spec.name);
  if (!chain.empty()) prepare.set_parent(chain.back());
  cd::snapshots::PrepareSnapshotResponse prepared;
  auto status = cd::snapshots::Snapshots::NewStub(channel_)->Prepare(context(lease).get(), prepare,
                                                                     &prepared);
  if (!status.ok()) return error_of(status, "cannot prepare the root filesystem of " + spec.name);

  cd::containers::CreateContainerRequest request;
  auto* container = request.mutable_container();
  container->set_id(spec.name);
  container->set_image(spec.image);
  container->mutable_labels()->insert(spec.labels.begin(), spec.labels.end());
  container->mutable_runtime()->set_name(options_.runtime);
  container->mutable_spec()->set_type_url(k_spec_type_url);
  container->mutable_spec()->set_value(
      oci_runtime_spec_json(spec, process, placement_of(spec, spec.name)));
  container->set_snapshotter(options_.snapshotter);
  container->set_snapshot_key(spec.name);
  cd::containers::CreateContainerResponse created;
  status = cd::containers::Containers::NewStub(channel_)->Create(context(lease).get(), request,
                                                                 &created);
  if (!status.ok()) {
    remove_snapshot(spec.name);  // nothing half-created
    return error_of(status, "cannot create container " + spec.name);
  }
  return ok_result();
}

DriverResult ContainerdDriver::start(const std::string& name) {
  const std::string id = id_of(name);
  auto tasks = cd::tasks::Tasks::NewStub(channel_);
  delete_task(id);  // a stopped task from an earlier run
  cd::snapshots::MountsRequest mounts_request;
  mounts_request.set_snapshotter(options_.snapshotter);
  mounts_request.set_key(id);
  cd::snapshots::MountsResponse mounts;
  auto status =
      cd::snapshots::Snapshots::NewStub(channel_)->Mounts(context().get(), mounts_request, &mounts);
  if (!status.ok()) return error_of(status, "no container " + name);

  cd::tasks::CreateTaskRequest create;
  create.set_container_id(id);
  *create.mutable_rootfs() = mounts.mounts();
  create.set_stdout("file://" + log_path(name));
  create.set_stderr("file://" + log_path(name));
  cd::tasks::CreateTaskResponse created;
  status = tasks->Create(context().get(), create, &created);
  if (!status.ok()) return error_of(status, "cannot create the task of " + name);
  watch(id);
  cd::tasks::StartRequest start;
  start.set_container_id(id);
  cd::tasks::StartResponse started;
  status = tasks->Start(context().get(), start, &started);
  if (!status.ok()) {
    auto error = error_of(status, "cannot start " + name);
    stop_watching(id);
    delete_task(id);
    return error;
  }
  return ok_result();
}

// One thread per running task blocks in Tasks.Wait; its answer is the exit event.
void ContainerdDriver::watch(const std::string& id) {
  std::lock_guard lock(watches_mutex_);
  auto& slot = watches_[id];
  if (slot && slot->thread.joinable()) {
    slot->context->TryCancel();
    slot->thread.join();
  }
  slot = std::make_unique<Watch>();
  slot->context = context();
  slot->context->set_deadline(std::chrono::system_clock::time_point::max());
  grpc::ClientContext* ctx = slot->context.get();
  slot->thread = std::thread([this, id, ctx] {
    const std::string name = name_of(id);
    cd::tasks::WaitRequest request;
    request.set_container_id(id);
    cd::tasks::WaitResponse response;
    auto status = cd::tasks::Tasks::NewStub(channel_)->Wait(ctx, request, &response);
    if (status.error_code() == grpc::StatusCode::CANCELLED) return;
    if (status.ok()) {
      events_.push(ContainerEvent{name, static_cast<int>(response.exit_status()), "task exited"});
    } else {
      events_.push(ContainerEvent{name, -1, "lost track of the task: " + status.error_message()});
    }
  });
}

void ContainerdDriver::stop_watching(const std::string& id) {
  std::unique_ptr<Watch> watch;
  {
    std::lock_guard lock(watches_mutex_);
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    watch = std::move(it->second);
    watches_.erase(it);
  }
  watch->context->TryCancel();
  if (watch->thread.joinable()) watch->thread.join();
}

DriverResult ContainerdDriver::kill(const std::string& name, int signal) {
  cd::tasks::KillRequest request;
  request.set_container_id(id_of(name));
  request.set_signal(static_cast<std::uint32_t>(signal));
  request.set_all(true);
  google::protobuf::Empty empty;
  auto status = cd::tasks::Tasks::NewStub(channel_)->Kill(context().get(), request, &empty);
  if (!status.ok()) return error_of(status, "cannot signal " + name);
  return ok_result();
}

DriverResult ContainerdDriver::delete_task(const std::string& id) {
  cd::tasks::DeleteTaskRequest request;
  request.set_container_id(id);
  cd::tasks::DeleteResponse response;
  auto status = cd::tasks::Tasks::NewStub(channel_)->Delete(context().get(), request, &response);
  if (status.ok() || status.error_code() == grpc::StatusCode::NOT_FOUND) return ok_result();
  return error_of(status, "cannot delete the task of " + id);
}

DriverResult ContainerdDriver::remove(const std::string& name) {
  auto found = inspect(name);
  if (!found.ok()) return found.result;
  if (found.value.state == ContainerState::running) {
    kill(name, SIGKILL);
    // The watcher sees the exit; wait for it (bounded by the call timeout) before deleting.
    auto deadline = std::chrono::steady_clock::now() + options_.call_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto now = inspect(name);
      if (!now.ok() || now.value.state == ContainerState::stopped) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  const std::string id = id_of(name);
  if (auto deleted = delete_task(id); !is_ok(deleted)) return deleted;
  stop_watching(id);
  cd::containers::DeleteContainerRequest request;
  request.set_id(id);
  google::protobuf::Empty empty;
  auto status =
      cd::containers::Containers::NewStub(channel_)->Delete(context().get(), request, &empty);
  if (!status.ok()) return error_of(status, "cannot delete container " + name);
  if (auto removed = remove_snapshot(id); !is_ok(removed)) return removed;
  std::error_code ignored;
  std::filesystem::remove(log_path(name), ignored);
  return ok_result();
}

Outcome<std::vector<ContainerInfo>> ContainerdDriver::list() {
  cd::containers::ListContainersRequest request;
  cd::containers::ListContainersResponse response;
  auto status =
      cd::containers::Containers::NewStub(channel_)->List(context().get(), request, &response);
  if (!status.ok())
    return failure<std::vector<ContainerInfo>>(error_of(status, "cannot list containers"));
  std::vector<ContainerInfo> out;
  for (const auto& container : response.containers()) {
    if (name_of(container.id()).empty()) continue;  // another scope's
    auto info = inspect_id(container.id());
    if (info.ok()) out.push_back(std::move(info.value));
  }
  std::sort(out.begin(), out.end(),
            [](const ContainerInfo& a, const ContainerInfo& b) { return a.name < b.name; });
  return success(std::move(out));
}

Outcome<ContainerInfo> ContainerdDriver::inspect(const std::string& name) {
  return inspect_id(id_of(name));
}

Outcome<ContainerInfo> ContainerdDriver::inspect_id(const std::string& id) {
  const std::string name = name_of(id);
  cd::containers::GetContainerRequest get;
  get.set_id(id);
  cd::containers::GetContainerResponse got;
  auto status = cd::containers::Containers::NewStub(channel_)->Get(context().get(), get, &got);
  if (!status.ok()) return failure<ContainerInfo>(error_of(status, "container " + name));
  ContainerInfo info;
  info.name = name;
  info.image = got.container().image();
  info.labels.insert(got.container().labels().begin(), got.container().labels().end());
  info.state = ContainerState::created;
  cd::tasks::GetRequest task_request;
  task_request.set_container_id(id);
  cd::tasks::GetResponse task;
  status = cd::tasks::Tasks::NewStub(channel_)->Get(context().get(), task_request, &task);
  if (status.ok()) {
    info.state = state_of(task.process().status());
    info.pid = static_cast<int>(task.process().pid());
    if (info.state == ContainerState::stopped) {
      info.exit_code = static_cast<int>(task.process().exit_status());
    }
  } else if (status.error_code() != grpc::StatusCode::NOT_FOUND) {
    return failure<ContainerInfo>(error_of(status, "task of " + name));
  }
  return success(std::move(info));
}

}  // namespace omni::drivers
