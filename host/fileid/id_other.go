//go:build !linux && !darwin && !freebsd && !netbsd && !openbsd

package fileid

import "os"

// fromInfo: no inode or status-change time to go by, so nothing is
// remembered.
func fromInfo(os.FileInfo) (ID, bool) { return ID{}, false }
