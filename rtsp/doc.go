// Package rtsp is algd's RTSP application-layer gateway (RFC 2326): it
// terminates RTSP control connections on the VIP, picks a streaming server
// from a pool, and rewrites what the protocol carries about addresses so
// that every media packet also goes through the VIP, on one bounded UDP
// range.
//
// The codec (message.go, transport.go, rewrite.go) is pure: bounded
// parsing of requests, responses and interleaved `$` frames, the Transport
// header, and URL and SDP rewriting. The session layer (conn.go, setup.go,
// media.go) relays one control connection: SETUP with a UDP transport takes
// a backend-side pair on the address of the realserver connection and a
// client-side pair on the advertised address, rewrites client_port,
// server_port, source and destination, and starts an alg.UDPRelay between
// them; RTP/AVP/TCP (interleaved) passes untouched. On the kernel data
// path (Handler.Kernel, kernel.go) the stream also gets four persistent
// NAT mappings, RTP and RTCP both ways, so its packets never reach the
// relay, which keeps its sockets for whatever was not mapped; conntrack's
// counters feed the metrics and the session timeout. A media session (a
// Session id) sticks to its realserver across control connections and ends
// with TEARDOWN, with its timeout (refreshed by requests and by packets from
// the client), or, when it relays nothing over UDP, with its control
// connection; every port goes back then. The media sessions live in a
// Media table that every handler generation of a listener shares, so a
// reload loses none. With a Registry, each control connection is an
// alg.Session (registry.go) that a drain closes once no request waits for
// its answer and none of its sessions has a stream; a media session that
// relays UDP after its control connections closed is registered on its own
// until TEARDOWN or its timeout. Checker is the health check
// (OPTIONS answered 200) given to pool.New by internal/daemon.
//
// The package imports alg, pool, limits and conf, never ftp.
package rtsp
