//go:build !linux

package quietio

import "net"

// WrapPacket returns pc: other systems read and write through the net package.
func WrapPacket(pc net.PacketConn) net.PacketConn { return pc }

// DatagramsSent reports 0: only Linux's PacketConn counts its datagrams.
func DatagramsSent() uint64 { return 0 }
