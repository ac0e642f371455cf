package algdrun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/netip"
)

// Transfer is one "data done" log line: the bytes one data connection
// carried through algd.
type Transfer struct {
	// Down is bytes from server to client, Up from client to server.
	Down, Up int64
	// At is the client-side endpoint algd names in the line: its passive
	// port for PASV/EPSV, the client's own address and port for
	// PORT/EPRT; invalid when the line has none.
	At netip.AddrPort
	// Line is the raw JSON line.
	Line string
}

// ParseTransfers returns the "data done" lines of a JSON log, in order.
// The "down" and "up" attributes are found at the top level or inside a
// group. Lines that are not JSON are ignored.
func ParseTransfers(log []byte) []Transfer {
	var out []Transfer
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"data done"`)) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || m["msg"] != "data done" {
			continue
		}
		down, okd := findInt(m, "down")
		up, oku := findInt(m, "up")
		if !okd || !oku {
			continue
		}
		tr := Transfer{Down: down, Up: up, Line: string(line)}
		if at, ok := findString(m, "at"); ok {
			if ap, err := netip.ParseAddrPort(at); err == nil {
				tr.At = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			}
		}
		out = append(out, tr)
	}
	return out
}

// findInt returns the first integer attribute named key in m or its
// nested groups.
func findInt(m map[string]any, key string) (int64, bool) {
	if v, ok := m[key]; ok {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			return int64(f), true
		}
	}
	for _, v := range m {
		if g, ok := v.(map[string]any); ok {
			if n, ok := findInt(g, key); ok {
				return n, true
			}
		}
	}
	return 0, false
}

// findString returns the first string attribute named key in m or its
// nested groups.
func findString(m map[string]any, key string) (string, bool) {
	if v, ok := m[key].(string); ok {
		return v, true
	}
	for _, v := range m {
		if g, ok := v.(map[string]any); ok {
			if s, ok := findString(g, key); ok {
				return s, true
			}
		}
	}
	return "", false
}

// Entry is one decoded JSON log line.
type Entry map[string]any

// Str returns the string attribute key, at the top level or inside a
// group, or "" when there is none.
func (e Entry) Str(key string) string {
	s, _ := findString(e, key)
	return s
}

// Entries returns the JSON lines of log whose message is msg, decoded, in
// order. Lines that are not JSON are ignored.
func Entries(log []byte, msg string) []Entry {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(msg)) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || m["msg"] != msg {
			continue
		}
		out = append(out, Entry(m))
	}
	return out
}
