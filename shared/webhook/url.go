package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// ErrUnsafeURL is matched (errors.Is) by every error that refuses a webhook URL or the address
// it resolves to.
var ErrUnsafeURL = errors.New("unsafe webhook URL")

// maxURLLen bounds a webhook URL.
const maxURLLen = 2048

// Resolver looks up a host's addresses (*net.Resolver).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides which webhook URLs and addresses are allowed. The zero Policy is the
// production policy: HTTPS only, public unicast addresses only, resolved with
// net.DefaultResolver.
type Policy struct {
	// AllowInsecureLoopback allows http:// and loopback targets (127.0.0.0/8, ::1, "localhost")
	// for local development; set it only from stack.EnvAllowInsecureHTTP == "true". Private,
	// link-local and metadata addresses stay refused.
	AllowInsecureLoopback bool
	// Resolver resolves host names at configuration time; nil means net.DefaultResolver.
	Resolver Resolver
}

// ValidateURL checks a webhook URL at configuration time with the production policy; see
// Policy.ValidateURL.
func ValidateURL(ctx context.Context, raw string) error { return Policy{}.ValidateURL(ctx, raw) }

// PolicyFromEnv returns the policy that the value of stack.EnvAllowInsecureHTTP selects: ""
// or "false" (every deployed stack) the production policy, "true" (local development only)
// one that also admits loopback targets. Any other value is an error naming the variable.
func PolicyFromEnv(value string) (Policy, error) {
	switch value {
	case "", "false":
		return Policy{}, nil
	case "true":
		return Policy{AllowInsecureLoopback: true}, nil
	}
	return Policy{}, fmt.Errorf("environment variable %s must be \"true\" (local development only), \"false\" or unset", stack.EnvAllowInsecureHTTP)
}

// ValidateURL checks a webhook URL when a destination is configured: it must be an absolute
// https URL without user info or fragment, and its host must be an IP literal or a name that
// resolves, every address of it being public unicast (not loopback, private, link-local,
// metadata, CGNAT, multicast or reserved). It returns a *phi.Error with code EINVALID whose
// message says what to change and which wraps ErrUnsafeURL. The delivery function checks the
// address again at connection time (Policy.Dialer), so a name that later resolves elsewhere
// (DNS rebinding) is still refused.
func (p Policy) ValidateURL(ctx context.Context, raw string) error {
	u, err := p.parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if addr, err := netip.ParseAddr(host); err == nil {
		return p.checkAddr(addr)
	}
	if isLocalhost(host) {
		return nil // parse allowed it: local development with the insecure flag
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return invalid("the webhook host %q does not resolve; use a public host name", clip(host))
	}
	for _, a := range addrs {
		if err := p.checkAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// parse checks the URL's form, without resolving it.
func (p Policy) parse(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, invalid("the webhook URL is empty; use https://…")
	}
	if len(raw) > maxURLLen {
		return nil, invalid("the webhook URL is longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return nil, invalid("the webhook URL is not an absolute URL; use https://host/path")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !p.AllowInsecureLoopback {
			return nil, invalid("the webhook URL must use https")
		}
	default:
		return nil, invalid("the webhook URL must use https, not %q", clip(u.Scheme))
	}
	if u.User != nil {
		return nil, invalid("the webhook URL must not carry a user name or password; authenticate with the signature header")
	}
	if u.Fragment != "" {
		return nil, invalid("the webhook URL must not have a #fragment")
	}
	host := u.Hostname()
	if host == "" {
		return nil, invalid("the webhook URL has no host")
	}
	if isLocalhost(host) {
		if !p.AllowInsecureLoopback {
			return nil, invalid("the webhook URL must not point at localhost")
		}
	} else if u.Scheme == "http" {
		if a, err := netip.ParseAddr(host); err != nil || !a.Unmap().IsLoopback() {
			return nil, invalid("plain http is allowed only for loopback targets in local development; use https")
		}
	}
	return u, nil
}

// isLocalhost reports whether host is a name reserved for loopback (RFC 6761).
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// checkAddr refuses an address a webhook must not reach.
func (p Policy) checkAddr(a netip.Addr) error {
	if reason := blocked(a); reason != "" {
		if reason == "loopback" && p.AllowInsecureLoopback {
			return nil
		}
		return invalid("the webhook URL resolves to a %s address, which webhooks may not reach; use a public address", reason)
	}
	return nil
}

// Prefixes refused besides what netip classifies: this-network, CGNAT (and the Alibaba
// metadata address in it), IETF protocol assignments, benchmarking, reserved and broadcast,
// the documentation ranges, and the deprecated IPv6 site-local range.
var blockedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "reserved"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// Prefixes of IPv6 ranges that embed an IPv4 address: checked again on the embedded address.
var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// blocked names why a must not be reached, or returns "".
func blocked(a netip.Addr) string {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsPrivate():
		return "private"
	case a.IsLinkLocalUnicast():
		return "link-local (cloud metadata)"
	case a.IsMulticast(), a.IsLinkLocalMulticast(), a.IsInterfaceLocalMulticast():
		return "multicast"
	}
	for _, b := range blockedPrefixes {
		if b.p.Contains(a) {
			return b.reason
		}
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64.Contains(a):
			return blocked(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return blocked(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	return ""
}

// Dialer returns a dialer that refuses, after DNS resolution and just before connecting, any
// address the policy does not allow, so that a host name that resolved to a public address
// when the destination was configured cannot be re-pointed at an internal one.
func (p Policy) Dialer() *net.Dialer {
	return &net.Dialer{
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot parse the address being dialed", ErrUnsafeURL)
			}
			if reason := blocked(ap.Addr()); reason != "" && !(reason == "loopback" && p.AllowInsecureLoopback) {
				return fmt.Errorf("%w: the webhook host resolved to a %s address", ErrUnsafeURL, reason)
			}
			return nil
		},
	}
}

func invalid(format string, args ...any) error {
	return &phi.Error{Code: phi.EINVALID, Message: fmt.Sprintf(format, args...), Err: ErrUnsafeURL,
		Details: map[string]string{"field": "settings.url"}}
}

func clip(s string) string { return phi.Clip(s, 64) }
