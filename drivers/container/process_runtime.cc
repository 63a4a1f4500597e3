#include "drivers/container/process_runtime.h"

#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "drivers/util/subprocess.h"

namespace omni::drivers {
namespace {

namespace fs = std::filesystem;

std::string image_dir_name(const std::string& image) {
  std::string out;
  for (char c : image) out += (std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

DriverResult unpack_layers(const OciImage& image, const std::string& rootfs) {
  for (const auto& layer : image.layers) {
    // tar detects gzip itself; whiteouts are not interpreted (single-layer images are fine).
    auto untar = run_command({"tar", "-xf", image.blob_path(layer.digest), "-C", rootfs},
                             std::chrono::minutes(5));
    if (!untar.ok()) {
      return error_result(DriverStatus::failed,
                          "cannot unpack layer " + layer.digest + ": " + untar.output);
    }
  }
  return ok_result();
}

}  // namespace

ProcessRuntime::ProcessRuntime(ProcessRuntimeOptions options) : options_(std::move(options)) {
  std::error_code ignored;
  fs::create_directories(options_.state_dir + "/images", ignored);
  fs::create_directories(options_.state_dir + "/containers", ignored);
}

ProcessRuntime::~ProcessRuntime() {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, container] : containers_) names.push_back(name);
  }
  for (const auto& name : names) remove(name);
}

std::string ProcessRuntime::log_path(const std::string& name) const {
  return options_.state_dir + "/containers/" + name + "/log";
}

DriverResult ProcessRuntime::import_image(const std::string& image, const std::string& tar_path) {
  if (image.empty()) return error_result(DriverStatus::failed, "an image needs a name");
  // One import at a time: two creates that both find the image missing import it together,
  // and would share (and tear down) one staging directory.
  std::lock_guard importing(import_mutex_);
  std::string dir = options_.state_dir + "/images/" + image_dir_name(image);
  std::string staging = dir + ".importing";
  std::error_code ignored;
  fs::remove_all(staging, ignored);
  fs::create_directories(staging + "/layout", ignored);
  fs::create_directories(staging + "/rootfs", ignored);
  auto layout = read_oci_layout(tar_path, staging + "/layout");
  DriverResult unpacked =
      layout.ok() ? unpack_layers(layout.value, staging + "/rootfs") : layout.result;
  if (!is_ok(unpacked)) {
    fs::remove_all(staging, ignored);
    return unpacked;
  }
  std::lock_guard lock(mutex_);
  fs::remove_all(dir, ignored);
  std::error_code renamed;
  fs::rename(staging, dir, renamed);
  if (renamed) {
    images_.erase(image);
    return error_result(DriverStatus::failed,
                        "cannot put image " + image + " in place: " + renamed.message());
  }
  fs::remove_all(dir + "/layout", ignored);
  layout.value.dir.clear();
  images_[image] = Image{dir + "/rootfs", std::move(layout.value)};
  return ok_result();
}

Outcome<std::vector<std::string>> ProcessRuntime::list_images() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> names;
  for (const auto& [name, image] : images_) names.push_back(name);
  return success(std::move(names));
}

DriverResult ProcessRuntime::create(const ContainerSpec& spec) {
  if (auto invalid = validate_container_name(spec.name); !invalid.empty()) {
    return error_result(DriverStatus::failed, invalid);
  }
  std::lock_guard lock(mutex_);
  if (containers_.count(spec.name) != 0) {
    return error_result(DriverStatus::already_exists, "container " + spec.name + " already exists");
  }
  if (images_.count(spec.image) == 0) {
    return error_result(DriverStatus::not_found,
                        "image " + spec.image + " is not imported; import it first");
  }
  if (containers_.size() >= options_.containers_max) {
    return error_result(DriverStatus::no_capacity, "this process runtime holds " +
                                                       std::to_string(containers_.size()) +
                                                       " containers, its maximum");
  }
  auto container = std::make_unique<Container>();
  container->spec = spec;
  containers_[spec.name] = std::move(container);
  std::error_code ignored;
  fs::create_directories(options_.state_dir + "/containers/" + spec.name, ignored);
  return ok_result();
}

