package ftp

import (
	"context"
	"time"
)

// A transfer command (RETR, STOR, APPE, LIST, ...) is relayed to the
// realserver at once; its data connection is the one the client's
// PASV/EPSV or PORT/EPRT before it set up. The realserver's replies to it
// are held and checked against that data connection: a 2xx final reply is
// relayed only when the data connection carried the whole transfer, and
// becomes 425 (the connection was never made) or 426 (it broke) when it
// did not; in active mode the realserver's 1xx waits until algd has
// reached the client, and becomes 425 when it could not.

// claimData gives a transfer command its data connection: the one the
// client's PORT/EPRT asks for, started now, or the latest PASV/EPSV's.
// When the client let that passive port expire unused, the realserver is
// made to fail the transfer at once (failBackend). Called with ctl held.
func (s *session) claimData(ctx context.Context) *dataConn {
	if d := s.startActive(ctx); d != nil {
		return d
	}
	s.mu.Lock()
	d := s.next
	s.next = nil
	late := false
	if d != nil {
		d.claimed = true
		late = d.ended
	}
	s.mu.Unlock()
	if late {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.failBackend(d)
		}()
	}
	return d
}

// transferData is the data connection of the oldest transfer command
// awaiting its final reply, or nil. Called with ctl held.
func (s *session) transferData() *dataConn {
	for _, p := range s.queue {
		if p.kind == kindTransfer && p.data != nil && !p.answered {
			return p.data
		}
	}
	return nil
}

// transferWait returns what the reply r must wait for before it is
// handled, or nil: a transfer's 2xx final reply waits until the direction
// that carries the file has ended (client→realserver for uploads), so the
// client never reads 226 while bytes are on their way and algd knows how
// the transfer went; in active mode a 1xx waits until the client has been
// reached or found unreachable. The data connection always ends (EOF,
// error, data_idle_timeout, data_connect_timeout, handshake_timeout), so
// the wait does too. Called with ctl held.
func (s *session) transferWait(r Reply) <-chan struct{} {
	if len(s.queue) == 0 {
		return nil
	}
	p := s.queue[0]
	if p.kind != kindTransfer || p.data == nil || p.answered {
		return nil
	}
	d := p.data
	switch {
	case !r.Final():
		if d.x == nil && d.k == nil { // on the kernel path the realserver connects itself
			return d.connected.ch
		}
	case r.Code < 400:
		if p.upload {
			return d.fromClient.ch
		}
		return d.fromServer.ch
	}
	return nil
}

// transferPrelim handles a 1xx reply to the transfer command p: in active
// mode, when algd could not reach the client, the client gets 425 instead
// (an ftpd that cannot connect says so rather than 150, and classic
// clients that read 150 wait in accept()), and the realserver's further
// replies to p are dropped. send is false when r is dropped.
func (s *session) transferPrelim(p *pending, r Reply) (_ Reply, send bool) {
	if p.answered {
		return r, false
	}
	d := p.data
	if d == nil || d.x != nil || failure(d.failed.Load()) != failConnect {
		return r, true
	}
	p.answered = true
	s.transferFailed(p, r, failConnect)
	return NewReply(425, "Can't open data connection."), true
}

// transferFinal handles the final reply to the transfer command p (after
// transferWait): a 2xx stays only when the data connection carried the
// whole transfer. send is false when r is dropped (p was answered).
func (s *session) transferFinal(p pending, r Reply) (_ Reply, send bool) {
	d := p.data
	if d != nil {
		s.mu.Lock()
		d.replied = true
		s.mu.Unlock()
		// The transfer is over for the client once it reads this reply:
		// its share of passive ports comes back first, so a PASV sent
		// right after the 226 is not refused for a port about to close.
		if d.share != nil {
			defer d.share()
		}
	}
	switch {
	case p.answered:
		return r, false
	case d == nil:
		return r, true
	case r.Code >= 400:
		// The realserver failed the transfer: no byte is owed, and a
		// realserver may keep its end of the data connection open after
		// an error. When the data connection had already failed, that
		// was the cause: count it.
		if f := d.resultNow(p.upload); f != failNone {
			s.transferFailed(&p, r, f)
		}
		s.abortData(d)
		return r, true
	}
	f := d.result(p.upload)
	if f == failNone {
		return r, true
	}
	s.transferFailed(&p, r, f)
	if f == failConnect {
		return NewReply(425, "Can't open data connection."), true
	}
	return NewReply(426, "Connection closed; transfer aborted."), true
}

