package node

import (
	"net/http"
	"net/netip"
)

// clientOf names the client of an API request for the shares of a node it
// may hold: its IP address, or its /64 for IPv6, where one host commonly
// has a whole /64 to pick addresses from. (Tokens, once they exist, will
// name clients better.)
func clientOf(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