std::vector<std::string> ProcessRuntime::command_of(const Container& container,
                                                    const Image& image) const {
  std::vector<std::string> argv = image.config.entrypoint;
  const auto& tail = container.spec.args.empty() ? image.config.cmd : container.spec.args;
  argv.insert(argv.end(), tail.begin(), tail.end());
  // Binaries come from the image's root filesystem when it has them.
  if (!argv.empty() && argv[0].rfind('/', 0) == 0 && fs::exists(image.rootfs + argv[0])) {
    argv[0] = image.rootfs + argv[0];
  }
  return argv;
}

DriverResult ProcessRuntime::start(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = containers_.find(name);
  if (it == containers_.end()) {
    return error_result(DriverStatus::not_found, "no container " + name);
  }
  Container& container = *it->second;
  if (container.state == ContainerState::running) return ok_result("already running");
  if (container.waiter.joinable()) container.waiter.join();
  const Image& image = images_.at(container.spec.image);
  auto argv = command_of(container, image);
  if (argv.empty())
    return error_result(DriverStatus::failed, "container " + name + " has no command");
  SpawnOptions options;
  options.log_path = log_path(name);
  options.env = image.config.env;
  options.env.insert(options.env.end(), container.spec.env.begin(), container.spec.env.end());
  std::string error;
  pid_t pid = spawn_process(argv, options, error);
  if (pid < 0) return error_result(DriverStatus::failed, "cannot start " + name + ": " + error);
  container.pid = pid;
  container.state = ContainerState::running;
  container.exit_code = -1;
  container.waiter = std::thread([this, name, pid] { wait_for(name, pid); });
  return ok_result();
}

void ProcessRuntime::wait_for(const std::string& name, pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  int code = exit_code_of(status);
  {
    std::lock_guard lock(mutex_);
    auto it = containers_.find(name);
    if (it != containers_.end() && it->second->pid == pid) {
      it->second->state = ContainerState::stopped;
      it->second->exit_code = code;
      it->second->pid = 0;
    }
  }
  events_.push(ContainerEvent{name, code, "process " + std::to_string(pid) + " exited"});
}

DriverResult ProcessRuntime::kill(const std::string& name, int signal) {
  std::lock_guard lock(mutex_);
  auto it = containers_.find(name);
  if (it == containers_.end()) return error_result(DriverStatus::not_found, "no container " + name);
  const Container& container = *it->second;
  if (container.state != ContainerState::running) return ok_result("not running");
  // The whole process group: the container's own children go too.
  if (::kill(-container.pid, signal) != 0 && ::kill(container.pid, signal) != 0) {
    return error_result(DriverStatus::failed,
                        "cannot signal " + name + ": " + std::strerror(errno));
  }
  return ok_result();
}

DriverResult ProcessRuntime::remove(const std::string& name) {
  std::unique_ptr<Container> container;
  {
    std::lock_guard lock(mutex_);
    auto it = containers_.find(name);
    if (it == containers_.end()) {
      return error_result(DriverStatus::not_found, "no container " + name);
    }
    if (it->second->state == ContainerState::running) {
      ::kill(-it->second->pid, SIGKILL);
      ::kill(it->second->pid, SIGKILL);
    }
  }
  // The waiter takes the lock to record the exit, so join outside it.
  std::thread waiter;
  {
    std::lock_guard lock(mutex_);
    waiter = std::move(containers_.at(name)->waiter);
  }
  if (waiter.joinable()) waiter.join();
  {
    std::lock_guard lock(mutex_);
    container = std::move(containers_.at(name));
    containers_.erase(name);
  }
  std::error_code ignored;
  fs::remove_all(options_.state_dir + "/containers/" + name, ignored);
  return ok_result();
}

ContainerInfo ProcessRuntime::info_of(const std::string& name, const Container& container) const {
  return ContainerInfo{name,          container.spec.image, container.state,
                       container.pid, container.exit_code,  container.spec.labels};
}

Outcome<std::vector<ContainerInfo>> ProcessRuntime::list() {
  std::lock_guard lock(mutex_);
  std::vector<ContainerInfo> out;
  for (const auto& [name, container] : containers_) out.push_back(info_of(name, *container));
  return success(std::move(out));
}

Outcome<ContainerInfo> ProcessRuntime::inspect(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = containers_.find(name);
  if (it == containers_.end()) {
    return failure<ContainerInfo>(DriverStatus::not_found, "no container " + name);
  }
  return success(info_of(name, *it->second));
}

}  // namespace omni::drivers
