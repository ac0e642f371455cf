package ftp

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/algd/algd/alg"
)

var (
	errClientClosed  = errors.New("client closed the control connection")
	errBackendClosed = errors.New("realserver closed the control connection")
)

const (
	// lingerTime and lingerBytes bound what algd reads and drops from a
	// client after the reply that ends its session (an overlong line), so
	// that the unread bytes do not make the kernel reset the connection
	// before the reply is through.
	lingerTime  = 2 * time.Second
	lingerBytes = 4 << 20
	// writeTimeout bounds one write of a reply or command on a control
	// connection.
	writeTimeout = time.Minute
	// dataLinger is how long a data connection may stay half-open after one
	// direction has ended before both are closed.
	dataLinger = 30 * time.Second
	// readBuffer is the read buffer of each control connection. Commands
	// and replies are short; ReadLine accumulates longer lines (up to
	// max_line_bytes) itself, so an idle session keeps only this much.
	readBuffer = 512
)

// kind says what a forwarded or local command needs from its reply.
type kind int

const (
	kindPlain    kind = iota // relay the reply as it is
	kindPassive              // PASV/EPSV: rewrite the reply to the VIP
	kindActive               // PORT/EPRT: passive towards the realserver, 200 to the client
	kindTransfer             // RETR/STOR/...: hold the final reply until the data is through
	kindFEAT                 // rewrite the feature list
	kindQUIT                 // relay, then end the session
	kindLocal                // answered by algd itself, in order
)

// pending is one command whose final reply has not been relayed yet.
type pending struct {
	verb   string
	kind   kind
	epsv   bool             // kindPassive: the client asked with EPSV (answer 229); kindActive: with EPRT
	sent   bool             // kindPassive, kindActive: EPSV was sent to the realserver (expect 229)
	target netip.AddrPort   // kindActive: where the client listens
	x      *alg.Expectation // kindActive with backend_data_mode "active": algd's port for the realserver
	kernel bool             // kindActive: on the kernel data path (askPORT)
	local  Reply            // kindLocal
	issued time.Time

	// kindTransfer: its data connection (nil without PASV/PORT before
	// it), whether it uploads, and whether algd already answered it
	// (425 for an unreachable active client): the realserver's replies
	// to it are then dropped.
	data     *dataConn
	upload   bool
	answered bool
}

// session is one control connection pair. It owns client, backend, every
// expectation and data connection it creates; run's return releases all of
// them.
type session struct {
	h          *Handler
	base       *slog.Logger                // the session's logger before USER: id and client
	logp       atomic.Pointer[slog.Logger] // base, with the user and realserver once known (logger)
	id         string                      // the session id of every log line
	clientAddr netip.AddrPort              // the client (from a PROXY header when accepted)
	started    time.Time
	tlsShown   atomic.Bool    // the control connection is under TLS, for Info
	client     net.Conn       // *net.TCPConn, or *tls.Conn after AUTH TLS
	backend    net.Conn       // *net.TCPConn, or *tls.Conn towards a TLS realserver
	bkTLS      *tls.Config    // the realserver leg's TLS for data connections; nil: plain
	peer       netip.Addr     // the client's address: the only data peer
	local      netip.AddrPort // the address the client connected to
	adv        netip.Addr     // announced to the client, bound by expectations
	ctlPort    uint16         // the port the client connected to
	rsAddr     netip.AddrPort // the realserver's control address
	bkLocal    netip.Addr     // our side of the backend control connection
	maxLine    int
	maxReply   int // max_reply_bytes: one relayed multi-line reply
	idle       time.Duration
	dataWait   time.Duration

	// ctl serialises the two control loops: everything below it up to mu,
	// and every write to client or backend, is touched only under ctl.
	ctl       sync.Mutex
	queue     []pending
	epsvAll   bool
	lastCode  int
	ctx       context.Context // the session's, for the realserver reader
	bk        *ReplyReader    // the realserver's replies; kept across readers
	bkReading bool            // a goroutine is reading bk
	open      int             // the code of a reply partly relayed to the client; 0: none
	tlsOn     bool            // the client's control connection is under TLS
	tlsCfg    *tls.Config     // the client leg's TLS, this session's own (sessionConfig); nil before TLS
	pbsz      bool
	prot      byte         // 'C' or 'P' (RFC 2228 §3 PROT)
	lease     *alg.Backend // the realserver connection and its lease; nil before USER when routing by user
	utf8      bool         // the client sent OPTS UTF8 ON before USER: replayed to the realserver

	mu      sync.Mutex
	waiting *dataConn    // the latest expectation not yet paired
	next    *dataConn    // the latest PASV/EPSV's, until a transfer command claims it
	current *dataConn    // the latest paired data connection
	port    *activeSetup // set by PORT/EPRT, used by the next transfer command
	wg      sync.WaitGroup
	active  atomic.Int32 // paired data connections still open

	dataMoved atomic.Int64 // when data last moved (UnixNano): control idle timing counts it
	lastCmd   atomic.Int64 // when the last client command was handled (UnixNano); 0: none yet

	down, up  int64 // written by data goroutines under mu
	transfers int
	live      map[liveBytes]struct{} // data connections carrying now, either path; under mu
	user      string                 // the latest USER's name, for Info; under mu

	cancel  context.CancelFunc
	endOnce sync.Once
	endErr  error // why the session ended; set once by end
}

