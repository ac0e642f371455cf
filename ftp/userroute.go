package ftp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/algd/algd/alg"
	"github.com/algd/algd/pool"
)

// UserRoute sends the users whose name matches User (a name, or a glob in
// path.Match syntax) to Pool, on a handler with RouteByUser.
type UserRoute struct {
	// User is the name or glob.
	User string
	// Pool chooses the realservers of these users.
	Pool *pool.Pool
	// SendProxy is the PROXY header version Pool's realservers want (0:
	// none), as Handler.SendProxy for the handler's own Pool.
	SendProxy byte
}

// route returns the route of user: the first of Users matching it, else
// the handler's Pool.
func (h *Handler) route(user string) UserRoute {
	for _, r := range h.Users {
		if ok, _ := path.Match(r.User, user); ok {
			return r
		}
	}
	return h.defaultRoute()
}

// defaultRoute is the handler's own Pool and SendProxy.
func (h *Handler) defaultRoute() UserRoute {
	return UserRoute{Pool: h.Pool, SendProxy: h.SendProxy}
}

// Replies of algd itself before USER, on a listener that routes by user
// (RFC 959 §4.2, RFC 2389 §3, RFC 2640 §3.3).
var (
	loginFirst   = NewReply(530, "Please login with USER and PASS.")
	userFirst    = NewReply(503, "Login with USER first.")
	userAlone    = NewReply(503, "USER while other commands are pending; send it alone.")
	systReply    = NewReply(215, "UNIX Type: L8")
	noopReply    = NewReply(200, "NOOP ok.")
	helpReply    = NewReply(214, "Log in with USER and PASS; the server's own HELP follows login.")
	utf8Reply    = NewReply(200, "Always in UTF8 mode.")
	optsUnknown  = NewReply(501, "Option not understood.")
	goodbyeReply = NewReply(221, "Goodbye.")
)

// prelogin handles a command of a session that routes by user before its
// realserver is chosen, and every USER of such a session. Called with ctl
// held.
func (s *session) prelogin(ctx context.Context, cmd Command) error {
	switch cmd.Verb {
	case "USER":
		if s.h.TLS != nil && s.h.TLS.Required && !s.tlsOn {
			s.h.stats().Commands.Add(RefusedTLS)
			return s.answer(NewReply(530, "TLS required: send AUTH TLS first."))
		}
		return s.login(ctx, cmd)
	case "":
		return s.answer(NewReply(500, "Empty command."))
	case "PBSZ", "PROT", "CCC":
		r, _ := s.security(cmd)
		return s.answer(r)
	case "FEAT":
		// What algd serves itself; the realserver's own features show
		// in a FEAT after login.
		r := NewReply(211, "Features:\n UTF8\nEnd")
		return s.answer(rewriteFEAT(r, s.h.TLS != nil && s.h.TLS.Server != nil))
	case "OPTS":
		if strings.EqualFold(strings.Join(strings.Fields(cmd.Arg), " "), "UTF8 ON") {
			s.utf8 = true
			return s.answer(utf8Reply)
		}
		return s.answer(optsUnknown)
	case "SYST":
		return s.answer(systReply)
	case "NOOP":
		return s.answer(noopReply)
	case "HELP":
		return s.answer(helpReply)
	case "PASS", "ACCT":
		return s.answer(userFirst)
	case "QUIT":
		if err := s.send(goodbyeReply); err != nil {
			return err
		}
		return errQuit
	}
	return s.answer(loginFirst)
}

