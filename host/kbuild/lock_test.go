package kbuild

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLockDirBlocksUntilReleased(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tree.lock")
	first, err := lockDir(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		err error
		at  time.Time
	}
	got := make(chan result, 1)
	go func() {
		f, err := lockDir(context.Background(), path)
		if err == nil {
			defer f.Close()
		}
		got <- result{err, time.Now()}
	}()
	select {
	case r := <-got:
		t.Fatalf("second lock returned (err %v) while the first was held", r.err)
	case <-time.After(500 * time.Millisecond):
	}
	released := time.Now()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("second lock after release: %v", r.err)
		}
		if r.at.Before(released) {
			t.Fatalf("second lock taken at %v, before the first was released at %v", r.at, released)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not taken within 5s of the first's release")
	}
}

func TestLockDirContextCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tree.lock")
	first, err := lockDir(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		f, err := lockDir(ctx, path)
		if err == nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("lockDir returned %v before cancel while the lock was held", err)
	case <-time.After(300 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("lockDir after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("lockDir did not return within 5s of cancel")
	}

	// A deadline is reported as such.
	ctx, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if f, err := lockDir(ctx, path); !errors.Is(err, context.DeadlineExceeded) {
		if f != nil {
			f.Close()
		}
		t.Fatalf("lockDir with deadline = %v, want context.DeadlineExceeded", err)
	}

	// The cancelled waiters left the lock usable once released.
	first.Close()
	f, err := lockDir(context.Background(), path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	f.Close()
}

func TestLockDirReacquireAndBadPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tree.lock")
	for i := 0; i < 3; i++ {
		f, err := lockDir(context.Background(), path)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		f.Close()
	}
	_, err := lockDir(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.lock"))
	if err == nil || !strings.Contains(err.Error(), "open build lock") {
		t.Fatalf("lock in a missing directory: error = %v, want open build lock error", err)
	}
}
