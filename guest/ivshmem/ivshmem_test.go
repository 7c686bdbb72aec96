//go:build linux

package ivshmem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// fakeDevice adds a PCI device to a fake sysfs directory; with bar set,
// its resource2 is a file of that many bytes, with the host's header
// when header is set.
func fakeDevice(t *testing.T, dir, addr, vendor, device string, bar int64, header bool) string {
	t.Helper()
	d := filepath.Join(dir, addr)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "vendor"), []byte(vendor+"\n"), 0o644)
	os.WriteFile(filepath.Join(d, "device"), []byte(device+"\n"), 0o644)
	res := filepath.Join(d, "resource2")
	switch {
	case bar > 0 && header:
		if err := shmlog.Create(res, bar); err != nil {
			t.Fatal(err)
		}
	case bar > 0:
		if err := os.WriteFile(res, make([]byte, bar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return res
}

func TestOpen(t *testing.T) {
	for _, c := range []struct {
		name    string
		devices func(t *testing.T, dir string) // adds the devices
		wantDev string                         // "" for an error
		wantErr string
	}{
		{"no PCI", func(t *testing.T, dir string) { os.Remove(dir) }, "", "no ivshmem device"},
		{"other devices only", func(t *testing.T, dir string) {
			fakeDevice(t, dir, "0000:00:00.0", "0x8086", "0x1237", 0, false)
			fakeDevice(t, dir, "0000:00:01.0", "0x1af4", "0x1000", 4096, true) // virtio-net
		}, "", "no ivshmem device"},
		{"ivshmem without the host's header", func(t *testing.T, dir string) {
			fakeDevice(t, dir, "0000:00:02.0", contract.IvshmemVendorID, contract.IvshmemDeviceID, 4096, false)
		}, "", "not made by the vmtest host"},
		{"ivshmem without a BAR", func(t *testing.T, dir string) {
			fakeDevice(t, dir, "0000:00:02.0", contract.IvshmemVendorID, contract.IvshmemDeviceID, 0, false)
		}, "", "resource2"},
		{"another ivshmem device first", func(t *testing.T, dir string) {
			fakeDevice(t, dir, "0000:00:02.0", contract.IvshmemVendorID, contract.IvshmemDeviceID, 4096, false)
			fakeDevice(t, dir, "0000:00:04.0", contract.IvshmemVendorID, contract.IvshmemDeviceID, 8192, true)
		}, "0000:00:04.0", ""},
		{"ivshmem set up by the host", func(t *testing.T, dir string) {
			fakeDevice(t, dir, "0000:00:00.0", "0x8086", "0x1237", 0, false)
			fakeDevice(t, dir, "0000:00:03.0", contract.IvshmemVendorID, contract.IvshmemDeviceID, 8192, true)
		}, "0000:00:03.0", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "devices")
			os.Mkdir(dir, 0o755)
			c.devices(t, dir)
			ch, err := Open(dir)
			if c.wantDev == "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Open: %v, want an error containing %q", err, c.wantErr)
				}
				if c.wantErr == "no ivshmem device" && !errors.Is(err, ErrNoDevice) {
					t.Errorf("Open: %v is not ErrNoDevice", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Close()
			if ch.Device != c.wantDev {
				t.Errorf("device %s, want %s", ch.Device, c.wantDev)
			}
			// What the channel writes is in the file, where the host reads it.
			if _, err := ch.Write([]byte("KTAP version 1\n")); err != nil {
				t.Fatal(err)
			}
			r, err := shmlog.Open(filepath.Join(dir, c.wantDev, "resource2"))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if got, err := r.Next(); err != nil || string(got) != "KTAP version 1\n" {
				t.Errorf("host reads %q, %v", got, err)
			}
		})
	}
}
