package ftp

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/limits"
)

// dataConn is one data connection: for passive mode the expectation on
// the VIP, then (for both modes) the pipe between client and realserver.
// Its goroutine records how it went and signals each step by closing a
// channel, after writing what the step's readers look at: connected when
// the client's side is connected or cannot be (active mode); fromServer
// (fromClient) when the realserver→client (client→realserver) direction
// has ended, or will never start; done when the goroutine has released
// everything. cancel cuts it (ABOR, session end).
type dataConn struct {
	x      *alg.Expectation // nil in active mode
	bx     *alg.Expectation // backend_data_mode "active": the realserver's port; else nil
	k      *kernelConn      // on the kernel data path: its mapping; nil on the proxy path
	target netip.AddrPort   // the realserver's data port (passive towards it)
	prot   byte             // the client's PROT when the data was set up
	sess   context.Context  // the session's
	ctx    context.Context
	cancel context.CancelFunc
	share  func() // gives the client's share of passive ports back; nil in active mode

	// Under session.mu: a transfer command uses it; the realserver
	// answered that command; the expectation ended unpaired.
	claimed, replied, ended bool

	failed         atomic.Int32 // a failure: why the connection was never made, or protected
	upErr, downErr error        // how each direction ended; nil: at a clean EOF

	connected, fromServer, fromClient, done signal
}

// signal is a channel closed once.
type signal struct {
	once sync.Once
	ch   chan struct{}
}

func newSignal() signal { return signal{ch: make(chan struct{})} }

func (g *signal) close() { g.once.Do(func() { close(g.ch) }) }

func (s *session) newDataConn(ctx context.Context, x *alg.Expectation) *dataConn {
	dctx, cancel := context.WithCancel(ctx)
	return &dataConn{x: x, prot: s.prot, sess: ctx, ctx: dctx, cancel: cancel,
		connected: newSignal(), fromServer: newSignal(), fromClient: newSignal(), done: newSignal()}
}

// fail records why the data connection did not carry a transfer.
func (d *dataConn) fail(f failure) { d.failed.CompareAndSwap(int32(failNone), int32(f)) }

// finish releases the data connection's context and tells waiters.
func (d *dataConn) finish() {
	d.cancel()
	d.connected.close()
	d.fromServer.close()
	d.fromClient.close()
	d.done.close()
}

// drop ends a data connection set up and not claimed: its expectation
// closes, and on the kernel path its mapping goes (serveKernel ends).
func (d *dataConn) drop() {
	d.x.Close()
	if d.k != nil {
		d.cancel()
	}
}

// over reports whether the data connection's goroutine has ended.
func (d *dataConn) over() bool {
	select {
	case <-d.done.ch:
		return true
	default:
		return false
	}
}

// result says how the data connection served a transfer: for an upload
// the client→realserver direction must have ended at a clean EOF, for a
// download the other one. Call it only after the direction's signal.
func (d *dataConn) result(upload bool) failure {
	if f := failure(d.failed.Load()); f != failNone {
		return f
	}
	var err error
	if upload {
		err = d.upErr
	} else {
		err = d.downErr
	}
	switch {
	case err == nil:
		return failNone
	case errors.Is(err, alg.ErrIdle):
		return failIdle
	case errors.Is(err, context.Canceled):
		return failCut
	}
	return failReset
}

// failure is why a transfer's data connection did not carry it all.
type failure int32

const (
	failNone    failure = iota
	failConnect         // never made: the client did not connect, algd could not connect either side
	failTLS             // the client's TLS handshake on it failed or was refused
	failReset           // reset, or an error, on either side
	failCut             // cut by algd: ABOR, session end
	failIdle            // nothing moved for data_idle_timeout
)

