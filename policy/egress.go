package policy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Egress decides which hosts guest code may reach with fetch. The zero value
// denies everything: egress is granted, never assumed.
//
// A grant is a host name ("api.example.com"), a wildcard ("*.example.com"),
// an address ("10.0.0.5"), a prefix ("10.0.0.0/8") or "*" (every public
// address); any of them may carry a port ("api.example.com:8443"). An address
// that is not public is refused unless granted by address or prefix, also when
// a granted name resolves to one: loopback, private (RFC 1918, shared
// 100.64.0.0/10, unique-local fc00::/7, site-local fec0::/10), link-local,
// cloud metadata (169.254.169.254, Azure's 168.63.129.16), unspecified,
// multicast, the IANA special-purpose IPv4 ranges (0.0.0.0/8, 192.0.0.0/24,
// 198.18.0.0/15, 240.0.0.0/4 with the broadcast address), an IPv6 address
// that carries an IPv4 one which is not public (IPv4-mapped, -compatible and
// -translated forms, NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16,
// Teredo 2001::/32), and the node's own addresses (Own), which reach every
// service of the host that listens on all of them.
type Egress struct {
	Grants []string
	// Own, if set, reports whether an address is one of the host's own (an
	// address of one of its interfaces).
	Own func(netip.Addr) bool
}

// ErrDenied is matched by every refusal.
var ErrDenied = errors.New("egress denied")

// DeniedError is a refusal (errors.Is(err, ErrDenied)); its message names
// the host asked for and why.
type DeniedError struct{ msg string }

func (e *DeniedError) Error() string        { return e.msg }
func (e *DeniedError) Is(target error) bool { return target == ErrDenied }

func denied(format string, args ...any) error { return &DeniedError{fmt.Sprintf(format, args...)} }

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

// CheckAddr decides on an address a granted host resolved to: an address
// that is not public (the type's comment) must itself be granted, by address
// or prefix. The refusal names host and what kind of address it resolved to,
// not the address: a guest learns no more of the node's resolver than that.
func (e Egress) CheckAddr(host string, addr netip.Addr, port string) error {
	addr = addr.Unmap()
	why := nonPublic(addr)
	if why == "" && e.Own != nil && e.Own(addr) {
		why = "an address of the node itself"
	}
	if why == "" {
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
	return denied("network access to %s is refused: it resolves to %s; grant it by address or prefix to allow it", strings.Trim(host, "[]"), why)
}

// Special-purpose ranges that are not public, beyond what netip classifies.
var (
	cloudMetadata = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("168.63.129.16"), netip.MustParseAddr("fd00:ec2::254")}
	reserved      = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),         // "this network"
		netip.MustParsePrefix("192.0.0.0/24"),      // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),     // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),       // reserved, and the broadcast address
		netip.MustParsePrefix("fec0::/10"),         // site-local (deprecated, still routed on some networks)
		netip.MustParsePrefix("100::/64"),          // discard-only
		netip.MustParsePrefix("2001:db8::/32"),     // documentation
		netip.MustParsePrefix("2001:2::/48"),       // benchmarking
		netip.MustParsePrefix("2001:10::/28"),      // ORCHID
		netip.MustParsePrefix("2001:20::/28"),      // ORCHIDv2
		netip.MustParsePrefix("3fff::/20"),         // documentation
		netip.MustParsePrefix("5f00::/16"),         // segment routing SIDs
		netip.MustParsePrefix("2620:4f:8000::/48"), // AS112 (DNS sink for private reverse zones)
	}
	shared = netip.MustParsePrefix("100.64.0.0/10")
	ula    = netip.MustParsePrefix("fc00::/7")
)

// nonPublic says what kind of address a is when it is not public ("" when it
// is): the type's comment lists them. An IPv6 address that carries an IPv4
// address, in any of the forms a host or a translator on the way delivers to
// that IPv4 address, is what its IPv4 address is.
func nonPublic(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "no valid address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsUnspecified():
		return "the unspecified address"
	case slices.Contains(cloudMetadata, a):
		return "the cloud metadata service's address"
	case a.IsPrivate() || shared.Contains(a) || ula.Contains(a):
		return "a private address"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return "a reserved address"
		}
	}
	if v4, ok := embeddedIPv4(a); ok {
		if why := nonPublic(v4); why != "" {
			return "an IPv6 address carrying " + why
		}
	}
	return ""
}

// The IPv6 forms that carry an IPv4 address (embeddedIPv4).
var (
	// inLast32 carry it in their last 32 bits: IPv4-compatible (::/96; :: and
	// ::1 are classified before), IPv4-translated, NAT64's two prefixes.
	inLast32 = []netip.Prefix{
		netip.MustParsePrefix("::/96"),
		netip.MustParsePrefix("::ffff:0:0:0/96"),
		netip.MustParsePrefix("64:ff9b::/96"),
		netip.MustParsePrefix("64:ff9b:1::/48"),
	}
	sixToFour = netip.MustParsePrefix("2002::/16")
	teredo    = netip.MustParsePrefix("2001::/32")
)

// embeddedIPv4 is the IPv4 address an IPv6 address carries, in the forms that
// deliver to it: IPv4-compatible (::a.b.c.d), IPv4-translated
// (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48),
// 6to4 (2002:AABB:CCDD::/48) and Teredo (2001:0::/32, the client's address
// inverted in the last 32 bits). IPv4-mapped addresses are unmapped before.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case !a.Is6():
	case slices.ContainsFunc(inLast32, func(p netip.Prefix) bool { return p.Contains(a) }):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredo.Contains(a):
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// ValidGrant checks one grant's form (the Egress type's comment): a host
// name of letters, digits, '-', '_' and dots, a wildcard, an address or a
// prefix, with an optional port of 1 to 65535, at most 255 bytes in all.
func ValidGrant(g string) error {
	if g == "" || len(g) > 255 {
		return fmt.Errorf("egress grant %q: want 1 to 255 bytes", g)
	}
	host, port := splitGrant(g)
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return fmt.Errorf("egress grant %q: the port is not a number from 1 to 65535", g)
		}
	}
	if _, ok := grantPrefix(host); ok || host == "*" {
		return nil
	}
	name, _ := strings.CutPrefix(host, "*.")
	if name == "" || strings.HasPrefix(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("egress grant %q: not a host name, wildcard, address or prefix", g)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("egress grant %q: %q is not allowed in a host name", g, c)
		}
	}
	return nil
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
