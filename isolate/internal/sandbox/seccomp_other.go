//go:build !linux || !(amd64 || arm64)

package sandbox

import "errors"

const seccompLayer = "seccomp"

const seccompSupported = false

func applySeccomp() error {
	return errors.New("seccomp filters are built for linux on amd64 and arm64 only")
}