// logger returns the session's logger: base, with the user and the
// realserver once known. Data goroutines read it while a new USER changes
// it.
func (s *session) logger() *slog.Logger { return s.logp.Load() }

// run relays the control channel until the session ends and then tears
// down everything the session owns. The calling goroutine reads the
// client; one more goroutine reads the realserver. An idle session holds
// just these two goroutines and their 512-byte read buffers.
func (s *session) run(ctx context.Context, greeting *Reply) error {
	ctx, cancel := context.WithCancel(ctx)
	s.ctl.Lock()
	s.cancel = cancel
	s.ctl.Unlock()
	defer func() {
		s.cancel()
		s.client.Close()
		if s.backend != nil { // written only by this goroutine (login)
			s.backend.Close()
		}
		s.wg.Wait()
		s.ctl.Lock()
		s.dropBackend()
		s.ctl.Unlock()
		s.mu.Lock()
		s.port.close() // a PORT never used
		s.mu.Unlock()
		for _, p := range s.queue {
			if p.x != nil {
				p.x.Close() // a PORT to the realserver never answered
			}
		}
	}()
	context.AfterFunc(ctx, func() {
		s.ctl.Lock()
		if s.endErr == nil { // the server is stopping, not the session
			s.send(NewReply(421, "Service closing control connection."))
		}
		c, b := s.client, s.backend
		s.ctl.Unlock()
		c.Close()
		if b != nil {
			b.Close()
		}
	})

	s.ctl.Lock()
	s.ctx = ctx
	if s.backend != nil {
		s.bk = NewReplyReader(bufio.NewReaderSize(s.backend, readBuffer), max(s.maxLine, 8192))
	}
	err := s.send(*greeting)
	s.ctl.Unlock()
	if err != nil {
		return err
	}
	s.end(s.readClient(ctx))
	s.wg.Wait()
	if s.endErr == errQuit {
		return nil
	}
	return s.endErr
}

// end records why the session ends (the first reason wins) and stops it.
func (s *session) end(err error) {
	s.endOnce.Do(func() {
		if err == nil {
			err = errQuit
		}
		s.ctl.Lock()
		s.endErr = err
		s.ctl.Unlock()
	})
	s.cancel()
}

// errQuit ends a session that ended by QUIT.
var errQuit = errors.New("quit")

