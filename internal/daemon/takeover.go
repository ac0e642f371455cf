package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Takeover: a restart or an upgrade that refuses no client. The running
// algd listens on [admin] takeover_socket (a unix SOCK_SEQPACKET socket,
// mode 0600: only its user may take its sockets). A new algd with the same
// setting connects to it before binding anything and the conversation is:
//
//	new → old  "takeover"
//	old → new  "control ADDR" or "admin ADDR", one packet per listening
//	           socket, its descriptor attached (SCM_RIGHTS)
//	old → new  "end"
//	new → old  "ready"        once it serves them (or it hangs up: abort)
//
// Both processes then hold the same kernel sockets: connections waiting in
// a backlog go to whichever accepts, so none is refused. On "ready" the
// old algd stops accepting and drains as on SIGTERM (its transfers in
// flight finish on its own data sockets), while the new one serves every
// new client. Passive and media ports the old process still holds make
// the new one's bind fail with EADDRINUSE; the port allocators skip those
// ports (alg.DataPorts.Expect, alg.UDPPorts.Pair) and count them.
// Until "ready" the old algd serves as before, so a new algd that fails
// (a bad file, an address it cannot bind) changes nothing.

// takeoverTimeout bounds each step of the conversation.
const takeoverTimeout = 10 * time.Second

// Kinds of listening sockets handed over.
const (
	kindControl = "control"
	kindAdmin   = "admin"
)

// inherited is what a new algd received from the one it takes over from.
type inherited struct {
	control map[netip.AddrPort]*net.TCPListener
	admin   map[netip.AddrPort]*net.TCPListener
	conn    *net.UnixConn // to the old algd, until ready or abort
}

// take removes and returns the control listener bound to a; nil when none
// was handed over. It is safe on a nil receiver.
func (in *inherited) take(kind string, a netip.AddrPort) *net.TCPListener {
	if in == nil {
		return nil
	}
	m := in.control
	if kind == kindAdmin {
		m = in.admin
	}
	ln := m[a]
	delete(m, a)
	return ln
}

// closeUnused closes the listeners the new configuration did not want;
// the old algd closes its own when it drains, and the socket goes.
func (in *inherited) closeUnused(log *slog.Logger) {
	if in == nil {
		return
	}
	for _, m := range []map[netip.AddrPort]*net.TCPListener{in.control, in.admin} {
		for a, ln := range m {
			log.Info("takeover: listener not in the new configuration, closing it", "addr", a.String())
			ln.Close()
			delete(m, a)
		}
	}
}

// ready tells the old algd that this one serves; it then drains.
func (in *inherited) ready() error {
	if in == nil {
		return nil
	}
	defer in.conn.Close()
	in.conn.SetDeadline(time.Now().Add(takeoverTimeout))
	if _, err := in.conn.Write([]byte("ready")); err != nil {
		return fmt.Errorf("takeover: ready: %w", err)
	}
	return nil
}

// abort hangs up: the old algd keeps serving.
func (in *inherited) abort() {
	if in == nil {
		return
	}
	in.conn.Close()
	in.closeUnused(slog.New(slog.DiscardHandler))
}

// takeOver asks the algd listening on path for its listening sockets. It
// returns nil, nil when nobody listens there (no algd runs: a normal
// start).
func takeOver(ctx context.Context, path string, log *slog.Logger) (*inherited, error) {
	if path == "" {
		return nil, nil
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("takeover %s: %w", path, err)
	}
	uc := c.(*net.UnixConn)
	in := &inherited{control: make(map[netip.AddrPort]*net.TCPListener),
		admin: make(map[netip.AddrPort]*net.TCPListener), conn: uc}
	if err := in.receive(path); err != nil {
		in.abort()
		return nil, err
	}
	log.Info("takeover: received the listening sockets of the running algd", "socket", path,
		"control", len(in.control), "admin", len(in.admin))
	return in, nil
}

// receive runs the new algd's side of the conversation up to "end".
func (in *inherited) receive(path string) error {
	in.conn.SetDeadline(time.Now().Add(takeoverTimeout))
	if _, err := in.conn.Write([]byte("takeover")); err != nil {
		return fmt.Errorf("takeover %s: %w", path, err)
	}
	buf := make([]byte, 512)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := in.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return fmt.Errorf("takeover %s: %w", path, err)
		}
		msg := string(buf[:n])
		if msg == "end" {
			return nil
		}
		ln, err := listenerFromRights(oob[:oobn])
		if err != nil {
			return fmt.Errorf("takeover %s: %q: %w", path, msg, err)
		}
		kind, addr, _ := strings.Cut(msg, " ")
		a, err := netip.ParseAddrPort(addr)
		if err != nil || (kind != kindControl && kind != kindAdmin) {
			ln.Close()
			return fmt.Errorf("takeover %s: unexpected %q", path, msg)
		}
		if kind == kindAdmin {
			in.admin[a] = ln
		} else {
			in.control[a] = ln
		}
	}
}

