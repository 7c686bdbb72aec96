package run

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/host/bzimage"
	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/fileid"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// KernelKind is what a --kernel or --base value names.
type KernelKind string

// The kinds of kernel a command line can name.
const (
	KernelImage  KernelKind = "bzimage" // a bzImage file
	KernelDebian KernelKind = "debian"  // Debian's packaged kernel, downloaded once
	KernelBuild  KernelKind = "build"   // a build spec
	KernelResult KernelKind = "result"  // an earlier result directory (compare only)
)

// KernelRef is a kernel as the user named it, checked as far as it can
// be without downloading or building anything. It is the one resolver of
// --kernel and --base values, so that every command takes the same ones.
type KernelRef struct {
	Arg  string
	Kind KernelKind
	// Image is the bzImage of KernelImage, checked.
	Image string
	// Spec is a KernelBuild's spec, fragments resolved and inputs read.
	Spec kbuild.Spec
	// ResultDir and Result are a KernelResult's directory and result.json.
	ResultDir string
	Result    *Result
}

// ParseKernel resolves and checks a kernel argument: "debian", a build
// spec (build[:key=value,...], whose fragments and patches are read
// here), an earlier result directory when results is set (compare), or a
// bzImage path (header checked). field names the input in errors (kernel,
// base), which match inputerr.ErrBadInput.
func ParseKernel(field, arg string, results bool) (*KernelRef, error) {
	return ParseKernelIn("", field, arg, results)
}

// ParseKernelIn is ParseKernel with the bzImage's check remembered in the
// cache directory cacheDir ("": not remembered), as Prepare remembers it:
// a warm run then reads the kernel's header, not the whole file, twice.
func ParseKernelIn(cacheDir, field, arg string, results bool) (*KernelRef, error) {
	k := &KernelRef{Arg: arg}
	switch {
	case arg == "":
		return nil, inputerr.Errorf(field, "", "no kernel given: name a bzImage, debian or build[:key=value,...]")
	case arg == string(KernelDebian):
		k.Kind = KernelDebian
	case kbuild.IsSpec(arg):
		sp, cfgs, err := kbuild.ParseSpec(arg)
		if err != nil {
			return nil, inputerr.New(field, arg, err)
		}
		ref, err := BuildRef(sp, cfgs)
		if err != nil {
			return nil, inputerr.New(field, arg, err)
		}
		ref.Arg = arg
		return ref, nil
	default:
		if fi, err := os.Stat(arg); err == nil && fi.IsDir() && results {
			if _, err := os.Stat(filepath.Join(arg, ResultFile)); err != nil {
				return nil, inputerr.Errorf(field, arg, "is a directory without result.json (give a bzImage, debian, a build spec or an earlier result directory)")
			}
			r, err := Load(arg)
			if err != nil {
				return nil, inputerr.New(field, "", err)
			}
			k.Kind, k.ResultDir, k.Result = KernelResult, arg, r
			return k, nil
		}
		if _, err := bzimage.CheckCached(fileid.At(cacheDir), arg); err != nil {
			return nil, inputerr.New(field, "", err)
		}
		k.Kind, k.Image = KernelImage, arg
	}
	return k, nil
}

// BuildRef makes a KernelRef for a build spec with the fragments named
// (files or built-in names), reading and checking every input that does
// not need the tree.
func BuildRef(sp kbuild.Spec, fragments []string) (*KernelRef, error) {
	sp, err := kbuild.WithFragments(sp, fragments)
	if err != nil {
		return nil, err
	}
	return &KernelRef{Arg: kbuild.SpecPrefix, Kind: KernelBuild, Spec: sp}, nil
}

// Bootable reports whether the kernel can be booted (not a result
// directory).
func (k *KernelRef) Bootable() bool { return k.Kind != KernelResult }

// ObtainOptions say where the cache is and how to build.
type ObtainOptions struct {
	CacheDir string
	Jobs     int
	// Progress receives one line per slow step; nil discards.
	Progress func(string)
}

// Obtain downloads or builds the kernel if need be and returns the
// bzImage's path and, for a build, its manifest. A result directory has
// no bzImage to give.
func (k *KernelRef) Obtain(ctx context.Context, o ObtainOptions) (string, *kbuild.Manifest, error) {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir()
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	switch k.Kind {
	case KernelImage:
		return k.Image, nil, nil
	case KernelDebian:
		img, err := fetch.DebianKernel(ctx, o.CacheDir)
		if err != nil {
			return "", nil, err
		}
		return img, nil, nil
	case KernelBuild:
		sp := k.Spec
		if sp.Tree == "" {
			t, err := fetch.DebianSource(ctx, o.CacheDir, o.Progress)
			if err != nil {
				return "", nil, fmt.Errorf("obtain the default source tree: %w", err)
			}
			sp.Tree = t
		}
		m, err := kbuild.Build(ctx, sp, kbuild.Options{CacheDir: o.CacheDir, Jobs: o.Jobs, Progress: o.Progress})
		if err != nil {
			return "", nil, err
		}
		return m.BzImage, m, nil
	}
	return "", nil, fmt.Errorf("%s is an earlier result, not a kernel to boot", k.Arg)
}
