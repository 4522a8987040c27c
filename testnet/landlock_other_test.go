//go:build !linux

package testnet

func kernelHasLandlock() bool { return false }
