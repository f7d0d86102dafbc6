package webhook

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
	"github.com/phiguard/phiguard/shared/stack"
)

// fakeResolver answers from a table, so the tests never use the network.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, a := range f[host] {
		out = append(out, netip.MustParseAddr(a))
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

var resolver = fakeResolver{
	"hooks.example.com":  {"93.184.215.14"},
	"dual.example.com":   {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
	"rebind.example.com": {"93.184.215.14", "127.0.0.1"},
	"internal.corp":      {"10.1.2.3"},
	"loop.example.com":   {"127.0.0.1"},
}

func TestValidateURLRefusesUnsafeWebhookTargets(t *testing.T) {
	for _, tt := range []struct {
		name, url string
		ok        bool
	}{
		{"a public https host is allowed", "https://hooks.example.com/in?x=1", true},
		{"a host with public IPv4 and IPv6 addresses is allowed", "https://dual.example.com/in", true},
		{"a public IP literal is allowed", "https://93.184.215.14:8443/in", true},
		{"plain http is refused", "http://hooks.example.com/in", false},
		{"another scheme is refused", "ftp://hooks.example.com/in", false},
		{"a relative URL is refused", "/in", false},
		{"an empty URL is refused", "", false},
		{"user info is refused", "https://user:pw@hooks.example.com/in", false},
		{"127.0.0.1 is refused", "https://127.0.0.1/in", false},
		{"any of 127/8 is refused", "https://127.9.9.9/in", false},
		{"10.x is refused", "https://10.0.0.1/in", false},
		{"172.16/12 is refused", "https://172.20.1.1/in", false},
		{"192.168/16 is refused", "https://192.168.1.1/in", false},
		{"the cloud metadata address is refused", "https://169.254.169.254/latest/meta-data/", false},
		{"CGNAT space is refused", "https://100.100.100.200/", false},
		{"0.0.0.0 is refused", "https://0.0.0.0/", false},
		{"::1 is refused", "https://[::1]/in", false},
		{"fd00::/8 (unique local, the AWS IPv6 metadata range) is refused", "https://[fd00:ec2::254]/", false},
		{"fe80:: link-local is refused", "https://[fe80::1]/", false},
		{"an IPv4-mapped loopback is refused", "https://[::ffff:127.0.0.1]/", false},
		{"an IPv4-mapped private address is refused", "https://[::ffff:192.168.1.1]/", false},
		{"NAT64 of a private address is refused", "https://[64:ff9b::a00:1]/", false},
		{"6to4 of a private address is refused", "https://[2002:c0a8:101::1]/", false},
		{"localhost is refused", "https://localhost:8443/in", false},
		{"a subdomain of localhost is refused", "https://foo.localhost/in", false},
		{"a host name resolving to loopback is refused", "https://loop.example.com/in", false},
		{"a host name resolving to a private address is refused", "https://internal.corp/in", false},
		{"a host with one loopback address among public ones is refused", "https://rebind.example.com/in", false},
		{"a host that does not resolve is refused", "https://nowhere.example.com/in", false},
		{"a port beyond 65535 is refused", "https://hooks.example.com:70000/in", false},
		{"port 0 is refused", "https://hooks.example.com:0/in", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			checkVerdict(t, Policy{Resolver: resolver}.ValidateURL(context.Background(), tt.url), tt.ok)
		})
	}
}

