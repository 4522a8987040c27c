//go:build !unix

package quietio

import "net"

// Wrap returns c: other systems read and write through net.Conn.
func Wrap(c net.Conn) net.Conn { return c }

// Listener is the listener itself on other systems.
type Listener struct{ net.Listener }
