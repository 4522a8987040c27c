package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Egress decides which hosts guest code may reach with fetch. The zero value
// denies everything: egress is granted, never assumed.
//
// A grant is a host name ("api.example.com"), a wildcard ("*.example.com"),
// an address ("10.0.0.5"), a prefix ("10.0.0.0/8") or "*" (every public
// address); any of them may carry a port ("api.example.com:8443"). Private,
// loopback and link-local addresses are refused unless granted by address or
// prefix — also when a granted name resolves to one.
type Egress struct {
	Grants []string
}

// ErrDenied is matched by every refusal.
var ErrDenied = errors.New("egress denied")

type deniedError struct{ msg string }

func (e *deniedError) Error() string        { return e.msg }
func (e *deniedError) Is(target error) bool { return target == ErrDenied }

func denied(format string, args ...any) error { return &deniedError{fmt.Sprintf(format, args...)} }

// CheckHost decides on the URL's host and port before any name is resolved.
func (e Egress) CheckHost(host, port string) error {
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	for _, g := range e.Grants {
		gh, gp := splitGrant(g)
		if gp != "" && gp != port {
			continue
		}
		if matchHost(gh, host) {
			return nil
		}
		if pfx, ok := grantPrefix(gh); ok {
			if a, err := netip.ParseAddr(host); err == nil && pfx.Contains(a.Unmap()) {
				return nil
			}
		}
	}
	if len(e.Grants) == 0 {
		return denied("network access to %s is not granted (no hosts are granted to this Worker)", host)
	}
	return denied("network access to %s is not granted (granted: %s)", host, strings.Join(e.Grants, ", "))
}

// CheckAddr decides on an address a granted host resolved to: a private,
// loopback, link-local or unspecified address must itself be granted.
func (e Egress) CheckAddr(host string, addr netip.Addr, port string) error {
	addr = addr.Unmap()
	if isPublic(addr) {
		return nil
	}
	for _, g := range e.Grants {
		gh, gp := splitGrant(g)
		if gp != "" && gp != port {
			continue
		}
		if pfx, ok := grantPrefix(gh); ok && pfx.Contains(addr) {
			return nil
		}
	}
	return denied("network access to %s (%s) is refused: it is a private, loopback or link-local address; grant it by address", host, addr)
}

func isPublic(a netip.Addr) bool {
	return a.IsValid() && !(a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsUnspecified() || a.IsMulticast() || a.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(a) || netip.MustParsePrefix("fc00::/7").Contains(a))
}

// splitGrant separates an optional port from a grant.
func splitGrant(g string) (host, port string) {
	g = strings.ToLower(strings.TrimSpace(g))
	if strings.Contains(g, "/") { // a prefix; ports on prefixes are not supported
		return g, ""
	}
	if h, p, err := net.SplitHostPort(g); err == nil {
		return strings.Trim(h, "[]"), p
	}
	return strings.Trim(g, "[]"), ""
}

func grantPrefix(g string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(g); err == nil {
		return p.Masked(), true
	}
	if a, err := netip.ParseAddr(g); err == nil {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

func matchHost(grant, host string) bool {
	switch {
	case grant == "*":
		return true
	case strings.HasPrefix(grant, "*."):
		return strings.HasSuffix(host, grant[1:])
	}
	return grant == host
}
