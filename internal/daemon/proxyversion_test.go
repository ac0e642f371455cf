package daemon

import "testing"

// TestProxyVersion maps the configuration words to header versions.
func TestProxyVersion(t *testing.T) {
	for in, want := range map[string]byte{"v1": 1, "v2": 2, "off": 0, "": 0, "v3": 0} {
		if got := proxyVersion(in); got != want {
			t.Errorf("proxyVersion(%q) = %d, want %d", in, got, want)
		}
	}
}