// readClient reads and handles client commands until the session ends.
// With no command for the idle timeout and no transfer running, the
// session is closed (421).
func (s *session) readClient(ctx context.Context) error {
	br := bufio.NewReaderSize(s.client, readBuffer)
	deadline := time.Now().Add(s.idle)
	for {
		s.client.SetReadDeadline(deadline)
		line, crlf, err := ReadLineCRLF(br, s.maxLine)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if until := time.Unix(0, s.dataMoved.Load()).Add(s.idle); until.After(time.Now()) {
					deadline = until // data moved since: the session is not idle
					continue
				}
				s.ctl.Lock()
				s.send(NewReply(421, "Idle timeout, closing control connection."))
				s.ctl.Unlock()
				return errors.New("idle timeout")
			}
			s.ctl.Lock()
			err = s.clientError(err)
			s.ctl.Unlock()
			if errors.Is(err, ErrLineTooLong) || errors.Is(err, ErrNUL) {
				s.lingerClose(br)
			}
			return err
		}
		cmd, perr := ParseCommand(line)
		if perr == nil && !crlf {
			perr = &LineError{Reason: RefusedControl, Offset: len(line), Byte: '\n', Head: head(line, len(line))}
		}
		s.ctl.Lock()
		var le *LineError
		switch {
		case errors.As(perr, &le):
			err = s.refuseLine(le)
		case cmd.Verb == "AUTH":
			var upgraded bool
			upgraded, err = s.auth(ctx, cmd)
			if upgraded {
				br.Reset(s.client) // nothing is buffered: the client waited for 234
			}
		default:
			err = s.command(ctx, cmd)
		}
		s.ctl.Unlock()
		if err != nil {
			return err
		}
		s.lastCmd.Store(time.Now().UnixNano())
		deadline = time.Now().Add(s.idle)
	}
}

// refuseLine answers a line algd cannot read unambiguously with a 500,
// counts and logs it; the line is never forwarded. The log shows where the
// line went wrong and its start, never an argument (a password).
func (s *session) refuseLine(e *LineError) error {
	s.h.stats().Commands.Add(e.Reason)
	s.logger().Info("command line refused", "reason", e.Reason.String(), "offset", e.Offset,
		"byte", fmt.Sprintf("%#02x", e.Byte), "head", fmt.Sprintf("%q", e.Head))
	return s.answer(e.Reply())
}

// readBackend reads and handles realserver replies while any are owed.
// A realserver speaks only when spoken to, so an idle session needs no
// goroutine on its side: forward starts one with the first command, and it
// stops when every command has its final reply. Whatever a realserver says
// unasked in between (a 421 before it closes) is read with the next
// command's reply and relayed then.
//
// A single-line reply is handled whole by reply. A multi-line one is either
// held (read whole, within maxHeldBytes, then handled by reply) or relayed
// to the client line by line as it comes (stream), so that no reply,
// whatever its length, is ever in memory whole.
func (s *session) readBackend(ctx context.Context) error {
	for {
		line, code, more, err := s.nextLine(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r, streamed := Reply{Code: code}, false
		var werr error // writing a relayed reply to the client failed
		switch {
		case err != nil:
		case !more:
			r.Lines = []string{string(line)}
		case s.holds(code):
			err = s.readRest(ctx, line, code, maxHeldBytes, maxHeldLines, func(l []byte, _ bool) error {
				r.Lines = append(r.Lines, string(l))
				return nil
			})
		default:
			streamed = true
			err, werr = s.stream(ctx, line, code)
		}
		s.ctl.Lock()
		var done bool
		switch {
		case werr != nil:
			err = werr
		case err != nil:
			err = s.backendError(err)
		case streamed:
			done, err = s.relayed(code)
		default:
			if ch := s.transferWait(r); ch != nil {
				// Not under ctl: the client may ABOR meanwhile.
				s.ctl.Unlock()
				select {
				case <-ch:
				case <-ctx.Done():
					return ctx.Err()
				}
				s.ctl.Lock()
			}
			done, err = s.reply(ctx, r)
		}
		idle := err == nil && !done && len(s.queue) == 0
		if idle {
			s.bkReading = false
		}
		s.ctl.Unlock()
		switch {
		case err != nil:
			return err
		case done:
			return errQuit
		case idle:
			return nil
		}
	}
}

// transferPending reports a transfer command awaiting its final reply.
// Called with ctl held.
func (s *session) transferPending() bool {
	for _, p := range s.queue {
		if p.kind == kindTransfer {
			return true
		}
	}
	return false
}

// readBackendAsync starts readBackend unless it runs. Called with ctl held.
func (s *session) readBackendAsync() {
	if s.bkReading {
		return
	}
	s.bkReading = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.readBackend(s.ctx); err != nil {
			s.end(err)
		}
	}()
}

