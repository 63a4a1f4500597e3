// VM names and Omni's libvirt metadata, table-driven: what goes in comes back out.
#include <gtest/gtest.h>

#include "drivers/vm/libvirt_xml.h"
#include "drivers/vm/vm_driver.h"

namespace omni::drivers {
namespace {

TEST(VmName, RoundTrips) {
  const VmIdentity cases[] = {
      {"prod", "host1", "director", 0},
      {"c1", "worker-01", "worker", 12},
      {"a.b", "n-1-2", "orch_x", 9999},
  };
  for (const auto& identity : cases) {
    VmIdentity parsed;
    ASSERT_TRUE(parse_vm_name(vm_name(identity), parsed)) << vm_name(identity);
    EXPECT_EQ(parsed, identity) << vm_name(identity);
  }
}

TEST(VmName, RejectsInvalidParts) {
  // Cluster and node names may hold '-', as the cluster config allows them to.
  EXPECT_EQ(validate_identity({"my-prod", "worker-01", "worker", 1}), "");
  EXPECT_EQ(validate_identity({std::string(63, 'c'), std::string(63, 'n'), "worker", 1}), "");
  const std::pair<VmIdentity, const char*> cases[] = {
      {{"Prod", "host1", "worker", 0}, "cluster"},
      {{std::string(64, 'c'), "host1", "worker", 0}, "longer than 63"},
      {{"prod", "", "worker", 0}, "node"},
      {{"prod", "host1", "wor-ker", 0}, "role"},
      {{"prod", "Host1", "worker", 0}, "node"},
      {{"prod", "host1", "worker", -1}, "slot"},
  };
  for (const auto& [identity, what] : cases) {
    EXPECT_NE(validate_identity(identity).find(what), std::string::npos) << what;
  }
  VmIdentity ignored;
  for (const char* name : {"test", "omni-prod-worker", "omni-prod-host-worker-x", "vm-a-b-c-1"}) {
    EXPECT_FALSE(parse_vm_name(name, ignored)) << name;
  }
}

TEST(OmniMetadata, RoundTripsWithEscaping) {
  VmSpec spec;
  spec.identity = {"prod", "host1", "worker", 2};
  spec.cpu_millis = 2500;
  spec.memory_bytes = 3ll << 30;
  spec.labels = {{"note", "a<b & \"c\"'"}};
  VmInfo info;
  ASSERT_TRUE(parse_omni_metadata(omni_metadata_xml(spec, "urn:x"), info));
  EXPECT_EQ(info.identity, spec.identity);
  EXPECT_EQ(info.cpu_millis, 2500);
  EXPECT_EQ(info.memory_bytes, 3ll << 30);
  EXPECT_EQ(info.labels.at("note"), "a<b & \"c\"'");
}

}  // namespace
}  // namespace omni::drivers