// String is the failure's metric label.
func (f failure) String() string {
	return [...]string{"none", "connect", "tls", "reset", "cut", "idle"}[f]
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
	s.mu.Lock()
	if w := s.waiting; w != nil && w.share != nil {
		w.share() // this PASV replaces the unused one below: its share passes on
	}
	s.mu.Unlock()
	release, err := s.h.PerClientPorts.Acquire(s.peer)
	if err != nil {
		s.h.stats().PassivePerClient.Add(1)
		s.logger().Warn("client holds its share of passive ports", "max", s.h.Limits.MaxDataPortsPerClient)
		return NewReply(425, "Too many data connections pending from your address.")
	}
	deadline := time.Now().Add(s.dataWait)
	x, err := s.h.DataPorts.Expect(alg.Expect{
		Local:    s.adv,
		Peer:     s.peer,
		Deadline: deadline,
		OnRefused: func(from netip.AddrPort, why alg.Refusal) {
			s.refusedData("client", from, why)
		},
	})
	if err != nil {
		release()
		if errors.Is(err, limits.ErrExhausted) {
			s.h.stats().PassiveExhausted.Add(1)
			s.logger().Warn("passive range exhausted", "err", err)
			return NewReply(425, "No data port available, try again later.")
		}
		s.logger().Warn("passive listen failed", "err", err)
		return NewReply(425, "Can't open data connection.")
	}
	d := s.newDataConn(ctx, x)
	d.target = target
	d.share = release
	s.mapPassive(d, deadline)
	s.mu.Lock()
	if s.waiting != nil {
		s.waiting.drop() // a new PASV replaces an unused one
	}
	s.waiting = d
	s.next = d
	s.port.close() // and a PORT not used yet
	s.port = nil
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer release() // the port is the client's until its data connection ends
		if d.k != nil {
			s.serveKernel(d)
		} else {
			s.serveData(d, target)
		}
	}()

	if p.epsv {
		return NewReply(229, FormatEPSV(x.Port()))
	}
	text, err := FormatPASV(x.AddrPort())
	if err != nil { // passiveCheck admits PASV only on IPv4
		d.drop()
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
	s.h.stats().BadBackendReplies.Add(1)
	s.logger().Warn("unusable passive reply from realserver", "reply", r.Text(), "err", err)
}

// refusedData accounts for a data connection an expectation refused (side
// "client": a passive port on the VIP; "backend": a backend_ports port):
// counted by reason, entered in the listener's offenders table and logged
// with its address.
func (s *session) refusedData(side string, from netip.AddrPort, why alg.Refusal) {
	switch why {
	case alg.RefusedForeign:
		s.h.stats().Theft.Add(1)
	case alg.RefusedSecond:
		s.h.stats().DataSecond.Add(1)
	case alg.RefusedOutsideWindow:
		s.h.stats().DataOutsideWindow.Add(1)
	}
	s.h.Offenders.Add(from.Addr(), why, time.Now())
	s.logger().Warn("data connection refused", "side", side, "reason", why.String(), "from", from.String())
}

// serveData waits for the client's data connection on the expectation,
// then connects to the realserver and pipes the two. The expectation keeps
// its port until the transfer is over, refusing (and counting) any other
// connection to it. When the client never connects while a transfer
// command waits for it, the realserver gets a connection that is reset at
// once, so it fails the transfer now instead of after its own accept
// timeout.
func (s *session) serveData(d *dataConn, target netip.AddrPort) {
	defer s.wg.Done()
	defer s.answerLater(d)
	defer d.finish()
	defer d.x.Close()
	c, err := d.x.Accept(d.ctx)
	pending := s.settle(d, err)
	if err != nil {
		s.logger().Debug("passive port closed unused", "port", d.x.Port(), "err", err)
		d.fail(failConnect)
		if pending {
			s.failBackend(d)
		}
		return
	}
	d.connected.close()
	bc, err := s.dialBackendData(d.ctx, target)
	if err != nil {
		// No byte moved; the transfer's reply tells the client (425). A
		// plain close: a client whose connect is reset reads no reply.
		d.fail(failConnect)
		c.Close()
		return
	}
	s.pipe(d, c, bc, alg.AddrPortOf(c.LocalAddr()))
}

// failBackend makes the realserver fail a transfer whose client-side data
// connection never came: it connects to the realserver's passive port and
// resets the connection at once. Measured: vsftpd, pure-ftpd and proftpd
// then answer the transfer with 425/426 at once, where they would wait
// for their accept timeout (vsftpd: 60 s) with nobody connecting. Not when
// the session is ending.
func (s *session) failBackend(d *dataConn) {
	if d.sess.Err() != nil || !d.target.IsValid() {
		return
	}
	bc, err := alg.DialFrom(d.sess, netip.AddrPortFrom(s.bkLocal, 0), d.target, s.h.Limits.BackendConnectTimeout.Duration)
	if err != nil {
		s.logger().Debug("realserver data port for a failed transfer", "err", err)
		return
	}
	alg.Reset(bc)
}

// dialBackendData connects to the realserver's data port from the local
// address of the backend control connection: ftpds refuse data
// connections from any other address.
func (s *session) dialBackendData(ctx context.Context, target netip.AddrPort) (*net.TCPConn, error) {
	bc, err := alg.DialFrom(ctx, netip.AddrPortFrom(s.bkLocal, 0), target, s.h.Limits.BackendConnectTimeout.Duration)
	if err != nil {
		s.logger().Warn("realserver data connect failed", "err", err)
	}
	return bc, err
}