func (s *session) clientError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return errClientClosed
	case errors.Is(err, ErrLineTooLong):
		s.send(NewReply(500, "Command line too long, closing control connection."))
	case errors.Is(err, ErrNUL):
		s.h.stats().Commands.Add(RefusedControl)
		s.logger().Info("command line refused", "reason", RefusedControl.String(), "byte", "0x00")
		s.send(NewReply(500, "NUL byte in command, closing control connection."))
	}
	return err
}

func (s *session) backendError(err error) error {
	s.logger().Warn("realserver control connection ended", "err", err)
	if s.lastCode != 421 {
		text := "Service not available, the server closed the connection."
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			text = "Service not available, the server does not answer."
		}
		s.send(NewReply(421, text))
	}
	if errors.Is(err, io.EOF) {
		return errBackendClosed
	}
	return err
}

// send writes a reply to the client. A reply that stream left open (the
// realserver failed in the middle of it) is ended first, so the client
// reads this one as a reply of its own.
func (s *session) send(r Reply) error {
	var b []byte
	if s.open != 0 {
		b = append(truncated(s.open), '\r', '\n')
		s.open = 0
	}
	s.lastCode = r.Code
	return s.write(r.AppendWire(b))
}

// write writes b to the client within writeTimeout.
func (s *session) write(b []byte) error {
	s.client.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := s.client.Write(b)
	return err
}

// lingerClose half-closes the client's control connection after the reply
// that ends its session, and reads and drops what the client still sends,
// for at most lingerTime and lingerBytes: closing a socket with unread
// bytes makes the kernel reset it, which may destroy the reply before the
// client has read it.
func (s *session) lingerClose(br *bufio.Reader) {
	s.ctl.Lock()
	c := s.client
	s.ctl.Unlock()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, br, lingerBytes)
}

// forward writes one command line to the realserver, whose reply the
// realserver reader then waits for. Called with ctl held, after the
// command's pending entry is queued.
func (s *session) forward(line string) error {
	s.backend.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := s.backend.Write([]byte(line + "\r\n")); err != nil {
		// The realserver is gone (killed mid-transfer, say): the client
		// still gets a reply before the session ends.
		if s.lastCode != 421 {
			s.send(NewReply(421, "Service not available, the server closed the connection."))
		}
		return fmt.Errorf("realserver: %w", err)
	}
	s.readBackendAsync()
	return nil
}

// answer queues a reply of algd's own behind the replies still owed by the
// realserver, so the client gets every reply in the order of its commands.
func (s *session) answer(r Reply) error {
	if len(s.queue) == 0 {
		return s.send(r)
	}
	s.queue = append(s.queue, pending{kind: kindLocal, local: r})
	return nil
}

// dataVerbs are the commands that set up or use a data connection.
var dataVerbs = map[string]bool{
	"PASV": true, "EPSV": true, "PORT": true, "EPRT": true,
	"RETR": true, "STOR": true, "STOU": true, "APPE": true, "LIST": true, "NLST": true, "MLSD": true,
}

