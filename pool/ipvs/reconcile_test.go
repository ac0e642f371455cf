package ipvs

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/algd/algd/conf"
)

// testConfig is two groups over pool "media" (10.0.0.21, .22 weight 2,
// .23) and pool "dns" on a VIP of their own.
const testConfig = `
[ipvs]
fwmark_range = "1-99"

[[pool]]
name = "media"
realservers = [{ address = "10.0.0.21:554" }, { address = "10.0.0.22:554", weight = 2 }, { address = "10.0.0.23:554" }]

[[pool]]
name = "dns"
realservers = [{ address = "10.0.1.1:53" }, { address = "10.0.1.2:53" }]

[[group]]
name = "realmedia"
vip = "203.0.113.20"
ports = ["tcp/554", "udp/6970-7170"]
fwmark = 1
pool = "media"
scheduler = "sh"
persistence = "600s"
on_down = "drain"

[[group]]
name = "dns"
vip = "203.0.113.53"
ports = ["tcp/53", "udp/53"]
pool = "dns"
scheduler = "rr"
`

func loadTest(t *testing.T, doc string) *conf.Config {
	t.Helper()
	c, err := conf.Parse([]byte(doc), "test.toml")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return c
}

// down returns Members with the named addresses down.
func down(c *conf.Config, addrs ...string) Members {
	base := ConfigMembers(c)
	return func(g *conf.Group) []Member {
		ms := base(g)
		for i := range ms {
			if slices.Contains(addrs, ms[i].Addr.String()) {
				ms[i].Up = false
			}
		}
		return ms
	}
}

func newFakes() (*Reconciler, *FakeIPVS, *FakeFirewall) {
	fi, ff := &FakeIPVS{}, &FakeFirewall{}
	return &Reconciler{IPVS: fi, Firewall: ff, Logger: slog.New(slog.DiscardHandler)}, fi, ff
}

// TestApplyFromEmpty checks the recorded calls of a first pass: services
// and destinations in configuration order, then the table.
func TestApplyFromEmpty(t *testing.T) {
	c := loadTest(t, testConfig)
	r, fi, ff := newFakes()
	if _, err := r.Apply(Desired(c, nil)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"ipvsadm -A -f 1 -s sh -p 600 -b sh-fallback",
		"ipvsadm -a -f 1 -r 10.0.0.21:0 -m -w 1",
		"ipvsadm -a -f 1 -r 10.0.0.22:0 -m -w 2",
		"ipvsadm -a -f 1 -r 10.0.0.23:0 -m -w 1",
		"ipvsadm -A -f 2 -s rr",
		"ipvsadm -a -f 2 -r 10.0.1.1:0 -m -w 1",
		"ipvsadm -a -f 2 -r 10.0.1.2:0 -m -w 1",
	}
	if got := fi.Calls(); !slices.Equal(got, want) {
		t.Errorf("ipvs calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := ff.Calls(); !slices.Equal(got, []string{"nft -f (table inet algd, 4 rules)"}) {
		t.Errorf("nft calls: %q", got)
	}
	svcs, _ := fi.Services()
	var order []string
	for _, d := range svcs[0].Dests {
		order = append(order, d.Addr.String())
	}
	if want := []string{"10.0.0.23", "10.0.0.22", "10.0.0.21"}; !slices.Equal(order, want) {
		t.Errorf("kernel order %q, want reverse configuration order %q", order, want)
	}
}

func TestApplyDiffs(t *testing.T) {
	c := loadTest(t, testConfig)
	tests := []struct {
		name    string
		members Members
		edit    func(fi *FakeIPVS, ff *FakeFirewall) // outside edits after the first pass
		want    []string                             // ipvs calls of the second pass
		nft     []string
	}{
		{name: "idempotent"},
		{name: "drain on down (sh)", members: down(c, "10.0.0.22"),
			want: []string{"ipvsadm -e -f 1 -r 10.0.0.22:0 -m -w 0"}},
		{name: "remove on down (rr)", members: down(c, "10.0.1.1"),
			want: []string{"ipvsadm -d -f 2 -r 10.0.1.1:0"}},
		{name: "outside weight edit repaired", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.UpdateDest(Service{Mark: 2}, Dest{Addr: netip.MustParseAddr("10.0.1.2"), Weight: 9})
		}, want: []string{"ipvsadm -e -f 2 -r 10.0.1.2:0 -m -w 1"}},
		{name: "outside scheduler edit repaired", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.UpdateService(Service{Mark: 2, Scheduler: "wlc"})
		}, want: []string{"ipvsadm -E -f 2 -s rr"}},
		{name: "service deleted outside is recreated", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.DelService(Service{Mark: 2})
		}, want: []string{"ipvsadm -A -f 2 -s rr", "ipvsadm -a -f 2 -r 10.0.1.1:0 -m -w 1", "ipvsadm -a -f 2 -r 10.0.1.2:0 -m -w 1"}},
		{name: "stray service in the range is deleted", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.AddService(Service{Mark: 50, Scheduler: "wlc"})
		}, want: []string{"ipvsadm -D -f 50"}},
		{name: "services outside the range are left alone", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.AddService(Service{Mark: 100, Scheduler: "wlc"})
			fi.AddService(Service{Mark: 1, IPv6: true, Scheduler: "wlc"}) // in range, other family: ours
		}, want: []string{"ipvsadm -D -f 1 -6"}},
		{name: "sh order restored", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			s := Service{Mark: 1}
			d := Dest{Addr: netip.MustParseAddr("10.0.0.21"), Weight: 1}
			fi.DelDest(s, d)
			fi.AddDest(s, d) // now at the head: the order of 22, 23, 21
		}, want: []string{
			"ipvsadm -d -f 1 -r 10.0.0.21:0", "ipvsadm -d -f 1 -r 10.0.0.23:0", "ipvsadm -d -f 1 -r 10.0.0.22:0",
			"ipvsadm -a -f 1 -r 10.0.0.21:0 -m -w 1", "ipvsadm -a -f 1 -r 10.0.0.22:0 -m -w 2", "ipvsadm -a -f 1 -r 10.0.0.23:0 -m -w 1"}},
		{name: "sh member appended at the end keeps the others", edit: func(fi *FakeIPVS, _ *FakeFirewall) {
			fi.DelDest(Service{Mark: 1}, Dest{Addr: netip.MustParseAddr("10.0.0.23")})
		}, want: []string{"ipvsadm -a -f 1 -r 10.0.0.23:0 -m -w 1"}},
		{name: "tainted table replaced", edit: func(_ *FakeIPVS, ff *FakeFirewall) { ff.Taint("algd") },
			nft: []string{"nft -f (table inet algd, 4 rules)"}},
		{name: "deleted table rewritten", edit: func(_ *FakeIPVS, ff *FakeFirewall) { ff.Delete("algd") },
			nft: []string{"nft -f (table inet algd, 4 rules)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fi, ff := newFakes()
			if _, err := r.Apply(Desired(c, nil)); err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				tt.edit(fi, ff)
			}
			fi.Calls()
			ff.Calls()
			if _, err := r.Apply(Desired(c, tt.members)); err != nil {
				t.Fatal(err)
			}
			if got := fi.Calls(); !slices.Equal(got, tt.want) {
				t.Errorf("ipvs calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if got := ff.Calls(); !slices.Equal(got, tt.nft) {
				t.Errorf("nft calls %q, want %q", got, tt.nft)
			}
			// A third pass has nothing left to do.
			if ch, err := r.Apply(Desired(c, tt.members)); err != nil || !ch.Zero() {
				t.Errorf("third pass: %+v %v", ch, err)
			}
		})
	}
}

