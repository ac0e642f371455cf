//go:build interop

package netns

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// nftTable is the director's counting table: the input chain counts the
// client's packets to port 21, to the passive range, and everything else
// the client sends to the director (which must stay 0). It only counts
// and accepts; it filters nothing.
const nftTable = "algd_test"

// nftRuleset returns the nft -f text for the client's IPv4 and IPv6
// addresses and the passive range. "active" counts the client's side of
// the data connections algd opened to it (replies to algd's connects
// from port 20, conntrack's reply direction); the client cannot open
// anything there.
func nftRuleset(client, client6 string, first, last uint16) string {
	return fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority 0; policy accept;
		ip saddr %[2]s tcp dport 21 counter accept comment "control"
		ip saddr %[2]s tcp dport %[3]d-%[4]d counter accept comment "passive"
		ip saddr %[2]s tcp dport 20 ct direction reply counter accept comment "active"
		ip saddr %[2]s counter accept comment "other"
		ip6 saddr %[5]s tcp dport 21 counter accept comment "control6"
		ip6 saddr %[5]s tcp dport %[3]d-%[4]d counter accept comment "passive6"
		ip6 saddr %[5]s tcp dport 20 ct direction reply counter accept comment "active6"
		ip6 saddr %[5]s meta l4proto tcp counter accept comment "other6"
	}
}
`, nftTable, client, first, last, client6)
}

// loadNft installs the counting table in namespace ns.
func loadNft(t *testing.T, ns, ruleset string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(ruleset)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f in %s: %v\n%s\n%s", ns, err, out, ruleset)
	}
}

// nftCounters returns packets per rule comment of the counting table.
func nftCounters(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", nftTable).Output()
	if err != nil {
		t.Fatalf("nft list in %s: %v", ns, err)
	}
	c, err := parseCounters(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return c
}

// parseCounters reads `nft -j list table` output: each rule's comment and
// the packets of its counter expression.
func parseCounters(js []byte) (map[string]int64, error) {
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("nft json: %w", err)
	}
	out := map[string]int64{}
	for _, o := range doc.Nftables {
		if o.Rule == nil {
			continue
		}
		for _, e := range o.Rule.Expr {
			var ce struct {
				Counter *struct {
					Packets int64 `json:"packets"`
				} `json:"counter"`
			}
			if json.Unmarshal(e, &ce) == nil && ce.Counter != nil {
				out[o.Rule.Comment] = ce.Counter.Packets
			}
		}
	}
	return out, nil
}

func TestParseCounters(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]int64
	}{
		{"three rules", `{"nftables":[{"metainfo":{}},{"table":{"name":"t"}},
			{"rule":{"comment":"control","expr":[{"match":{}},{"counter":{"packets":12,"bytes":900}},{"accept":null}]}},
			{"rule":{"comment":"passive","expr":[{"counter":{"packets":3500,"bytes":5300000}}]}},
			{"rule":{"comment":"other","expr":[{"counter":{"packets":0,"bytes":0}}]}}]}`,
			map[string]int64{"control": 12, "passive": 3500, "other": 0}},
		{"rule without counter", `{"nftables":[{"rule":{"comment":"x","expr":[{"accept":null}]}}]}`, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCounters([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parseCounters = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := parseCounters([]byte("not json")); err == nil {
		t.Error("parseCounters accepted garbage")
	}
}
