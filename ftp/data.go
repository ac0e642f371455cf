package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/limits"
)

// dataConn is one data connection: for passive mode the expectation on
// the VIP, then (for both modes) the pipe between client and realserver.
// fromServer closes when everything the realserver sent has been handed to
// the client (or the pipe failed); done closes when its goroutine has
// released everything. cancel cuts it (ABOR, session end).
type dataConn struct {
	x          *alg.Expectation // nil in active mode
	bx         *alg.Expectation // backend_data_mode "active": the realserver's port; else nil
	prot       byte             // the client's PROT when the data was set up
	ctx        context.Context
	cancel     context.CancelFunc
	fromServer chan struct{}
	done       chan struct{}
}

func (s *session) newDataConn(ctx context.Context, x *alg.Expectation) *dataConn {
	ctx, cancel := context.WithCancel(ctx)
	return &dataConn{x: x, prot: s.prot, ctx: ctx, cancel: cancel, fromServer: make(chan struct{}), done: make(chan struct{})}
}

// finish releases the data connection's context and tells waiters.
func (d *dataConn) finish() {
	d.cancel()
	close(d.done)
}

// passiveReply turns the realserver's reply to PASV/EPSV into the client's:
// it reserves a port on the advertised address, expects the client there
// and answers with that address (RFC 959 §4.1.2 227, RFC 2428 §3 229).
// A reply that cannot be used is answered 425.
func (s *session) passiveReply(ctx context.Context, p pending, r Reply) Reply {
	want := 227
	if p.sent {
		want = 229
	}
	if r.Code != want {
		if r.Code/100 != 2 {
			return r // the realserver refused; the client hears why
		}
		s.badBackend(r, errors.New("unexpected reply code"))
		return NewReply(425, "Can't open data connection.")
	}
	target, err := s.passiveTarget(p, r)
	if err != nil {
		s.badBackend(r, err)
		return NewReply(425, "Can't open data connection.")
	}
	x, err := s.h.DataPorts.Expect(alg.Expect{
		Local:    s.adv,
		Peer:     s.peer,
		Deadline: time.Now().Add(s.dataWait),
		OnRefused: func(from netip.AddrPort, why alg.Refusal) {
			s.refusedData("client", from, why)
		},
	})
	if err != nil {
		if errors.Is(err, limits.ErrExhausted) {
			s.h.Stats.PassiveExhausted.Add(1)
			s.log.Warn("passive range exhausted", "err", err)
			return NewReply(425, "No data port available, try again later.")
		}
		s.log.Warn("passive listen failed", "err", err)
		return NewReply(425, "Can't open data connection.")
	}
	d := s.newDataConn(ctx, x)
	s.mu.Lock()
	if s.waiting != nil {
		s.waiting.x.Close() // a new PASV replaces an unused one
	}
	s.waiting = d
	s.port.close() // and a PORT not used yet
	s.port = nil
	s.mu.Unlock()
	s.wg.Add(1)
	go s.serveData(d, target)

	if p.epsv {
		return NewReply(229, FormatEPSV(x.Port()))
	}
	text, err := FormatPASV(x.AddrPort())
	if err != nil { // passiveCheck admits PASV only on IPv4
		x.Close()
		return NewReply(425, "Can't open data connection.")
	}
	return NewReply(227, text)
}

// passiveTarget is where the realserver expects the data connection: its
// control address with the port of the reply. With TrustPASVAddress the
// address of a 227 reply is used when it is one of the pool's realservers.
func (s *session) passiveTarget(p pending, r Reply) (netip.AddrPort, error) {
	if p.sent {
		port, err := ParseEPSV(r.Text())
		if err != nil {
			return netip.AddrPort{}, err
		}
		return netip.AddrPortFrom(s.rsAddr.Addr(), port), nil
	}
	ap, err := ParsePASV(r.Text())
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("port 0")
	}
	addr := s.rsAddr.Addr()
	if s.h.TrustPASVAddress && ap.Addr() != addr {
		if !s.inPool(ap.Addr()) {
			return netip.AddrPort{}, errors.New("address is not a realserver of the pool")
		}
		addr = ap.Addr()
	}
	return netip.AddrPortFrom(addr, ap.Port()), nil
}

func (s *session) inPool(a netip.Addr) bool {
	for _, rs := range s.h.Pool.Realservers() {
		if rs.Addr().Addr() == a {
			return true
		}
	}
	return false
}

func (s *session) badBackend(r Reply, err error) {
	s.h.Stats.BadBackendReplies.Add(1)
	s.log.Warn("unusable passive reply from realserver", "reply", r.Text(), "err", err)
}