// transferFailed counts and logs a transfer whose data connection failed;
// r is what the realserver answered.
func (s *session) transferFailed(p *pending, r Reply, f failure) {
	s.h.stats().countFailed(f)
	s.logger().Warn("transfer failed", "cmd", p.verb, "reason", f.String(), "realserver_reply", r.Text())
}

// resultNow is result when the transfer's direction has ended already,
// else failNone.
func (d *dataConn) resultNow(upload bool) failure {
	ch := d.fromServer.ch
	if upload {
		ch = d.fromClient.ch
	}
	select {
	case <-ch:
		return d.result(upload)
	default:
		return failNone
	}
}

// skipTransfers handles a realserver that never sends a transfer's final
// reply. Measured: pure-ftpd 1.0.50 answers a RETR whose data connection
// was reset with its 150 alone (sometimes a stray "150 ... seconds" line)
// and goes on with the next command. A final reply that no transfer
// command can have (a 2xx other than 226 and 250, RFC 959 §5.4) while a
// later command waits belongs to that later command: the transfers before
// it are closed out, their clients told 426 unless algd answered them
// already, so the session stays in step. Called with ctl held.
func (s *session) skipTransfers(r Reply) error {
	for r.Final() && r.Code/100 == 2 && r.Code != 226 && r.Code != 250 && len(s.queue) > 1 && s.queue[0].kind == kindTransfer {
		p := s.queue[0]
		s.queue = s.queue[1:]
		s.logger().Warn("realserver skipped a transfer's final reply", "cmd", p.verb, "next_reply", r.Text())
		if p.data != nil {
			s.mu.Lock()
			p.data.replied = true
			s.mu.Unlock()
			s.abortData(p.data)
		}
		if !p.answered {
			s.transferFailed(&p, r, failReset)
			if err := s.send(NewReply(426, "Connection closed; transfer aborted.")); err != nil {
				return err
			}
		}
		if _, err := s.flushLocal(p); err != nil {
			return err
		}
	}
	return nil
}

// replyGrace is how long a realserver has to answer a transfer whose data
// connection failed before algd answers the client itself.
const replyGrace = 2 * time.Second

// answerLater gives the realserver replyGrace to send the final reply of
// the transfer whose data connection d failed; when it has not by then
// (pure-ftpd never answers a RETR whose data connection was reset) the
// client gets 425/426 from algd, and the realserver's replies to that
// transfer, if any come, are dropped. Called when d's goroutine ends.
func (s *session) answerLater(d *dataConn) {
	time.AfterFunc(replyGrace, func() {
		if d.sess.Err() != nil {
			return
		}
		s.ctl.Lock()
		defer s.ctl.Unlock()
		if len(s.queue) == 0 || s.queue[0].kind != kindTransfer || s.queue[0].data != d || s.queue[0].answered {
			return
		}
		p := &s.queue[0]
		f := d.result(p.upload)
		if f == failNone {
			return
		}
		p.answered = true
		s.transferFailed(p, Reply{}, f)
		s.logger().Warn("realserver did not answer a failed transfer; answered by algd", "cmd", p.verb)
		if f == failConnect {
			s.send(NewReply(425, "Can't open data connection."))
		} else {
			s.send(NewReply(426, "Connection closed; transfer aborted."))
		}
	})
}
