// Test only: lets a test replace the delivered catalog before it is sealed,
// to build a set signed by the packer whose catalog is hostile (the sender
// is the attacker; tests/hostile_catalog_test.cc). Not reachable from the
// command line or the Python package. Not thread-safe: set it while no pack
// runs.
#pragma once

#include <functional>
#include <string>

namespace valise {

// Called with the path of the exported (plaintext) catalog right before it is
// sealed; nullptr (the default) clears it.
void SetCatalogHookForTest(std::function<void(const std::string& catalog_path)> hook);

}  // namespace valise
