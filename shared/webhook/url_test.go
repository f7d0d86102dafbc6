package webhook

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/phiguard/phiguard/shared/phi"
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
		insecure  bool
		ok        bool
	}{
		{"a public https host is allowed", "https://hooks.example.com/in?x=1", false, true},
		{"a host with public IPv4 and IPv6 addresses is allowed", "https://dual.example.com/in", false, true},
		{"a public IP literal is allowed", "https://93.184.215.14:8443/in", false, true},
		{"plain http is refused", "http://hooks.example.com/in", false, false},
		{"another scheme is refused", "ftp://hooks.example.com/in", false, false},
		{"a relative URL is refused", "/in", false, false},
		{"an empty URL is refused", "", false, false},
		{"user info is refused", "https://user:pw@hooks.example.com/in", false, false},
		{"127.0.0.1 is refused", "https://127.0.0.1/in", false, false},
		{"any of 127/8 is refused", "https://127.9.9.9/in", false, false},
		{"10.x is refused", "https://10.0.0.1/in", false, false},
		{"172.16/12 is refused", "https://172.20.1.1/in", false, false},
		{"192.168/16 is refused", "https://192.168.1.1/in", false, false},
		{"the cloud metadata address is refused", "https://169.254.169.254/latest/meta-data/", false, false},
		{"CGNAT space is refused", "https://100.100.100.200/", false, false},
		{"0.0.0.0 is refused", "https://0.0.0.0/", false, false},
		{"::1 is refused", "https://[::1]/in", false, false},
		{"fd00::/8 (unique local, the AWS IPv6 metadata range) is refused", "https://[fd00:ec2::254]/", false, false},
		{"fe80:: link-local is refused", "https://[fe80::1]/", false, false},
		{"an IPv4-mapped loopback is refused", "https://[::ffff:127.0.0.1]/", false, false},
		{"NAT64 of a private address is refused", "https://[64:ff9b::a00:1]/", false, false},
		{"6to4 of a private address is refused", "https://[2002:c0a8:101::1]/", false, false},
		{"localhost is refused", "https://localhost:8443/in", false, false},
		{"a host name resolving to loopback is refused", "https://loop.example.com/in", false, false},
		{"a host name resolving to a private address is refused", "https://internal.corp/in", false, false},
		{"a host with one loopback address among public ones is refused", "https://rebind.example.com/in", false, false},
		{"a host that does not resolve is refused", "https://nowhere.example.com/in", false, false},
		{"the insecure flag allows http to loopback", "http://127.0.0.1:8080/in", true, true},
		{"the insecure flag allows http to localhost", "http://localhost:8080/in", true, true},
		{"the insecure flag still refuses http to a public host", "http://hooks.example.com/in", true, false},
		{"the insecure flag still refuses private addresses", "https://10.0.0.1/in", true, false},
		{"the insecure flag still refuses the metadata address", "http://169.254.169.254/", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := Policy{AllowInsecureLoopback: tt.insecure, Resolver: resolver}.ValidateURL(context.Background(), tt.url)
			if tt.ok {
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
		})
	}
}

func TestBlockedLeavesPublicAddressesAlone(t *testing.T) {
	for _, a := range []string{"8.8.8.8", "1.1.1.1", "52.94.236.248", "2001:4860:4860::8888", "64:ff9b::808:808"} {
		if r := blocked(netip.MustParseAddr(a)); r != "" {
			t.Errorf("%s blocked as %s", a, r)
		}
	}
}

func TestPolicyFromEnvAdmitsLoopbackOnlyWhenAskedExplicitly(t *testing.T) {
	for value, want := range map[string]bool{"": false, "false": false, "true": true} {
		p, err := PolicyFromEnv(value)
		if err != nil || p.AllowInsecureLoopback != want {
			t.Errorf("PolicyFromEnv(%q) = %+v, %v; want AllowInsecureLoopback %v", value, p, err, want)
		}
	}
	for _, value := range []string{"1", "yes", "TRUE"} {
		if _, err := PolicyFromEnv(value); err == nil {
			t.Errorf("PolicyFromEnv(%q) accepted an ambiguous value", value)
		}
	}
}
