package ftp

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/algd/algd/alg"
)

// activeSetup is a PORT/EPRT the realserver has agreed to serve: the
// client listens at client, the realserver at backend.
type activeSetup struct {
	client  netip.AddrPort
	backend netip.AddrPort   // the realserver's passive port; or
	x       *alg.Expectation // with backend_data_mode "active": where the realserver connects to algd
	kernel  bool             // x is for the kernel data path (mapActive)
}

// close releases what the setup holds when it goes unused.
func (a *activeSetup) close() {
	if a != nil && a.x != nil {
		a.x.Close()
	}
}

// activeCheck parses PORT (RFC 959 §4.1.2) or EPRT (RFC 2428 §2) and
// refuses what algd will not connect to: another host than the control
// peer or a privileged port (the bounce attack of RFC 2577 §3), unless
// AllowForeignData is set.
func (s *session) activeCheck(cmd Command) (netip.AddrPort, Reply, bool) {
	if s.epsvAll {
		return netip.AddrPort{}, NewReply(503, "Only EPSV is allowed after EPSV ALL."), false
	}
	var (
		ap  netip.AddrPort
		err error
	)
	if cmd.Verb == "PORT" {
		ap, err = ParsePORT(cmd.Arg)
	} else {
		ap, err = ParseEPRT(cmd.Arg)
	}
	if err != nil {
		return ap, NewReply(501, "Syntax error in "+cmd.Verb+" arguments."), false
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if ap.Addr().IsUnspecified() {
		// "EPRT |2|::|port|" (lftp on IPv6) and PORT 0,0,0,0: the
		// client's own address, as the server sees it.
		ap = netip.AddrPortFrom(s.peer, ap.Port())
	}
	if ap.Addr().Is4() != s.adv.Is4() {
		if s.adv.Is4() {
			return ap, NewReply(522, "Network protocol not supported, use (1)"), false
		}
		return ap, NewReply(522, "Network protocol not supported, use (2)"), false
	}
	if !s.h.AllowForeignData && (ap.Addr() != s.peer || ap.Port() < 1024) {
		s.h.stats().Bounce.Add(1)
		s.logger().Warn("active data to a foreign address refused", "cmd", cmd.Verb, "target", ap.String())
		return ap, NewReply(504, cmd.Verb+" refused: data connections go only to your own address and to ports from 1024."), false
	}
	return ap, Reply{}, true
}

// activeReply turns the realserver's passive reply into the client's 200
// for its PORT/EPRT; the data connections are made when the transfer
// command comes.
func (s *session) activeReply(p pending, r Reply) Reply {
	if p.x != nil {
		return s.activeReplyPORT(p, r)
	}
	want := 227
	if p.sent {
		want = 229
	}
	if r.Code != want {
		if r.Code/100 != 2 {
			return r
		}
		s.badBackend(r, errors.New("unexpected reply code"))
		return NewReply(425, "Can't open data connection.")
	}
	backend, err := s.passiveTarget(p, r)
	if err != nil {
		s.badBackend(r, err)
		return NewReply(425, "Can't open data connection.")
	}
	s.setPort(&activeSetup{client: p.target, backend: backend})
	return portOK(p)
}

// portOK is the client's reply to an accepted PORT or EPRT.
func portOK(p pending) Reply {
	if p.epsv {
		return NewReply(200, "EPRT command successful.")
	}
	return NewReply(200, "PORT command successful.")
}

// setPort records the data setup for the next transfer command; it
// replaces an unused PASV or PORT.
func (s *session) setPort(a *activeSetup) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetSetup()
	s.port = a
}

// forgetSetup drops a data connection set up and not used: the waiting
// PASV/EPSV expectation, the PORT/EPRT. Called with mu held.
func (s *session) forgetSetup() {
	if s.waiting != nil {
		s.waiting.drop()
		s.waiting = nil
	}
	s.next = nil
	s.port.close()
	s.port = nil
}

// askPORT is backend_data_mode "active": algd listens on a port of
// backend_ports on its side of the realserver connection, for the
// realserver only, and gives it that port with PORT (EPRT over IPv6). The
// port is one-shot and gated: a connection is paired only while this
// session's transfer command is outstanding (startActive opens the window
// before the command goes to the realserver, the final reply shuts it);
// anything earlier, later, second or from elsewhere is reset and counted.
//
// On the kernel data path (p.kernel) the port is from KernelBackendPorts,
// and a mapping (mapActive) sends the realserver's connection to the
// client; the expectation refuses whatever reaches it.
func (s *session) askPORT(p pending) error {
	ports := s.h.BackendPorts
	if p.kernel {
		ports = s.h.KernelBackendPorts
	}
	x, err := ports.Expect(alg.Expect{
		Local: s.bkLocal,
		Peer:  s.rsAddr.Addr(),
		Gated: true,
		OnRefused: func(from netip.AddrPort, why alg.Refusal) {
			s.refusedData("backend", from, why)
		},
	})
	if err != nil {
		s.logger().Warn("no backend data port", "err", err)
		return s.answer(NewReply(425, "Can't open data connection."))
	}
	p.x = x
	cmd := "EPRT " + FormatEPRT(x.AddrPort())
	if x.AddrPort().Addr().Is4() {
		arg, _ := FormatPORT(x.AddrPort())
		cmd = "PORT " + arg
	}
	s.queue = append(s.queue, p)
	return s.forward(cmd)
}

// activeReplyPORT takes the realserver's answer to algd's PORT/EPRT.
func (s *session) activeReplyPORT(p pending, r Reply) Reply {
	if r.Code/100 != 2 {
		p.x.Close()
		return r
	}
	s.setPort(&activeSetup{client: p.target, x: p.x, kernel: p.kernel})
	return portOK(p)
}

