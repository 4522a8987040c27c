package testnet

import "golang.org/x/sys/unix"

// kernelHasLandlock reports whether this kernel offers Landlock (ABI 1 or later).
func kernelHasLandlock() bool {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	return e == 0 && v >= 1
}
