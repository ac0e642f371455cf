//go:build linux && (interop || ipvsvm)

package ipvs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// netns creates a named network namespace for the test (ip netns add) and
// returns its name and an open file descriptor. The host's own ruleset is
// never touched: every nftables call of these tests names a namespace.
func netns(t *testing.T, suffix string) (string, int) {
	t.Helper()
	name := fmt.Sprintf("algd-ipvs-%d-%s", os.Getpid(), suffix)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s (needs root): %v\n%s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return name, fd
}

func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	full := append([]string{"-n", ns}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}

func testMarks(t *testing.T) []Mark {
	c := loadTest(t, testConfig)
	return Desired(c, nil).Marks
}

// TestFirewallRoundTrip writes the table over netlink, reads it back, and
// checks idempotence, outside edits and deletion, in a fresh namespace.
func TestFirewallRoundTrip(t *testing.T) {
	_, fd := netns(t, "rt")
	fw, err := NewFirewall(fd)
	if err != nil {
		t.Fatal(err)
	}
	if _, exists, _, err := fw.Marks("algd"); err != nil || exists {
		t.Fatalf("fresh namespace: exists %v err %v", exists, err)
	}
	want := testMarks(t)
	for range 2 { // the second Replace replaces an existing table
		if err := fw.Replace("algd", want); err != nil {
			t.Fatal(err)
		}
		got, exists, ok, err := fw.Marks("algd")
		if err != nil || !exists || !ok || !slices.Equal(got, want) {
			t.Fatalf("read back %v/%v %v:\n%+v\nwant\n%+v", exists, ok, err, got, want)
		}
	}

	// An outside edit: a rule added by hand to the owned chain.
	c, _ := nftables.New(nftables.WithNetNSFd(fd))
	tb := table("algd")
	c.AddRule(&nftables.Rule{Table: tb, Chain: chain(tb), Exprs: []expr.Any{&expr.Counter{}},
		UserData: userdata.AppendString(nil, userdata.TypeComment, "hand-made")})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := fw.Marks("algd"); ok || err != nil {
		t.Errorf("table with a foreign rule reported ok (err %v)", err)
	}
	// A rule whose comment still matches but whose expression was changed.
	m := want[0]
	m.Mark = 77
	c.FlushTable(tb)
	c.AddRule(&nftables.Rule{Table: tb, Chain: chain(tb), Exprs: markExprs(m),
		UserData: userdata.AppendString(nil, userdata.TypeComment, ruleComment(want[0]))})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := fw.Marks("algd"); ok {
		t.Error("rule with a changed mark reported ok")
	}

	if err := fw.Delete("algd"); err != nil {
		t.Fatal(err)
	}
	if err := fw.Delete("algd"); err != nil {
		t.Errorf("deleting a missing table: %v", err)
	}
	if _, exists, _, _ := fw.Marks("algd"); exists {
		t.Error("table still there after Delete")
	}
}

// TestFirewallMatchesNFT loads the plan's nft -f script with the nft
// command and reads it back through Firewall: the netlink rules and the
// printed script must be the same rules.
func TestFirewallMatchesNFT(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatalf("nft command needed: %v", err)
	}
	name, fd := netns(t, "nft")
	c := loadTest(t, testConfig)
	st := Desired(c, nil)
	var script strings.Builder
	if err := WriteNFT(&script, st); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s\n%s", err, out, script.String())
	}
	fw, err := NewFirewall(fd)
	if err != nil {
		t.Fatal(err)
	}
	got, exists, ok, err := fw.Marks(st.Table)
	if err != nil || !exists || !ok || !slices.Equal(got, st.Marks) {
		t.Errorf("nft's table read back %v/%v %v:\n%+v\nwant\n%+v", exists, ok, err, got, st.Marks)
	}
	// And the other way: what algd writes, nft lists as the plan says.
	if err := fw.Replace(st.Table, st.Marks); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "netns", "exec", name, "nft", "list", "table", "inet", st.Table).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list: %v\n%s", err, out)
	}
	for _, m := range st.Marks {
		rule := strings.Replace(RuleText(m), "counter", "counter packets 0 bytes 0", 1)
		if !strings.Contains(string(out), rule) {
			t.Errorf("nft list lacks %q:\n%s", rule, out)
		}
	}
}