// startActive starts the data connections of a transfer command when the
// client set up active mode and returns the data connection, or nil.
func (s *session) startActive(ctx context.Context) *dataConn {
	s.mu.Lock()
	a := s.port
	s.port = nil
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	d := s.newDataConn(ctx, nil)
	d.bx = a.x
	d.target = a.backend
	d.claimed = true
	if a.kernel && s.mapActive(d, a) {
		s.mu.Lock()
		s.current = d
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serveKernel(d)
		return d
	}
	if a.x != nil {
		// The window opens before the command reaches the realserver,
		// which may connect at once. (A kernel setup whose mapping
		// failed is served here too: the realserver has algd's port.)
		a.x.Open(time.Now().Add(s.dataWait))
	}
	s.mu.Lock()
	s.current = d
	s.mu.Unlock()
	s.wg.Add(1)
	go s.serveActive(d, a)
	return d
}

// shutWindow ends the backend data window of transfer d (nil: none) once
// its final reply has been dealt with: a realserver that has not connected
// by then gets no more chance, and nobody else does either. It comes after
// transferFinal, which waits for the data: a realserver may send a small
// file and its 226 before algd has accepted its connection from the
// kernel's queue, and that connection must still be paired.
func (s *session) shutWindow(d *dataConn) {
	if d != nil && d.bx != nil {
		d.bx.Shut()
	}
}

// serveActive connects to the client, from the advertised address and the
// configured source port, then takes the realserver's data connection
// (connecting to its passive port, or accepting it on algd's PORT), and
// pipes the two. The client comes first: when it cannot be reached the
// realserver has no byte written yet and gets a connection that is reset
// at once (or a refused one, on algd's PORT), so it fails the transfer
// cleanly, and the client gets 425 instead of the realserver's 150 (see
// transferPrelim), as from an ftpd that could not connect.
func (s *session) serveActive(d *dataConn, a *activeSetup) {
	defer s.wg.Done()
	defer s.answerLater(d)
	defer d.finish()
	cc, release, err := s.dialClient(d, a)
	if err != nil {
		d.fail(failConnect)
		d.connected.close()
		if a.x != nil {
			a.x.Close() // the realserver's connect is refused, or reset if queued
		} else {
			s.failBackend(d)
		}
		return
	}
	defer release()
	d.connected.close()
	var bc *net.TCPConn
	if a.x != nil {
		// The realserver connects once it has the transfer command; its
		// port refuses any other connection until the transfer is over.
		defer a.x.Close()
		bc, err = a.x.Accept(d.ctx)
		if err != nil {
			s.logger().Warn("realserver did not connect to its PORT", "port", a.x.Port(), "err", err)
		} else {
			s.h.stats().BackendActive.Add(1)
		}
	} else {
		bc, err = s.dialBackendData(d.ctx, a.backend)
	}
	if err != nil {
		d.fail(failConnect)
		cc.Close() // no byte moved; the transfer's reply tells the client (425)
		return
	}
	s.pipe(d, cc, bc, a.client)
}

// dialClient connects to the client's PORT/EPRT address; release gives
// the source port back.
func (s *session) dialClient(d *dataConn, a *activeSetup) (*net.TCPConn, func(), error) {
	src, release, err := s.activeSource()
	if err != nil {
		s.logger().Warn("no active source port", "err", err)
		return nil, nil, err
	}
	cc, err := alg.DialFrom(d.ctx, netip.AddrPortFrom(s.adv, src), a.client, s.h.Limits.DataConnectTimeout.Duration)
	if err != nil {
		release()
		s.logger().Warn("active data connect to the client failed", "err", err)
		return nil, nil, err
	}
	return cc, release, nil
}

// activeSource picks the source port of an active data connection; release
// gives a port taken from a range back.
func (s *session) activeSource() (uint16, func(), error) {
	act := s.h.Active
	switch {
	case act.ControlMinusOne:
		return s.ctlPort - 1, func() {}, nil
	case act.Range.Size() == 1:
		return act.Range.First, func() {}, nil
	case act.Range.Size() > 1 && s.h.ActivePorts != nil:
		ports := s.h.ActivePorts.Ports(s.adv)
		p, err := ports.Reserve()
		if err != nil {
			return 0, nil, err
		}
		return p, func() { ports.Release(p) }, nil
	}
	return 0, func() {}, nil
}

// abortGrace is how long algd lets a realserver act on ABOR before it
// cuts the data connection itself.
const abortGrace = 250 * time.Millisecond

// abortData cuts the data connection d, or the current one when d is nil.
func (s *session) abortData(d *dataConn) {
	if d == nil {
		s.mu.Lock()
		d = s.current
		s.mu.Unlock()
	}
	if d != nil {
		d.cancel()
	}
}

// abortLater handles the client's ABOR (RFC 959 §4.1.3), which is passed on
// to the realserver: servers that read ABOR during a transfer (pure-ftpd,
// proftpd) stop and answer 426 then 226 by themselves, and cutting the data
// connection under them first confuses their replies; servers that read it
// only between transfers (vsftpd without async_abor_enable) wait for the
// data connection to close, so algd cuts it after abortGrace. Called with
// ctl held.
func (s *session) abortLater() {
	d := s.transferData()
	if d == nil {
		s.mu.Lock()
		d = s.current
		s.mu.Unlock()
	}
	if d == nil {
		return
	}
	time.AfterFunc(abortGrace, d.cancel)
}
