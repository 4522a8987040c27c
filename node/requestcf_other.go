//go:build !linux

package node

import "net"

// tcpRTT: unknown off Linux.
func tcpRTT(*net.TCPConn) int { return 0 }