// TestFirewallMarksTraffic sends packets from a client namespace to the
// VIP through a director namespace holding algd's table, and reads the
// rules' counters: each rule counts exactly the packets of its group's
// protocol and ports, and nothing else is counted.
func TestFirewallMarksTraffic(t *testing.T) {
	cl, _ := netns(t, "cl")
	dir, dirFD := netns(t, "dir")
	veth := fmt.Sprintf("av%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "-n", cl, "link", "add", veth+"c", "type", "veth", "peer", "name", veth+"d", "netns", dir).CombinedOutput(); err != nil {
		t.Fatalf("veth: %v\n%s", err, out)
	}
	ipIn(t, cl, "addr", "add", "10.231.9.2/24", "dev", veth+"c")
	ipIn(t, cl, "link", "set", veth+"c", "up")
	ipIn(t, cl, "route", "add", "default", "via", "10.231.9.1")
	ipIn(t, dir, "addr", "add", "10.231.9.1/24", "dev", veth+"d")
	ipIn(t, dir, "link", "set", veth+"d", "up")
	ipIn(t, dir, "link", "set", "lo", "up")
	for _, vip := range []string{"203.0.113.20/32", "203.0.113.53/32"} {
		ipIn(t, dir, "addr", "add", vip, "dev", "lo")
	}

	fw, err := NewFirewall(dirFD)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Replace("algd", testMarks(t)); err != nil {
		t.Fatal(err)
	}

	sends := []struct{ network, addr string }{
		{"udp", "203.0.113.20:6970"},
		{"udp", "203.0.113.20:7000"},
		{"udp", "203.0.113.20:7170"},
		{"udp", "203.0.113.20:7171"}, // outside the range: not marked
		{"udp", "203.0.113.53:53"},
		{"tcp", "203.0.113.53:53"},
		{"udp", "203.0.113.20:554"}, // udp/554 is not in the group
	}
	inNetns(t, cl, func() {
		for _, s := range sends {
			d := net.Dialer{Timeout: 2 * time.Second}
			conn, err := d.Dial(s.network, s.addr)
			if err != nil {
				if s.network == "tcp" {
					continue // refused by the director: the SYN was counted
				}
				t.Errorf("dial %s %s: %v", s.network, s.addr, err)
				continue
			}
			if s.network == "udp" {
				conn.Write([]byte("x"))
			}
			conn.Close()
		}
	})

	got := counters(t, dirFD)
	want := map[string]uint64{
		"algd group=realmedia vip=203.0.113.20 proto=tcp ports=554-554 mark=1":   0,
		"algd group=realmedia vip=203.0.113.20 proto=udp ports=6970-7170 mark=1": 3,
		"algd group=dns vip=203.0.113.53 proto=tcp ports=53-53 mark=2":           1,
		"algd group=dns vip=203.0.113.53 proto=udp ports=53-53 mark=2":           1,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("rule %q counted %d packets, want %d", k, got[k], w)
		}
	}
}

// inNetns runs f on a thread that has joined namespace ns. The thread is
// never given back to the runtime, so no other goroutine runs there.
func inNetns(t *testing.T, ns string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // not unlocked: the thread ends with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Errorf("open %s: %v", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			t.Errorf("setns %s: %v", ns, err)
			return
		}
		f()
	}()
	<-done
}

// counters returns the packet counter of each rule of table algd by
// comment.
func counters(t *testing.T, fd int) map[string]uint64 {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(fd))
	if err != nil {
		t.Fatal(err)
	}
	tb := table("algd")
	rules, err := c.GetRules(tb, chain(tb))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, r := range rules {
		text, _ := userdata.GetString(r.UserData, userdata.TypeComment)
		for _, e := range r.Exprs {
			if ctr, ok := e.(*expr.Counter); ok {
				out[text] = ctr.Packets
			}
		}
	}
	return out
}