// In local development (make dev) the policy admits the listed local targets — the receiver,
// and servers a test registers — by IP literal and port, and nothing else local (issue 10 §4).
func TestLocalTargetsAdmitExactlyTheListedAddressAndPort(t *testing.T) {
	const receiver = "127.0.0.1:3001" // what make dev lists: its receiver's address
	for _, tt := range []struct {
		name, targets, url string
		ok                 bool
	}{
		{"the receiver's address and port are admitted", receiver, "https://127.0.0.1:3001/hooks/crm", true},
		{"plain http to the receiver's address and port is admitted", receiver, "http://127.0.0.1:3001/hooks/crm", true},
		{"another port of the receiver's address is refused", receiver, "https://127.0.0.1:3100/", false},
		{"::1 on the default port is refused", receiver, "https://[::1]/", false},
		{"::1 on the receiver's port is refused", receiver, "https://[::1]:3001/", false},
		{"localhost on another port is refused", receiver, "https://localhost:3100/", false},
		{"localhost on the receiver's port is refused: names never match a target", receiver, "https://localhost:3001/", false},
		{"an IPv4-mapped loopback on the default port is refused", receiver, "https://[::ffff:127.0.0.1]/", false},
		{"the receiver's address written IPv4-mapped is refused", receiver, "https://[::ffff:127.0.0.1]:3001/", false},
		{"a subdomain of localhost is refused", receiver, "https://foo.localhost/", false},
		{"a name resolving to the receiver's address is refused", receiver, "https://loop.example.com:3001/", false},
		{"another loopback address on the receiver's port is refused", receiver, "https://127.0.0.2:3001/", false},
		{"an unlisted http target is refused while only the receiver is listed", receiver, "http://127.0.0.1:9/h", false},
		{"an http target is admitted once a test lists it", receiver + ",127.0.0.1:9", "http://127.0.0.1:9/h", true},
		{"the default port of http counts as the listed port 80", "127.0.0.1:80", "http://127.0.0.1/h", true},
		{"the default port of https counts as the listed port 443", "127.0.0.1:443", "https://127.0.0.1/h", true},
		{"the default port of https is not a listed port 80", "127.0.0.1:80", "https://127.0.0.1/h", false},
		{"an explicit port equal to the scheme default matches", "[::1]:443", "https://[::1]:443/h", true},
		{"an IPv6 loopback target is admitted", "[::1]:8080", "http://[::1]:8080/h", true},
		{"plain http to a public host stays refused", receiver, "http://hooks.example.com/in", false},
		{"private addresses stay refused", receiver, "https://10.0.0.1/in", false},
		{"the metadata address stays refused", receiver, "http://169.254.169.254/", false},
		{"public hosts stay allowed", receiver, "https://hooks.example.com/in", true},
		{"user info on a listed target is refused", receiver, "https://u:p@127.0.0.1:3001/", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PolicyFromEnv(tt.targets)
			if err != nil {
				t.Fatal(err)
			}
			p.Resolver = resolver
			checkVerdict(t, p.ValidateURL(context.Background(), tt.url), tt.ok)
		})
	}
}

// ValidateURL is the one URL check of the config API: its refusals say what is wrong in the
// terms the API used before (required, too long, not a URL, https, no host, credentials,
// fragment), and name settings.url.
func TestValidateURLSaysWhatToChange(t *testing.T) {
	local := Policy{LocalTargets: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:3001")}, Resolver: resolver}
	for _, tt := range []struct {
		name   string
		policy Policy
		url    string
		says   []string
	}{
		{"an empty URL is required", Policy{}, "", []string{"is required for a webhook destination"}},
		{"an overlong URL is too long", Policy{}, "https://hooks.example.com/" + strings.Repeat("a", maxURLLen), []string{"longer than 2048"}},
		{"an unparsable URL is not a URL", Policy{}, "https://hooks.example.com/%zz", []string{"is not a URL"}},
		{"a host without scheme is not absolute", Policy{}, "hooks.example.com/in", []string{"not an absolute URL"}},
		{"plain http must be https", Policy{}, "http://hooks.example.com/in", []string{"must be an https:// URL"}},
		{"another scheme must be https", Policy{}, "ftp://hooks.example.com/in", []string{"must be an https:// URL", "ftp"}},
		{"a URL without host has no host", Policy{}, "https:///in", []string{"has no host"}},
		{"a port without host has no host", Policy{}, "https://:443/in", []string{"has no host"}},
		{"user info is credentials", Policy{}, "https://user:pw@hooks.example.com/in", []string{"must not carry credentials"}},
		{"a fragment is refused", Policy{}, "https://hooks.example.com/in#top", []string{"must not have a #fragment"}},
		{"an empty fragment is refused", Policy{}, "https://hooks.example.com/in#", []string{"#fragment"}},
		{"loopback says loopback", Policy{}, "https://127.0.0.1:8443/hook", []string{"loopback"}},
		{"localhost says localhost", Policy{}, "https://localhost:8443/hook", []string{"localhost"}},
		{"a private address says private", Policy{}, "https://[::ffff:192.168.1.1]/hook", []string{"private"}},
		{"the metadata address says link-local", Policy{}, "https://169.254.169.254/", []string{"link-local"}},
		{"in local development a loopback refusal names the listed targets", local, "https://127.0.0.1:3100/",
			[]string{"loopback", stack.EnvLocalWebhookTargets, "127.0.0.1:3001"}},
		{"in local development an http refusal names the listed targets", local, "http://127.0.0.1:9/h",
			[]string{"https://", "127.0.0.1:3001"}},
		{"in local development a localhost refusal names the listed targets", local, "https://localhost:3001/",
			[]string{"localhost", "127.0.0.1:3001"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.ValidateURL(context.Background(), tt.url)
			checkVerdict(t, err, false)
			msg := phi.ErrorMessage(err)
			for _, want := range tt.says {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q does not say %q", msg, want)
				}
			}
			if d, _ := phi.ErrorDetails(err).(map[string]string); d["field"] != "settings.url" {
				t.Errorf("error details %v do not name settings.url", phi.ErrorDetails(err))
			}
		})
	}
	if msg := phi.ErrorMessage(Policy{Resolver: resolver}.ValidateURL(context.Background(), "http://127.0.0.1:9/h")); strings.Contains(msg, stack.EnvLocalWebhookTargets) {
		t.Errorf("the production policy's refusal %q points at a local development setting", msg)
	}
}