// login routes a USER: it closes the realserver connection of a previous
// USER, if any (a new user never inherits another's realserver session,
// whether the earlier login failed or not), picks a realserver for the
// user's pool, connects, consumes its greeting, replays OPTS UTF8 and
// forwards the USER, whose reply the client gets as it would from the
// realserver. Called with ctl held; ctl is let go while connecting.
func (s *session) login(ctx context.Context, cmd Command) error {
	if len(s.queue) > 0 || s.bkReading {
		return s.answer(userAlone)
	}
	user := cmd.Arg
	if s.backend != nil {
		s.logger().Info("new USER: closing the realserver connection of the previous one")
		s.dropBackend()
		s.dropData()
	}
	s.mu.Lock()
	s.rsAddr = netip.AddrPort{}
	s.mu.Unlock()
	log := s.noteUser(user)

	rt := s.h.route(user)
	p := rt.Pool
	s.ctl.Unlock()
	bk, refusal, err := s.h.openBackend(ctx, rt, user, s.clientAddr, s.local, log)
	s.ctl.Lock()
	if err == nil && ctx.Err() != nil {
		bk.conn.Close()
		bk.Release()
		err = ctx.Err()
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.h.stats().Refused.Add(1)
		log.Warn("no realserver for the user", "pool", p.Name(), "err", err)
		r := NewReply(421, "Service not available, no server reachable.")
		if refusal != nil {
			r = *refusal
		}
		s.send(r)
		return fmt.Errorf("no realserver for the user: %w", err)
	}
	s.useBackend(bk)
	s.logp.Store(log.With("realserver", bk.Addr.String()))
	br := bufio.NewReaderSize(s.backend, readBuffer)
	if s.utf8 {
		if err := s.replayUTF8(br); err != nil {
			return s.backendError(err)
		}
	}
	s.bk = NewReplyReader(br, max(s.maxLine, 8192))
	s.logger().Info("user routed", "pool", p.Name())
	s.queue = append(s.queue, pending{verb: cmd.Verb, kind: kindPlain, issued: time.Now()})
	return s.forward(cmd.String())
}

// replayUTF8 sends OPTS UTF8 ON to a new realserver, for a client that
// sent it before USER; the realserver's answer, whatever it is, is not the
// client's (it had algd's).
func (s *session) replayUTF8(br *bufio.Reader) error {
	s.backend.SetDeadline(time.Now().Add(s.idle))
	defer s.backend.SetDeadline(time.Time{})
	if _, err := s.backend.Write([]byte("OPTS UTF8 ON\r\n")); err != nil {
		return err
	}
	r, err := ReadReply(br, max(s.maxLine, 8192), 100)
	if err != nil {
		return fmt.Errorf("OPTS UTF8: %w", err)
	}
	s.logger().Debug("OPTS UTF8 replayed to the realserver", "code", r.Code)
	return nil
}

// noteUser records the name the client sent with USER (relayed to the
// realserver, or routed on) for /status, and puts it on every later log
// line of the session, with the realserver when one is connected. It
// returns the session's new logger.
func (s *session) noteUser(user string) *slog.Logger {
	s.mu.Lock()
	s.user = user
	rs := s.rsAddr
	s.mu.Unlock()
	log := s.base.With("user", user)
	if rs.IsValid() {
		log = log.With("realserver", rs.String())
	}
	s.logp.Store(log)
	return log
}

// useBackend makes bk the session's realserver connection. Called with
// ctl held (or before run).
func (s *session) useBackend(bk *backendConn) {
	s.backend, s.bkTLS, s.lease = bk.conn, bk.tls, bk.Backend
	s.bkLocal = alg.AddrPortOf(bk.Conn.LocalAddr()).Addr()
	s.mu.Lock()
	s.rsAddr = bk.Addr
	s.mu.Unlock()
}

// dropBackend closes the realserver connection and releases its lease.
// Called with ctl held.
func (s *session) dropBackend() {
	if s.backend != nil {
		s.backend.Close()
		s.backend = nil
	}
	if s.lease != nil {
		s.lease.Release()
		s.lease = nil
	}
	s.bk = nil
}

// dropData forgets the data connections of the previous user: one set up
// and not used (a PASV/EPSV expectation or a PORT/EPRT) is dropped, one
// still open after its transfer's final reply is cut. Called with ctl
// held.
func (s *session) dropData() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil {
		s.current.cancel()
	}
	s.forgetSetup()
}
