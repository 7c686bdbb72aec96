// Package e2e holds vmtest's end-to-end tests: they run the vmtest binary,
// which boots real kernels in QEMU (TCG where KVM is not usable), and
// check what it prints, returns and writes.
//
// Their environment is explicit: VMTEST_E2E_BIN is the binary under test
// (default: built from ./cmd/vmtest once per test binary, with
// ./cmd/vmtest-agent beside it), VMTEST_E2E_QEMU
// the QEMU (default qemu-system-x86_64 on PATH), VMTEST_E2E_CACHE the
// cache the test kernels are read from (default ~/.cache/vmtest, where
// `make test-kernels` builds and fetches them). That cache is only read:
// the runs write to a cache of their own, a temporary directory seeded
// with links to its kernels (testutils.SeedCache). A test whose kernel or
// QEMU is missing skips saying so, or fails under VMTEST_E2E_REQUIRE=1.
// Under -short every test skips and nothing is built.
package e2e