// refusedData accounts for a data connection an expectation refused (side
// "client": a passive port on the VIP; "backend": a backend_ports port):
// counted by reason, entered in the listener's offenders table and logged
// with its address.
func (s *session) refusedData(side string, from netip.AddrPort, why alg.Refusal) {
	switch why {
	case alg.RefusedForeign:
		s.h.Stats.Theft.Add(1)
	case alg.RefusedSecond:
		s.h.Stats.DataSecond.Add(1)
	case alg.RefusedOutsideWindow:
		s.h.Stats.DataOutsideWindow.Add(1)
	}
	s.h.Offenders.Add(from.Addr(), why, time.Now())
	s.log.Warn("data connection refused", "side", side, "reason", why.String(), "from", from.String())
}

// serveData waits for the client's data connection on the expectation,
// then connects to the realserver and pipes the two. The expectation keeps
// its port until the transfer is over, refusing (and counting) any other
// connection to it.
func (s *session) serveData(d *dataConn, target netip.AddrPort) {
	defer s.wg.Done()
	defer d.finish()
	defer d.x.Close()
	c, err := d.x.Accept(d.ctx)
	s.mu.Lock()
	if s.waiting == d {
		s.waiting = nil
	}
	if err == nil {
		s.current = d
	}
	s.mu.Unlock()
	if err != nil {
		s.log.Debug("passive port closed unused", "port", d.x.Port(), "err", err)
		return
	}
	bc, err := s.dialBackendData(d.ctx, target)
	if err != nil {
		c.Close()
		return
	}
	s.pipe(d, c, bc, alg.AddrPortOf(c.LocalAddr()))
}

// dialBackendData connects to the realserver's data port from the local
// address of the backend control connection: ftpds refuse data
// connections from any other address.
func (s *session) dialBackendData(ctx context.Context, target netip.AddrPort) (*net.TCPConn, error) {
	bc, err := alg.DialFrom(ctx, netip.AddrPortFrom(s.bkLocal, 0), target, s.h.Limits.BackendConnectTimeout.Duration)
	if err != nil {
		s.log.Warn("realserver data connect failed", "err", err)
	}
	return bc, err
}

// pipe copies between the client's and the realserver's data connections
// until both ends are done, and accounts the bytes. at names the client-side
// endpoint in the log (the passive port, or the client's active address).
func (s *session) pipe(d *dataConn, c, bc *net.TCPConn, at netip.AddrPort) {
	s.active.Add(1)
	defer s.active.Add(-1)
	var bside alg.Conn = bc
	if s.bkTLS != nil {
		tc := tls.Client(bc, s.bkTLS)
		hctx, cancel := context.WithTimeout(d.ctx, s.h.Limits.BackendConnectTimeout.Duration)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.log.Warn("realserver data TLS handshake failed", "err", err)
			c.Close()
			bc.Close()
			return
		}
		bside = tc
	}
	cside, err := s.protectData(d, c)
	if err != nil {
		s.log.Warn("client data connection refused", "at", at.String(), "err", err)
		c.Close()
		bc.SetLinger(0) // reset: the realserver fails the transfer (426) instead of taking an empty file
		bc.Close()
		return
	}
	s.h.Stats.DataConns.Add(1)
	up, down, err := alg.Pipe(d.ctx, cside, bside, dataLinger, d.fromServer)
	s.h.Stats.BytesUp.Add(up)
	s.h.Stats.BytesDown.Add(down)
	s.mu.Lock()
	s.up += up
	s.down += down
	s.transfers++
	s.mu.Unlock()
	s.log.Log(d.ctx, slogLevel(err), "data done", "at", at.String(), "down", down, "up", up, "err", err)
}

// awaitData holds a transfer's final reply until everything the realserver
// sent on the data connection has been handed to the client, so no client
// reads "226" while the last bytes are still on their way (and closes the
// data connection early). A realserver sends its final reply after closing
// its data connection, for downloads and uploads alike, so waiting for the
// realserver→client direction to end is enough; waiting for the client's
// side too would stall clients that close only after the 226.
func (s *session) awaitData(ctx context.Context) {
	s.mu.Lock()
	d := s.current
	s.mu.Unlock()
	if d == nil {
		return
	}
	t := time.NewTimer(dataLinger)
	defer t.Stop()
	select {
	case <-d.fromServer:
	case <-d.done:
	case <-ctx.Done():
	case <-t.C:
		s.log.Warn("data connection still open after the transfer's final reply")
	}
}

// slogLevel logs a data connection that ended normally at Info and one cut
// by an error at Warn (Pipe already drops ordinary ends).
func slogLevel(err error) slog.Level {
	if err == nil {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