// command handles one client command, as ParseCommand read it; what it
// forwards is cmd's canonical form.
func (s *session) command(ctx context.Context, cmd Command) error {
	s.logger().Debug("command", "cmd", cmd.LogString())
	if s.h.RouteByUser && (s.backend == nil || cmd.Verb == "USER") {
		return s.prelogin(ctx, cmd)
	}
	p := pending{verb: cmd.Verb, kind: kindPlain, issued: time.Now()}
	if dataVerbs[cmd.Verb] && !(cmd.Verb == "EPSV" && strings.EqualFold(strings.TrimSpace(cmd.Arg), "ALL")) {
		if r, ok := s.protCheck(); !ok {
			return s.answer(r)
		}
	}
	switch cmd.Verb {
	case "":
		return s.answer(NewReply(500, "Empty command."))
	case "PASV", "EPSV":
		r, ok := s.passiveCheck(cmd)
		if !ok {
			return s.answer(r)
		}
		p.kind, p.epsv = kindPassive, cmd.Verb == "EPSV"
		return s.askPassive(p)
	case "PORT", "EPRT":
		target, r, ok := s.activeCheck(cmd)
		if !ok {
			return s.answer(r)
		}
		p.kind, p.epsv, p.target = kindActive, cmd.Verb == "EPRT", target
		p.kernel = s.kernelWhy(false, target.Addr()) == ""
		if s.h.BackendPorts != nil || p.kernel {
			return s.askPORT(p)
		}
		return s.askPassive(p)
	case "LPRT", "LPSV", "SPSV", "CPSV", "SSCN":
		return s.answer(NewReply(502, "LPRT, LPSV, SPSV, CPSV and SSCN are not supported; use EPRT or EPSV."))
	case "ABOR":
		s.abortLater()
	case "PBSZ", "PROT", "CCC":
		r, _ := s.security(cmd)
		return s.answer(r)
	case "ADAT", "MIC", "CONF", "ENC":
		return s.answer(NewReply(502, "Security extensions are not available on this server."))
	case "USER", "PASS", "ACCT":
		if s.h.TLS != nil && s.h.TLS.Required && !s.tlsOn {
			s.h.stats().Commands.Add(RefusedTLS)
			return s.answer(NewReply(530, "TLS required: send AUTH TLS first."))
		}
		if cmd.Verb == "USER" {
			s.noteUser(cmd.Arg)
		}
	case "FEAT":
		p.kind = kindFEAT
	case "QUIT":
		p.kind = kindQUIT
	case "RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD":
		p.kind = kindTransfer
		p.upload = cmd.Verb == "STOR" || cmd.Verb == "STOU" || cmd.Verb == "APPE"
		p.data = s.claimData(ctx)
	}
	s.queue = append(s.queue, p)
	return s.forward(cmd.String())
}

// auth answers an AUTH command and, when accepted, runs the handshake
// (RFC 4217 §4); upgraded reports that s.client is now the TLS connection.
func (s *session) auth(ctx context.Context, cmd Command) (upgraded bool, err error) {
	s.logger().Debug("command", "cmd", cmd.LogString())
	r, upgrade := s.security(cmd)
	if upgrade && len(s.queue) > 0 {
		r, upgrade = NewReply(503, "AUTH while other commands are pending; send it alone."), false
	}
	if err := s.answer(r); err != nil || !upgrade {
		return false, err
	}
	if s.tlsCfg == nil {
		s.tlsCfg = s.h.TLS.sessionConfig()
	}
	tc, err := s.h.clientHandshake(ctx, s.client, s.tlsCfg)
	if err != nil {
		return false, fmt.Errorf("TLS handshake: %w", err)
	}
	s.client = tc
	s.tlsOn = true
	s.tlsShown.Store(true)
	s.logger().Info("control connection upgraded to TLS", "tls", true, "tls_version", tls.VersionName(tc.ConnectionState().Version))
	return true, nil
}

