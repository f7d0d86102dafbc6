package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
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

// Policy decides which webhook URLs and addresses are allowed, both when a destination is
// configured (ValidateURL) and when a copy is delivered (Dialer). The zero Policy is the
// production policy: HTTPS only, public unicast addresses only, resolved with
// net.DefaultResolver.
type Policy struct {
	// LocalTargets are the loopback IP:port pairs that local development may reach besides
	// public addresses — the local webhook receiver and the test servers a test registers —
	// over https or plain http. A URL names one only by its IP literal and its port (explicit,
	// or the scheme's default), never by a host name; every other loopback address or port
	// stays refused, as do private, link-local and metadata addresses. Entries that are not
	// loopback addresses are ignored. Set it from stack.EnvLocalWebhookTargets with
	// PolicyFromEnv; deployed stacks leave it empty.
	LocalTargets []netip.AddrPort
	// Resolver resolves host names at configuration time; nil means net.DefaultResolver.
	Resolver Resolver
}

// ValidateURL checks a webhook URL at configuration time with the production policy; see
// Policy.ValidateURL.
func ValidateURL(ctx context.Context, raw string) error { return Policy{}.ValidateURL(ctx, raw) }

// PolicyFromEnv returns the policy that the value of stack.EnvLocalWebhookTargets selects:
// empty or unset (every deployed stack) the production policy; otherwise a comma-separated
// list of loopback IP:port pairs, such as "127.0.0.1:3001,[::1]:8080", that local development
// may also reach (see Policy.LocalTargets). It returns an error naming the variable when an
// entry is not an IP literal with a port, is written IPv4-mapped or with a zone, or is not a
// loopback address.
func PolicyFromEnv(value string) (Policy, error) {
	var p Policy
	for s := range strings.SplitSeq(value, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(s)
		a := ap.Addr()
		var problem string
		switch {
		case err != nil:
			problem = "is not an IP:port pair (an IP literal, not a host name, with its port)"
		case ap.Port() == 0:
			problem = "has port 0; give the port the local server listens on"
		case a.Is4In6() || a.Zone() != "":
			problem = "must be written plainly, without IPv4 mapping or zone (as 127.0.0.1:port or [::1]:port)"
		case !a.IsLoopback():
			problem = "is not a loopback address; the list admits local development targets only, and deployed stacks leave it unset"
		default:
			p.LocalTargets = append(p.LocalTargets, ap)
			continue
		}
		return Policy{}, fmt.Errorf("environment variable %s: %q %s", stack.EnvLocalWebhookTargets, clip(s), problem)
	}
	return p, nil
}

