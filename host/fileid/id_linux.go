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
	return ID{Dev: uint64(sys.Dev), Ino: sys.Ino, Size: st.Size(), ModNS: st.ModTime().UnixNano(), ChangeNS: sys.Ctim.Nano()}, true
}