// askPassive asks the realserver for a passive port: PASV, or EPSV for an
// IPv6 realserver. Whatever the client uses, algd talks passive to the
// realserver, so realservers never need a route to clients.
func (s *session) askPassive(p pending) error {
	p.sent = s.rsAddr.Addr().Is6()
	verb := "PASV"
	if p.sent {
		verb = "EPSV"
	}
	s.queue = append(s.queue, p)
	return s.forward(verb)
}

// passiveCheck decides whether a PASV or EPSV can be served at all; when it
// cannot, the reply says why.
func (s *session) passiveCheck(cmd Command) (Reply, bool) {
	if cmd.Verb == "PASV" {
		if s.epsvAll {
			return NewReply(503, "Only EPSV is allowed after EPSV ALL."), false
		}
		if !s.adv.Is4() {
			return NewReply(425, "PASV cannot name an IPv6 address; use EPSV."), false
		}
		return Reply{}, true
	}
	switch strings.ToUpper(strings.TrimSpace(cmd.Arg)) {
	case "":
		return Reply{}, true
	case "ALL":
		s.epsvAll = true
		return NewReply(200, "EPSV ALL ok."), false
	case "1":
		if s.adv.Is4() {
			return Reply{}, true
		}
	case "2":
		if s.adv.Is6() {
			return Reply{}, true
		}
	default:
		return NewReply(501, "EPSV takes no argument, 1, 2 or ALL."), false
	}
	if s.adv.Is4() {
		return NewReply(522, "Network protocol not supported, use (1)"), false
	}
	return NewReply(522, "Network protocol not supported, use (2)"), false
}

// reply handles one reply from the realserver. done is true when the
// session should end after it (QUIT).
func (s *session) reply(ctx context.Context, r Reply) (done bool, err error) {
	if err := s.skipTransfers(r); err != nil {
		return false, err
	}
	if (r.Code == 227 || r.Code == 229) && (len(s.queue) == 0 || (s.queue[0].kind != kindPassive && s.queue[0].kind != kindActive)) {
		// A passive reply nobody asked for (a realserver out of step)
		// would hand the client the realserver's own address.
		s.h.stats().BadBackendReplies.Add(1)
		s.logger().Warn("unexpected passive reply from realserver withheld", "reply", r.Text())
		r = NewReply(425, "Can't open data connection.")
	}
	if !r.Final() || len(s.queue) == 0 {
		// Preliminary replies, the banner and unsolicited replies (such as
		// a realserver's own 421) go through as they are; a transfer's
		// 1xx may become 425 (transferPrelim).
		if !r.Final() && len(s.queue) > 0 && s.queue[0].kind == kindTransfer {
			var send bool
			if r, send = s.transferPrelim(&s.queue[0], r); !send {
				return false, nil
			}
		}
		return false, s.send(r)
	}
	p := s.queue[0]
	s.queue = s.queue[1:]
	send := true
	switch p.kind {
	case kindPassive:
		r = s.passiveReply(ctx, p, r)
	case kindActive:
		r = s.activeReply(p, r)
	case kindTransfer:
		r, send = s.transferFinal(p, r)
		s.shutWindow(p.data)
	case kindFEAT:
		r = rewriteFEAT(r, s.h.TLS != nil && s.h.TLS.Server != nil)
	}
	if send {
		if err := s.send(r); err != nil {
			return false, err
		}
	}
	return s.flushLocal(p)
}

// flushLocal sends the replies of algd's own queued behind p, whose final
// reply the client has just got. done is true when the session should end
// (p was QUIT).
func (s *session) flushLocal(p pending) (done bool, err error) {
	for len(s.queue) > 0 && s.queue[0].kind == kindLocal {
		if err := s.send(s.queue[0].local); err != nil {
			return false, err
		}
		s.queue = s.queue[1:]
	}
	return p.kind == kindQUIT, nil
}