// ValidateURL checks a webhook URL when a destination is configured: it must be an absolute
// https URL of at most 2048 bytes, without user info or fragment, and its host must be an IP
// literal or a name that resolves, every address of it being public unicast (not loopback,
// private, link-local, metadata, CGNAT, multicast or reserved); "localhost" and its
// subdomains are always refused. The one exception is a URL whose IP literal and port are one
// of p.LocalTargets, which may also use plain http. It returns a *phi.Error with code EINVALID
// whose message says what to change and which wraps ErrUnsafeURL. The delivery function checks
// the address again at connection time (Policy.Dialer), so a name that later resolves
// elsewhere (DNS rebinding) is still refused.
func (p Policy) ValidateURL(ctx context.Context, raw string) error {
	t, err := p.parse(raw)
	if err != nil {
		return err
	}
	switch {
	case t.local:
		return nil
	case t.addr.IsValid():
		return p.checkAddr(t.addr)
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", t.host)
	if err != nil || len(addrs) == 0 {
		return invalid("the webhook host %q does not resolve; use a public host name", clip(t.host))
	}
	for _, a := range addrs {
		if err := p.checkAddr(a); err != nil {
			return err
		}
	}
	return nil
}

// target is a webhook URL that passed parse.
type target struct {
	host  string     // the URL's host name or IP literal, without port or brackets
	addr  netip.Addr // the IP literal; invalid when host is a name
	local bool       // the IP literal and port are one of the policy's LocalTargets
}

// parse checks the URL's form, without resolving it: everything ValidateURL refuses without a
// look at the network.
func (p Policy) parse(raw string) (target, error) {
	if raw == "" {
		return target{}, invalid("the webhook URL is required for a webhook destination; use https://host/path")
	}
	if len(raw) > maxURLLen {
		return target{}, invalid("the webhook URL is longer than %d bytes", maxURLLen)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return target{}, invalid("the webhook URL is not a URL; use https://host/path")
	case !u.IsAbs() || u.Opaque != "":
		return target{}, invalid("the webhook URL is not an absolute URL; use https://host/path")
	case u.Scheme != "https" && u.Scheme != "http":
		return target{}, invalid("the webhook URL must be an https:// URL, not %s", clip(u.Scheme))
	case u.Hostname() == "":
		return target{}, invalid("the webhook URL has no host; use https://host/path")
	case u.User != nil:
		return target{}, invalid("the webhook URL must not carry credentials (a user name or password); receivers authenticate deliveries by the %s header", HeaderSignature)
	case strings.Contains(raw, "#"):
		return target{}, invalid("the webhook URL must not have a #fragment")
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	default:
		port = "80"
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return target{}, invalid("the webhook URL's port %s is not a port number (1 to 65535)", clip(port))
	}
	t := target{host: u.Hostname()}
	if a, err := netip.ParseAddr(t.host); err == nil {
		t.addr = a
		t.local = p.listed(netip.AddrPortFrom(a, uint16(n)))
	}
	switch {
	case u.Scheme == "http" && !t.local:
		return target{}, invalid("the webhook URL must be an https:// URL%s", p.localHint("plain http is allowed only for"))
	case isLocalhost(t.host):
		return target{}, invalid("the webhook URL must not point at localhost%s", p.localHint("local development may name only"))
	}
	return t, nil
}

// listed reports whether ap is exactly one of the policy's loopback LocalTargets.
func (p Policy) listed(ap netip.AddrPort) bool {
	for _, t := range p.LocalTargets {
		if t == ap && t.Addr().IsLoopback() {
			return true
		}
	}
	return false
}

// localHint returns, for a policy with LocalTargets, a clause that completes a refusal by
// naming the targets after lead; "" for the production policy, whose users cannot change it.
func (p Policy) localHint(lead string) string {
	if len(p.LocalTargets) == 0 {
		return ""
	}
	names := make([]string, len(p.LocalTargets))
	for i, t := range p.LocalTargets {
		names[i] = t.String()
	}
	return fmt.Sprintf("; %s the local targets listed in %s (%s)", lead, stack.EnvLocalWebhookTargets, strings.Join(names, ", "))
}

// isLocalhost reports whether host is a name reserved for loopback (RFC 6761).
func isLocalhost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}

// checkAddr refuses an address a webhook must not reach. A listed local target never gets
// here: parse admits it by its IP literal and port, which an address alone does not carry.
func (p Policy) checkAddr(a netip.Addr) error {
	if reason := blocked(a); reason != "" {
		hint := ""
		if reason == "loopback" {
			hint = p.localHint("local development may reach only")
		}
		return invalid("the webhook URL resolves to a %s address, which webhooks may not reach; use a public address%s", reason, hint)
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
// when the destination was configured cannot be re-pointed at an internal one. A loopback
// address is reached only at one of LocalTargets' exact IP:port pairs (an IPv4-mapped address
// counting as its IPv4 form). A refusal wraps ErrUnsafeURL.
func (p Policy) Dialer() *net.Dialer {
	return &net.Dialer{
		Control: func(_, address string, _ syscall.RawConn) error { return p.checkDial(address) },
	}
}

// checkDial is the Dialer's check of the address about to be connected to.
func (p Policy) checkDial(address string) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse the address being dialed", ErrUnsafeURL)
	}
	if p.listed(netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())) {
		return nil
	}
	if reason := blocked(ap.Addr()); reason != "" {
		return fmt.Errorf("%w: the webhook host resolved to a %s address", ErrUnsafeURL, reason)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return &phi.Error{Code: phi.EINVALID, Message: fmt.Sprintf(format, args...), Err: ErrUnsafeURL,
		Details: map[string]string{"field": "settings.url"}}
}

func clip(s string) string { return phi.Clip(s, 64) }
