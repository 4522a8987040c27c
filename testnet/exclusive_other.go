//go:build !unix

package testnet

import "errors"

func lockFile(string) (func(), error) {
	return nil, errors.New("no file locks on this platform")
}
