//go:build !unix

package testnet

import "os"

var pauseSignal, resumeSignal os.Signal // no SIGSTOP here
