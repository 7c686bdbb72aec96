// Package testutils holds what vmtest's tests share: synthetic inputs (a
// bzImage that passes every header check, a static ELF), the skip helpers
// that say why a test did not run, and the end-to-end tests' environment
// (which QEMU, which cache of kernels).
//
// It imports no vmtest package that imports it back from a test: host/run
// and host/bzimage test themselves with it.
package testutils