// TestApplyFailureMidway fails one call of the first pass and checks that
// nothing is marked for an incomplete service, and that the next pass
// completes the state.
func TestApplyFailureMidway(t *testing.T) {
	c := loadTest(t, testConfig)
	tests := []struct {
		name      string
		fail      string // call prefix to fail once
		wantTable bool   // after the failed pass
		wantSvcs  int    // after the failed pass
	}{
		{"second destination", "ipvsadm -a -f 1 -r 10.0.0.22:0", false, 1}, // dns is complete, realmedia undone
		{"second service", "ipvsadm -A -f 2", false, 1},
		{"table", "nft -f", false, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, fi, ff := newFakes()
			failed := false
			fail := func(call string) error {
				if !failed && strings.HasPrefix(call, tt.fail) {
					failed = true
					return errors.New("injected")
				}
				return nil
			}
			fi.Fail, ff.Fail = fail, fail
			if _, err := r.Apply(Desired(c, nil)); err == nil || !failed {
				t.Fatalf("pass with a failure returned %v (failed %v)", err, failed)
			}
			_, exists, _, _ := ff.Marks("algd")
			svcs, _ := fi.Services()
			if exists != tt.wantTable || len(svcs) != tt.wantSvcs {
				t.Errorf("after the failure: table %v services %d, want %v %d", exists, len(svcs), tt.wantTable, tt.wantSvcs)
			}
			for _, s := range svcs {
				if s.Mark == 1 && len(s.Dests) != 3 {
					t.Errorf("half-built service left: %+v", s)
				}
			}
			if _, err := r.Apply(Desired(c, nil)); err != nil {
				t.Fatalf("repair pass: %v", err)
			}
			svcs, _ = fi.Services()
			marks, exists, ok, _ := ff.Marks("algd")
			if len(svcs) != 2 || !exists || !ok || len(marks) != 4 {
				t.Errorf("after repair: %d services, table %v/%v with %d rules", len(svcs), exists, ok, len(marks))
			}
		})
	}
}

// TestRemoveOwnedOnly checks cleanup: the table and the range, nothing else.
func TestRemoveOwnedOnly(t *testing.T) {
	c := loadTest(t, testConfig)
	r, fi, ff := newFakes()
	if _, err := r.Apply(Desired(c, nil)); err != nil {
		t.Fatal(err)
	}
	fi.AddService(Service{Mark: 500, Scheduler: "rr"})
	ff.Replace("other", []Mark{{Group: "x"}})
	fi.Calls()
	if _, err := r.Remove("algd", c.IPVS.Marks); err != nil {
		t.Fatal(err)
	}
	got := fi.Calls()
	if want := []string{"ipvsadm -D -f 1", "ipvsadm -D -f 2"}; !slices.Equal(got, want) {
		t.Errorf("calls %q, want %q", got, want)
	}
	svcs, _ := fi.Services()
	if len(svcs) != 1 || svcs[0].Mark != 500 {
		t.Errorf("left %+v, want only fwmark 500", svcs)
	}
	if _, exists, _, _ := ff.Marks("algd"); exists {
		t.Error("table algd still there")
	}
	if _, exists, _, _ := ff.Marks("other"); !exists {
		t.Error("table other was removed")
	}
}
