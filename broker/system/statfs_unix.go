//go:build linux || darwin || freebsd

package system

import "golang.org/x/sys/unix"

// statfs returns the size of the filesystem holding path and the bytes
// available to unprivileged users on it.
func statfs(path string) (total, free uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on Linux, uint32 on Darwin
	return st.Blocks * bs, st.Bavail * bs, nil
}
