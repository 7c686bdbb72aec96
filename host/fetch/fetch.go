// Package fetch obtains kernels the toolkit does not build itself: today
// Debian's packaged kernel, downloaded with apt-get and unpacked into the
// cache (never into the repository).
package fetch

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmtest/vmtest/internal/proc"
)

// DebianMeta is the metapackage whose dependency names the current kernel.
const DebianMeta = "linux-image-amd64"

var imagePkg = regexp.MustCompile(`Depends: (linux-image-[0-9][^\s]*)`)

// DebianKernel returns the path of the current Debian kernel's vmlinuz,
// downloading and unpacking its package under cacheDir on first use.
func DebianKernel(ctx context.Context, cacheDir string) (string, error) {
	out, err := aptCache(ctx, cacheDir, "depends", DebianMeta)
	if err != nil {
		return "", fmt.Errorf("find Debian's kernel package (run apt-get update first?): %w", err)
	}
	m := imagePkg.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("apt-cache depends %s names no linux-image package; run apt-get update", DebianMeta)
	}
	pkg := m[1]
	dir := filepath.Join(cacheDir, "kernels", pkg)
	release := strings.TrimPrefix(pkg, "linux-image-")
	vmlinuz := filepath.Join(dir, "boot", "vmlinuz-"+release)
	if _, err := os.Stat(vmlinuz); err == nil {
		return vmlinuz, nil
	}
	tmp, unpacked, err := unpackPackage(ctx, cacheDir, pkg, pkg)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// Keep only /boot: the modules are not used by the initramfs.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(filepath.Join(unpacked, "boot"), filepath.Join(dir, "boot")); err != nil {
		return "", fmt.Errorf("install %s: %w", pkg, err)
	}
	return vmlinuz, nil
}

// unpackPackage downloads one Debian package (spec: name or name=version)
// with apt-get into a new staging directory under parent and unpacks it
// there. The caller moves what it keeps out of root, so that a cache entry
// appears whole or not at all, and removes stage.
func unpackPackage(ctx context.Context, parent, spec, name string) (stage, root string, err error) {
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", "", fmt.Errorf("download %s: %w", name, err)
	}
	stage, err = os.MkdirTemp(parent, ".fetch-")
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", name, err)
	}
	fail := func(err error) (string, string, error) {
		os.RemoveAll(stage)
		return "", "", err
	}
	if _, err := run(ctx, stage, "apt-get", "download", "-q", spec); err != nil {
		return fail(fmt.Errorf("download %s: %w", name, err))
	}
	debs, _ := filepath.Glob(filepath.Join(stage, name+"_*.deb"))
	if len(debs) != 1 {
		return fail(fmt.Errorf("download %s: expected one .deb, found %d", name, len(debs)))
	}
	root = filepath.Join(stage, "root")
	if _, err := run(ctx, "", "dpkg-deb", "-x", debs[0], root); err != nil {
		return fail(fmt.Errorf("unpack %s: %w", debs[0], err))
	}
	return stage, root, nil
}

func run(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// DebianSourcePkg is Debian 12's kernel source package, the default tree
// for `vmtest build`.
const DebianSourcePkg = "linux-source-6.1"

// SourceStamp is written at the top of every tree DebianSource unpacks. Its
// contents identify the tree for the build cache without hashing 70,000
// files.
const SourceStamp = ".vmtest-source"

// DebianSource returns the directory of Debian's unpacked kernel source
// tree, downloading the package and unpacking its tarball under
// cacheDir/src on first use. progress receives one line per slow step.
func DebianSource(ctx context.Context, cacheDir string, progress func(string)) (string, error) {
	out, err := aptCache(ctx, cacheDir, "policy", DebianSourcePkg)
	if err != nil {
		return "", fmt.Errorf("find %s (run apt-get update first?): %w", DebianSourcePkg, err)
	}
	m := regexp.MustCompile(`Candidate: (\S+)`).FindStringSubmatch(out)
	if m == nil || m[1] == "(none)" {
		return "", fmt.Errorf("apt knows no %s; run apt-get update (Debian 12 ships it in main)", DebianSourcePkg)
	}
	version := m[1]
	dir := filepath.Join(cacheDir, "src", DebianSourcePkg+"_"+version)
	tree := filepath.Join(dir, DebianSourcePkg)
	if _, err := os.Stat(filepath.Join(tree, SourceStamp)); err == nil {
		return tree, nil
	}
	progress(fmt.Sprintf("downloading %s %s (once; about 140 MB)", DebianSourcePkg, version))
	tmp, pkgRoot, err := unpackPackage(ctx, filepath.Join(cacheDir, "src"), DebianSourcePkg+"="+version, DebianSourcePkg)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	tarball := filepath.Join(pkgRoot, "usr", "src", DebianSourcePkg+".tar.xz")
	progress("unpacking " + filepath.Base(tarball) + " (about a minute)")
	unpacked := filepath.Join(tmp, "tree")
	if err := os.MkdirAll(unpacked, 0o755); err != nil {
		return "", err
	}
	if _, err := run(ctx, "", "tar", "-xf", tarball, "-C", unpacked); err != nil {
		return "", fmt.Errorf("unpack %s: %w", tarball, err)
	}
	stamp := fmt.Sprintf("debian %s %s\n", DebianSourcePkg, version)
	if err := os.WriteFile(filepath.Join(unpacked, DebianSourcePkg, SourceStamp), []byte(stamp), 0o444); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// The rename is the commit point: a half-unpacked tree is never seen.
	if err := os.Rename(filepath.Join(unpacked, DebianSourcePkg), tree); err != nil {
		return "", fmt.Errorf("install source tree: %w", err)
	}
	return tree, nil
}
