package daemon

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/tests/fakeftpd"
	ftpc "github.com/jlaffaye/ftp"
)

// balancer dials like a PROXY-speaking load balancer on 127.0.0.50: every
// connection (control and data) starts with a header naming client. With
// spoofData, data connections name spoof instead (a client trying to take
// another client's passive port through the balancer).
type balancer struct {
	version   byte
	from      string
	client    netip.Addr
	spoof     netip.Addr
	spoofData bool
	conns     atomic.Int32
	control   atomic.Pointer[net.Conn] // the first connection
}

func (b *balancer) dial(network, address string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(b.from)}, Timeout: 5 * time.Second}
	c, err := d.Dial(network, address)
	if err != nil {
		return nil, err
	}
	src := b.client
	if n := b.conns.Add(1); n == 1 {
		b.control.Store(&c)
	} else if b.spoofData {
		src = b.spoof
	}
	ap := alg.AddrPortOf(c.LocalAddr())
	if err := alg.WriteProxyHeader(c, b.version, netip.AddrPortFrom(src, ap.Port()), netip.MustParseAddrPort(address)); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// proxyConfig is a listener behind a PROXY balancer on 127.0.0.50 and a
// pool of one realserver, which gets a PROXY header when send is set.
func proxyConfig(listen, rs, version, send string) string {
	return fmt.Sprintf(`[[pool]]
name = "p"
send_proxy_protocol = %q
health = { kind = "none" }
realservers = [{ address = %q }]

[[ftp]]
name = "lb"
listen = [%q]
pool = "p"
passive_ports = "63400-63499"
proxy_protocol = %q
proxy_protocol_from = ["127.0.0.50/32"]

[limits]
data_connect_timeout = "3s"

[admin]
listen = "ADMIN"
`, send, rs, listen, version)
}

// TestProxyProtocol runs FTP through a PROXY balancer, v1 and v2: the
// header's client is the session's client (status, anti-theft), a data
// connection whose header names another client is refused as theft,
// connections from others than the balancer and balancer connections
// without a header are dropped.
func TestProxyProtocol(t *testing.T) {
	f := newFarm(t, 1<<20, "127.0.0.31")
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			version := byte(v[1] - '0')
			listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
			d := startDaemon(t, proxyConfig(listen, f.servers[0].Addr().String(), v, "off"))
			client := netip.MustParseAddr("192.0.2.10")

			// A whole transfer through the balancer, as 192.0.2.10.
			lb := &balancer{version: version, from: "127.0.0.50", client: client}
			c, err := ftpc.Dial(listen, ftpc.DialWithDialFunc(lb.dial), ftpc.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login("demo", "demo"); err != nil {
				t.Fatal(err)
			}
			st := d.waitStatus(func(st admin.Status) bool { return len(st.Live) == 1 })
			if got := st.Live[0].Client.Addr(); got != client {
				t.Errorf("session client = %v, want %v (from the header)", got, client)
			}
			if err := retrieve(c, f); err != nil {
				t.Fatalf("transfer through the balancer: %v", err)
			}
			c.Quit()

			// Spoofing on the data connection: the header names another
			// client; algd refuses it as port theft.
			spoofer := &balancer{version: version, from: "127.0.0.50", client: client,
				spoof: netip.MustParseAddr("192.0.2.66"), spoofData: true}
			c, err = ftpc.Dial(listen, ftpc.DialWithDialFunc(spoofer.dial), ftpc.DialWithTimeout(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Login("demo", "demo"); err != nil {
				t.Fatal(err)
			}
			// The realserver waits for a data connection that never comes:
			// once the theft is counted, the client hangs up.
			res := make(chan error, 1)
			go func() { res <- retrieve(c, f) }()
			d.waitStatus(func(st admin.Status) bool { return st.Listeners[0].Counters["theft"] == 1 })
			(*spoofer.control.Load()).Close()
			if err := <-res; err == nil {
				t.Error("a data connection naming another client got the file")
			}

			// Dropped: a header from a host that is not the balancer, and
			// the balancer without a header.
			for _, tc := range []struct {
				name string
				dial func(string, string) (net.Conn, error)
			}{
				{"untrusted", (&balancer{version: version, from: "127.0.0.51", client: client}).dial},
				{"no header", func(network, addr string) (net.Conn, error) {
					d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.50")}}
					return d.Dial(network, addr)
				}},
			} {
				if c, err := ftpc.Dial(listen, ftpc.DialWithDialFunc(tc.dial), ftpc.DialWithTimeout(10*time.Second)); err == nil {
					c.Quit()
					t.Errorf("%s: session served", tc.name)
				}
			}
			st = d.waitStatus(func(st admin.Status) bool { return st.Listeners[0].Counters["proxy_refused"] >= 2 })
			if st.Listeners[0].Counters["sessions"] != 2 {
				t.Errorf("sessions = %d, want 2 (the dropped connections are no sessions)", st.Listeners[0].Counters["sessions"])
			}
		})
	}
}

// retrieve downloads the farm's file on c and checks it.
func retrieve(c *ftpc.ServerConn, f *farm) error {
	resp, err := c.Retr(f.file)
	if err != nil {
		return err
	}
	defer resp.Close()
	buf := make([]byte, 1<<20+1)
	n, _ := ioReadFull(resp, buf)
	if n != 1<<20 {
		return fmt.Errorf("got %d bytes", n)
	}
	return resp.Close()
}

// TestSendProxyProtocol checks that a realserver with PROXY support learns
// the real client: the client's address as algd got it from its own
// balancer's header.
func TestSendProxyProtocol(t *testing.T) {
	for _, v := range []string{"v1", "v2"} {
		t.Run(v, func(t *testing.T) {
			version := byte(v[1] - '0')
			// A realserver that reads the header, logs the client, greets
			// and says goodbye.
			rsln, err := net.Listen("tcp", "127.0.0.32:0")
			if err != nil {
				t.Fatal(err)
			}
			defer rsln.Close()
			logged := make(chan string, 1)
			go func() {
				c, err := rsln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				h, err := alg.ReadProxyHeader(c, version)
				if err != nil {
					logged <- "error: " + err.Error()
					return
				}
				src, _, _ := h.TCPAddrs()
				logged <- src.String()
				fakeftpd.Converse(fakeftpd.NewSession(c), "220 proxied ftpd\r\n", func(s *fakeftpd.Session, verb, _, _ string) bool {
					if verb == "QUIT" {
						s.Say("221 bye")
						return false
					}
					s.Say("502 no")
					return true
				})
			}()
			listen := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
			startDaemon(t, proxyConfig(listen, rsln.Addr().String(), "v2", v))
			lb := &balancer{version: 2, from: "127.0.0.50", client: netip.MustParseAddr("198.51.100.7")}
			c, err := lb.dial("tcp", listen)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			want := fmt.Sprintf("198.51.100.7:%d", alg.AddrPortOf(c.LocalAddr()).Port())
			br := bufio.NewReader(c)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			greeting, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(greeting, "220 ") {
				t.Fatalf("greeting %q, %v", greeting, err)
			}
			if got := <-logged; got != want {
				t.Errorf("realserver logged client %s, want %s", got, want)
			}
			fmt.Fprintf(c, "QUIT\r\n")
			if bye, _ := br.ReadString('\n'); !strings.HasPrefix(bye, "221") {
				t.Errorf("QUIT answered %q", bye)
			}
		})
	}
}
