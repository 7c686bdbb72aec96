//go:build darwin || freebsd || netbsd || openbsd

package fileid

import (
	"os"
	"syscall"
)

func fromInfo(st os.FileInfo) (ID, bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ID{}, false
	}
	return ID{Dev: uint64(sys.Dev), Ino: uint64(sys.Ino), Size: st.Size(), ModNS: st.ModTime().UnixNano(), ChangeNS: sys.Ctimespec.Nano()}, true
}
