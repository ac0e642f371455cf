package rtsp

import (
	"fmt"
	"strconv"
	"strings"
)

// This Transport codec is written here instead of using gortsplib's
// pkg/headers because headers.Transport keeps only the parameters it
// knows: a proxy would drop or reorder unknown ones (and ssrc, mode, ttl
// spellings) that the peers agreed on. Here every parameter is kept in
// order and as written; only the ones algd rewrites change.

// Transport is the value of a Transport header (RFC 2326 §12.39): the
// transports a client offers, or the one a server chose.
type Transport struct {
	// Specs are the comma-separated transport specifications, in order.
	Specs []TransportSpec
}

// TransportSpec is one transport: a protocol such as RTP/AVP,
// RTP/AVP/UDP or RTP/AVP/TCP, and its parameters.
type TransportSpec struct {
	// Proto is transport-protocol/profile[/lower-transport], as written.
	Proto string
	// Params are the semicolon-separated parameters, as written.
	Params []Param
}

// Param is one transport parameter: "unicast", "client_port=5000-5001".
type Param struct {
	Key, Value string
	// HasValue says whether the parameter was written with "=".
	HasValue bool
}

// Unmarshal parses a Transport header value.
func (t *Transport) Unmarshal(v string) error {
	t.Specs = t.Specs[:0]
	for s := range strings.SplitSeq(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		parts := strings.Split(s, ";")
		spec := TransportSpec{Proto: strings.TrimSpace(parts[0])}
		if !strings.HasPrefix(strings.ToUpper(spec.Proto), "RTP/") || strings.ContainsAny(spec.Proto, " =") {
			return fmt.Errorf("transport %q: unknown protocol %q", v, spec.Proto)
		}
		for _, p := range parts[1:] {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			k, val, has := strings.Cut(p, "=")
			spec.Params = append(spec.Params, Param{Key: strings.TrimSpace(k), Value: strings.TrimSpace(val), HasValue: has})
		}
		t.Specs = append(t.Specs, spec)
	}
	if len(t.Specs) == 0 {
		return fmt.Errorf("transport %q: empty", v)
	}
	return nil
}

// Marshal formats the header value.
func (t Transport) Marshal() string {
	var b strings.Builder
	for i, s := range t.Specs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.Proto)
		for _, p := range s.Params {
			b.WriteByte(';')
			b.WriteString(p.Key)
			if p.HasValue {
				b.WriteByte('=')
				b.WriteString(p.Value)
			}
		}
	}
	return b.String()
}

// Get returns the value of parameter key (case-insensitive) and whether
// it is present.
func (s *TransportSpec) Get(key string) (string, bool) {
	for _, p := range s.Params {
		if strings.EqualFold(p.Key, key) {
			return p.Value, true
		}
	}
	return "", false
}

// Set gives parameter key the value, in place when present, else at the
// end.
func (s *TransportSpec) Set(key, value string) {
	for i := range s.Params {
		if strings.EqualFold(s.Params[i].Key, key) {
			s.Params[i].Value, s.Params[i].HasValue = value, true
			return
		}
	}
	s.Params = append(s.Params, Param{Key: key, Value: value, HasValue: true})
}

// Del removes parameter key.
func (s *TransportSpec) Del(key string) {
	out := s.Params[:0]
	for _, p := range s.Params {
		if !strings.EqualFold(p.Key, key) {
			out = append(out, p)
		}
	}
	s.Params = out
}

// IsTCP reports whether the lower transport is TCP (interleaved).
func (s *TransportSpec) IsTCP() bool {
	return strings.HasSuffix(strings.ToUpper(s.Proto), "/TCP")
}

// IsMulticast reports whether the spec asks for multicast delivery.
func (s *TransportSpec) IsMulticast() bool {
	_, ok := s.Get("multicast")
	return ok
}

// Ports returns the RTP and RTCP ports of parameter key ("client_port",
// "server_port"): "a-b", or "a" meaning a and a+1 (RFC 2326 §12.39). ok is
// false when the parameter is absent or not ports.
func (s *TransportSpec) Ports(key string) (rtp, rtcp uint16, ok bool) {
	v, present := s.Get(key)
	if !present {
		return 0, 0, false
	}
	a, b, pair := strings.Cut(v, "-")
	x, err := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	if err != nil || x == 0 {
		return 0, 0, false
	}
	if !pair {
		if x == 65535 {
			return 0, 0, false
		}
		return uint16(x), uint16(x + 1), true
	}
	y, err := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	if err != nil || y == 0 {
		return 0, 0, false
	}
	return uint16(x), uint16(y), true
}

// SetPorts sets parameter key to "rtp-rtcp".
func (s *TransportSpec) SetPorts(key string, rtp, rtcp uint16) {
	s.Set(key, strconv.Itoa(int(rtp))+"-"+strconv.Itoa(int(rtcp)))
}