// checkVerdict fails unless err is nil when ok, and otherwise an EINVALID phi.Error with a
// message that wraps ErrUnsafeURL.
func checkVerdict(t *testing.T, err error, ok bool) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatal("accepted")
	}
	if !errors.Is(err, ErrUnsafeURL) || phi.ErrorCode(err) != phi.EINVALID || phi.ErrorMessage(err) == "" {
		t.Fatalf("error %v should be an EINVALID phi.Error wrapping ErrUnsafeURL", err)
	}
}

// The delivery function's dialer applies the same policy after resolution: a loopback address
// is reached only at a listed target's exact IP:port.
func TestTheDialerReachesLoopbackOnlyAtAListedTarget(t *testing.T) {
	p, err := PolicyFromEnv("127.0.0.1:3001,[::1]:8080")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, address string
		ok            bool
	}{
		{"a listed IPv4 target is reached", "127.0.0.1:3001", true},
		{"a listed IPv6 target is reached", "[::1]:8080", true},
		{"a listed target dialed IPv4-mapped is reached", "[::ffff:127.0.0.1]:3001", true},
		{"another port of a listed address is refused", "127.0.0.1:3002", false},
		{"another loopback address on a listed port is refused", "127.0.0.2:3001", false},
		{"::1 on the IPv4 target's port is refused", "[::1]:3001", false},
		{"an IPv4-mapped loopback on another port is refused", "[::ffff:127.0.0.1]:9", false},
		{"a private address is refused", "10.0.0.1:3001", false},
		{"the metadata address is refused", "169.254.169.254:80", false},
		{"a public address is reached", "93.184.215.14:443", true},
		{"an unparsable address is refused", "somewhere:443", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := p.checkDial(tt.address)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrUnsafeURL)) {
				t.Fatalf("checkDial(%s) = %v, want ok=%v", tt.address, err, tt.ok)
			}
		})
	}
	if err := (Policy{}).checkDial("127.0.0.1:3001"); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("the production policy dials loopback: %v", err)
	}
	direct := Policy{LocalTargets: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:80")}}
	if err := direct.checkDial("10.0.0.1:80"); !errors.Is(err, ErrUnsafeURL) {
		t.Errorf("a non-loopback local target is dialed: %v", err)
	}
	if err := direct.ValidateURL(context.Background(), "http://10.0.0.1/"); err == nil {
		t.Error("a non-loopback local target is admitted")
	}
}

func TestBlockedLeavesPublicAddressesAlone(t *testing.T) {
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "52.94.236.248", "2001:4860:4860::8888", "64:ff9b::808:808"} {
		if r := blocked(netip.MustParseAddr(a)); r != "" {
			t.Errorf("%s blocked as %s", a, r)
		}
	}
}

func TestPolicyFromEnvReadsAListOfLoopbackTargets(t *testing.T) {
	for _, tt := range []struct {
		name, value string
		want        []string
	}{
		{"unset is the production policy", "", nil},
		{"one target", "127.0.0.1:3001", []string{"127.0.0.1:3001"}},
		{"several targets, spaces and empty entries ignored", " 127.0.0.1:3001, [::1]:8080,,127.0.0.5:9 ,", []string{"127.0.0.1:3001", "[::1]:8080", "127.0.0.5:9"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := PolicyFromEnv(tt.value)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ap := range p.LocalTargets {
				got = append(got, ap.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("LocalTargets = %v, want %v", got, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, value, says string }{
		{"the old boolean switch", "true", "not an IP:port pair"},
		{"a host name", "localhost:3001", "not an IP:port pair"},
		{"an address without port", "127.0.0.1", "not an IP:port pair"},
		{"a URL", "https://127.0.0.1:3001/", "not an IP:port pair"},
		{"port 0", "127.0.0.1:0", "port 0"},
		{"an IPv4-mapped address", "[::ffff:127.0.0.1]:3001", "IPv4 mapping"},
		{"an address with a zone", "[::1%lo]:3001", "zone"},
		{"a private address", "10.0.0.5:3001", "not a loopback address"},
		{"a public address", "93.184.215.14:443", "not a loopback address"},
		{"the unspecified address", "0.0.0.0:3001", "not a loopback address"},
		{"a bad entry after a good one", "127.0.0.1:3001,192.168.1.1:80", "192.168.1.1:80"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			_, err := PolicyFromEnv(tt.value)
			if err == nil || !strings.Contains(err.Error(), stack.EnvLocalWebhookTargets) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err = %v, want one naming %s and saying %q", err, stack.EnvLocalWebhookTargets, tt.says)
			}
		})
	}
}