// listenerFromRights makes a listener of the one descriptor in oob.
func listenerFromRights(oob []byte) (*net.TCPListener, error) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("no descriptor attached: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("no descriptor attached: %v", err)
	}
	f := os.NewFile(uintptr(fds[0]), "takeover")
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("descriptor: %w", err)
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		ln.Close()
		return nil, fmt.Errorf("descriptor is not a TCP listener")
	}
	return tl, nil
}

// takeoverServer is the running algd's side: it hands its listening
// sockets to whoever connects to the socket (file mode 0600), and reports
// on handed the process id of a new algd that said "ready".
type takeoverServer struct {
	ln     *net.UnixListener
	path   string
	d      *Daemon
	log    *slog.Logger
	handed chan int
}

// listenTakeover binds path for the next algd, replacing the socket file
// of the previous process (which, if it is the one this algd took over
// from, no longer accepts on it). "" binds nothing.
func (d *Daemon) listenTakeover(path string) (*takeoverServer, error) {
	if path == "" {
		return nil, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("takeover socket: %w", err)
	}
	old := syscall.Umask(0o177)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("takeover socket: %w", err)
	}
	// The file is removed only by the process that last bound it (close).
	ln.SetUnlinkOnClose(false)
	s := &takeoverServer{ln: ln, path: path, d: d, log: d.log.With("component", "takeover"), handed: make(chan int, 1)}
	go s.serve()
	return s, nil
}

// serve answers takeover requests one at a time until the socket closes.
func (s *takeoverServer) serve() {
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		pid, err := s.handOver(c)
		c.Close()
		if err != nil {
			s.log.Warn("takeover aborted, still serving", "err", err)
			continue
		}
		s.log.Info("takeover: the new algd serves; draining", "pid", pid)
		s.ln.Close()
		s.handed <- pid
		return
	}
}

// handOver sends every listening socket to c and waits for "ready"; it
// returns the new process's id.
func (s *takeoverServer) handOver(c *net.UnixConn) (int, error) {
	c.SetDeadline(time.Now().Add(takeoverTimeout))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "takeover" {
		return 0, fmt.Errorf("unexpected request %q: %v", buf[:n], err)
	}
	pid := 0
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
				pid = int(cred.Pid)
			}
		})
	}
	for _, l := range s.d.listening() {
		if err := sendListener(c, l.kind+" "+l.addr.String(), l.ln); err != nil {
			return 0, err
		}
	}
	if _, err := c.Write([]byte("end")); err != nil {
		return 0, err
	}
	// The new algd builds its configuration (health checks, pools) now.
	c.SetDeadline(time.Now().Add(time.Minute))
	n, err = c.Read(buf)
	if err != nil || string(buf[:n]) != "ready" {
		return 0, fmt.Errorf("the new algd did not say ready (%q): %v", buf[:n], err)
	}
	return pid, nil
}

// sendListener sends msg with ln's descriptor attached.
func sendListener(c *net.UnixConn, msg string, ln *net.TCPListener) error {
	raw, err := ln.SyscallConn()
	if err != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	var werr error
	if err := raw.Control(func(fd uintptr) {
		_, _, werr = c.WriteMsgUnix([]byte(msg), unix.UnixRights(int(fd)), nil)
	}); err != nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	if werr != nil {
		return fmt.Errorf("%s: %w", msg, werr)
	}
	return nil
}

// close stops taking requests; the socket file is removed unless this
// algd handed over (the new one has bound its own there).
func (s *takeoverServer) close(handedOver bool) {
	if s == nil {
		return
	}
	s.ln.Close()
	if !handedOver {
		os.Remove(s.path)
	}
}

// listeningSocket is one listening socket a takeover hands over.
type listeningSocket struct {
	kind string
	addr netip.AddrPort
	ln   *net.TCPListener
}

// listening returns the listening sockets in force: the control listeners
// of every protocol and the admin listener.
func (d *Daemon) listening() []listeningSocket {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []listeningSocket
	for a, lr := range d.listeners {
		out = append(out, listeningSocket{kindControl, a, lr.ln})
	}
	if d.adminLn != nil {
		out = append(out, listeningSocket{kindAdmin, d.adminAddr, d.adminLn})
	}
	return out
}
