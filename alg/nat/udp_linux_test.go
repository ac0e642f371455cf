//go:build linux && interop

package nat

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/algd/algd/alg"
)

// recvFrom reads one datagram within 5 s.
func recvFrom(t testing.TB, c *net.UDPConn) ([]byte, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("%s: %v", c.LocalAddr(), err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// silent checks that c receives nothing for a while.
func silent(t testing.TB, c *net.UDPConn, what string) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, from, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Errorf("%s: got %q from %s", what, buf[:n], from)
	}
}

// TestUDPPersistent maps a media pair as RTSP does, both ways, each the
// other's mirror image: the client's datagrams to the VIP port reach
// the realserver from the backend port and the realserver's to the
// backend port reach the client from the VIP port, whichever side sends
// first; the mapping forwards every datagram until Cut, counts them,
// and after Cut nothing is forwarded.
func TestUDPPersistent(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	for i, f := range families {
		for _, realFirst := range []bool{false, true} {
			name := f.name + "/client-first"
			if realFirst {
				name = f.name + "/realserver-first"
			}
			t.Run(name, func(t *testing.T) {
				n := uint16(i*10 + len(name))
				client := netip.AddrPortFrom(f.client, 5000+n)
				vip := netip.AddrPortFrom(f.vip, 7000+n)
				backend := netip.AddrPortFrom(f.dirR, 7100+n)
				real := netip.AddrPortFrom(f.real, 6000+n)
				cs, rs := listenUDP(t, tp.client, client), listenUDP(t, tp.real, real)
				var ms []alg.Mapped
				var evs []*events
				for _, m := range []alg.Mapping{
					{Proto: alg.UDP, From: client, Dst: vip, To: real, Source: backend},
					{Proto: alg.UDP, From: real, Dst: backend, To: client, Source: vip},
				} {
					m.Persistent, m.Timeout = true, 10*time.Second
					ev, kev := newEvents()
					m.Events = kev
					mp, err := tb.Map(m)
					if err != nil {
						t.Fatal(err)
					}
					ms, evs = append(ms, mp), append(evs, ev)
				}
				first, second := 0, 1
				if realFirst {
					first, second = 1, 0
				}
				const rounds = 50
				var sent [2]int
				for k := range rounds {
					up := bytes.Repeat([]byte{byte(k)}, 100+k)
					down := bytes.Repeat([]byte{byte(k)}, 1000+k)
					if realFirst {
						if _, err := rs.WriteToUDPAddrPort(down, backend); err != nil {
							t.Fatal(err)
						}
						got, from := recvFrom(t, cs)
						if !bytes.Equal(got, down) || from != vip {
							t.Fatalf("client got %d bytes from %s, want %d from %s", len(got), from, len(down), vip)
						}
					}
					if _, err := cs.WriteToUDPAddrPort(up, vip); err != nil {
						t.Fatal(err)
					}
					got, from := recvFrom(t, rs)
					if !bytes.Equal(got, up) || from != backend {
						t.Fatalf("realserver got %d bytes from %s, want %d from %s", len(got), from, len(up), backend)
					}
					if !realFirst {
						if _, err := rs.WriteToUDPAddrPort(down, backend); err != nil {
							t.Fatal(err)
						}
						got, from := recvFrom(t, cs)
						if !bytes.Equal(got, down) || from != vip {
							t.Fatalf("client got %d bytes from %s, want %d from %s", len(got), from, len(down), vip)
						}
					}
					sent[0] += len(up)
					sent[1] += len(down)
				}
				within(t, evs[first].connected, "Connected of the first mapping")
				c, err := ms[first].Counters()
				if err != nil {
					t.Fatal(err)
				}
				// One flow, made by the first sender's mapping: its
				// original direction is that sender's.
				up, down := sent[0], sent[1]
				if realFirst {
					up, down = down, up
				}
				if c.OrigPackets != rounds || c.ReplyPackets != rounds {
					t.Errorf("counters %+v: want %d packets each way", c, rounds)
				}
				checkCounters(t, c, up, down, 0, 0)
				if c2, err := ms[second].Counters(); err != nil || c2 != (alg.Counters{}) {
					t.Errorf("the mirror mapping counted %+v, %v: no flow of its own", c2, err)
				}
				for _, m := range ms {
					if err := m.Cut(); err != nil {
						t.Fatal(err)
					}
				}
				end := within(t, evs[first].ended, "Ended after Cut")
				if end.OrigPackets != rounds {
					t.Errorf("Ended %+v", end)
				}
				cs.WriteToUDPAddrPort([]byte("after cut"), vip)
				silent(t, rs, "realserver after Cut")
				rs.WriteToUDPAddrPort([]byte("after cut"), backend)
				silent(t, cs, "client after Cut")
			})
		}
	}
}

// TestPersistentRenewed: a Persistent mapping's elements outlive their
// timeout while a flow of theirs lives, and a mapping without flows
// expires after it.
func TestPersistentRenewed(t *testing.T) {
	tp := newTopology(t)
	tb := openTable(t, tp, Options{})
	f := families[0]
	client := netip.AddrPortFrom(f.client, 5500)
	vip := netip.AddrPortFrom(f.vip, 7500)
	real := netip.AddrPortFrom(f.real, 6500)
	cs, rs := listenUDP(t, tp.client, client), listenUDP(t, tp.real, real)
	const timeout = 3 * time.Second // renewed at half of it: room for a loaded machine
	mustMap(t, tb, alg.Mapping{Proto: alg.UDP, From: client, Dst: vip, To: real,
		Source: netip.AddrPortFrom(f.dirR, 7600), Persistent: true, Timeout: timeout})
	mustMap(t, tb, alg.Mapping{Proto: alg.UDP, From: netip.AddrPortFrom(f.client, 5501), Dst: netip.AddrPortFrom(f.vip, 7501), To: real,
		Source: netip.AddrPortFrom(f.dirR, 7601), Persistent: true, Timeout: timeout})
	for end := time.Now().Add(5 * timeout / 2); time.Now().Before(end); {
		if _, err := cs.WriteToUDPAddrPort([]byte("rtp"), vip); err != nil {
			t.Fatal(err)
		}
		recvFrom(t, rs)
		time.Sleep(100 * time.Millisecond)
	}
	// Only the flowing mapping's two elements are left.
	if n := elements(t, tp, DefaultTable); n != 2 {
		t.Errorf("%d elements after 2.5 timeouts, want the flowing mapping's 2", n)
	}
}