// pipe copies between the client's and the realserver's data connections
// until both ends are done, records how each direction ended, and
// accounts the bytes. at names the client-side endpoint in the log (the
// passive port, or the client's active address). Whatever fails, the
// realserver's side is reset, so the realserver fails the transfer too
// rather than taking an empty or cut upload as complete.
func (s *session) pipe(d *dataConn, c, bc *net.TCPConn, at netip.AddrPort) {
	s.active.Add(1)
	defer s.active.Add(-1)
	s.touchData()
	defer s.touchData()
	var bside alg.Conn = bc
	if s.bkTLS != nil {
		tc := tls.Client(bc, s.bkTLS)
		hctx, cancel := context.WithTimeout(d.ctx, s.h.Limits.BackendConnectTimeout.Duration)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			s.logger().Warn("realserver data TLS handshake failed", "err", err)
			d.fail(failConnect)
			alg.Reset(c)
			alg.Reset(bc)
			return
		}
		bside = tc
	}
	cside, err := s.protectData(d, c)
	if err != nil {
		s.logger().Warn("client data connection refused", "at", at.String(), "err", err)
		d.fail(failTLS)
		alg.Reset(c)
		alg.Reset(bc) // the realserver fails the transfer (426) instead of taking an empty file
		return
	}
	s.h.stats().DataConns.Add(1)
	s.h.stats().ProxyConns.Add(1)
	lim := s.h.Limits
	lv := newLiveData(c, bc)
	s.addLive(lv)
	began := time.Now()
	up, down, err := alg.PipeWith(d.ctx, cside, bside, alg.PipeOptions{
		Linger:     dataLinger,
		CloseA:     true, // the client hears of a failure on the control connection
		Idle:       lim.DataIdleTimeout.Duration,
		Tick:       progressTick(lim.DataIdleTimeout.Duration, lim.ControlIdleTimeout.Duration),
		OnProgress: s.touchData,
		ABDone: func(_ int64, err error) {
			d.upErr = err
			d.fromClient.close()
		},
		BADone: func(_ int64, err error) {
			d.downErr = err
			d.fromServer.close()
		},
	})
	s.h.stats().TransferDurations.Observe(time.Since(began))
	s.h.stats().BytesUp.Add(up)
	s.h.stats().BytesDown.Add(down)
	s.mu.Lock()
	delete(s.live, lv)
	s.up += up
	s.down += down
	s.transfers++
	s.mu.Unlock()
	s.logger().Log(d.ctx, slogLevel(err), "data done", "at", at.String(), "down", down, "up", up, "err", err)
}

// progressTick is how often a data connection's progress is read: often
// enough for both idle timeouts to see it (a quarter of the shorter one),
// and at least every 5 s.
func progressTick(dataIdle, controlIdle time.Duration) time.Duration {
	return min(dataIdle/4, controlIdle/4, 5*time.Second)
}

// touchData records that data moved now (control idle timing counts it).
func (s *session) touchData() { s.dataMoved.Store(time.Now().UnixNano()) }

// slogLevel logs a data connection that ended normally at Info and one cut
// by an error at Warn (Pipe already drops ordinary ends).
func slogLevel(err error) slog.Level {
	if err == nil {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}

// liveBytes is a data connection's progress while it carries, for
// /status: what has gone to the client (down) and to the realserver (up).
type liveBytes interface {
	bytes() (down, up int64)
}

// addLive lists a data connection that carries now.
func (s *session) addLive(lv liveBytes) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live == nil {
		s.live = make(map[liveBytes]struct{})
	}
	s.live[lv] = struct{}{}
}

// liveData reads the progress of a data connection while it pipes: the
// bytes each peer has acknowledged since the pipe began (alg.Acked), so
// /status shows a running transfer's bytes before it ends. TLS record
// overhead is included; the exact counts replace these at the end.
type liveData struct {
	client, backend net.Conn
	c0, b0          uint64 // acknowledged before the pipe began
}

func newLiveData(client, backend net.Conn) *liveData {
	l := &liveData{client: client, backend: backend}
	l.c0, _ = alg.Acked(client)
	l.b0, _ = alg.Acked(backend)
	return l
}

// bytes returns what has gone to the client (down) and to the realserver
// (up) so far; 0 where the kernel cannot tell.
func (l *liveData) bytes() (down, up int64) {
	if n, ok := alg.Acked(l.client); ok && n > l.c0 {
		down = int64(n - l.c0)
	}
	if n, ok := alg.Acked(l.backend); ok && n > l.b0 {
		up = int64(n - l.b0)
	}
	return down, up
}

// settle records how the wait for d's connection ended (err nil: it
// came, d is the session's current data connection; else d is ended)
// and reports whether a transfer command still waits for the
// realserver's reply. Both data paths call it.
func (s *session) settle(d *dataConn, err error) (pending bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.waiting == d {
		s.waiting = nil
	}
	if err == nil {
		s.current = d
	} else {
		d.ended = true
	}
	return d.claimed && !d.replied
}
