package node

import (
	"net"

	"golang.org/x/sys/unix"
)

// tcpRTT is the kernel's smoothed round-trip time of c in milliseconds
// (at least 1), 0 when unknown.
func tcpRTT(c *net.TCPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	var rtt uint32
	_ = raw.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			rtt = info.Rtt // µs
		}
	})
	if rtt == 0 {
		return 0
	}
	return max(1, int((rtt+500)/1000))
}
