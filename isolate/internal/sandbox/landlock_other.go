//go:build !linux

package sandbox

import "errors"

const landlockSupported = false

func applyLandlock(readOnly, writable []string) (int, error) {
	return 0, errors.New("landlock is linux only")
}
