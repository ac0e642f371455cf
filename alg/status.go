package alg

import (
	"net/netip"
	"time"
)

// ListenerStatus is one listener as /status shows it, whatever its
// protocol: the admin listener renders it without knowing the protocol.
// Its counters run across reloads: every generation of a listener's
// handlers shares them.
type ListenerStatus struct {
	// Proto is the protocol ("ftp", "rtsp"), Name the listener's name,
	// Pool the pool it serves.
	Proto string `json:"proto"`
	Name  string `json:"name"`
	Pool  string `json:"pool"`
	// Addrs are the control addresses it accepts on (implicit FTPS ones
	// included).
	Addrs []netip.AddrPort `json:"addrs"`
	// Proxy is the PROXY protocol version required ("" when off).
	Proxy string `json:"proxy_protocol,omitempty"`
	// Counters are its statistics by name, the keys of its protocol's
	// Metrics table. Every protocol has "active" (sessions open now),
	// "sessions" (accepted), "refused", "bytes_down" (realserver to
	// client) and "bytes_up".
	Counters map[string]int64 `json:"counters"`
	// Ranges are the port ranges it hands out, with their usage.
	Ranges []RangeUsage `json:"ranges,omitempty"`
	// DataRefusals are the addresses whose data connections were refused,
	// most refusals first: a bounded table; DataRefusalsEvicted counts
	// addresses dropped from it to make room.
	DataRefusals        []DataRefusal `json:"data_refusals,omitempty"`
	DataRefusalsEvicted uint64        `json:"data_refusals_evicted,omitempty"`
}

// RangeUsage is the usage of a port range a listener hands out.
type RangeUsage struct {
	// Name says which range: "passive", "active", "backend" (FTP), "media",
	// "backend_media" (RTSP, in port pairs).
	Name string `json:"name"`
	// InUse of Size ports (or pairs) are reserved now; Exhaustions counts
	// the times none was free; Busy the ports (pairs) skipped because
	// another process held them (an algd draining after a takeover).
	InUse       int    `json:"in_use"`
	Size        int    `json:"size"`
	Exhaustions uint64 `json:"exhaustions"`
	Busy        uint64 `json:"busy"`
}

// DataRefusal is one address of a listener's table of refused data
// connections.
type DataRefusal struct {
	Address netip.Addr `json:"address"`
	// Theft counts connections to a port expecting another address;
	// Second those to a port already paired; OutsideWindow those from a
	// realserver while its session had no transfer command outstanding.
	Theft         uint64    `json:"theft"`
	Second        uint64    `json:"second_connection"`
	OutsideWindow uint64    `json:"outside_window"`
	Last          time.Time `json:"last"`
}

// Refusals renders t for ListenerStatus: its addresses, most refusals
// first, and how many were evicted. A nil t gives nothing.
func (t *Offenders) Refusals() ([]DataRefusal, uint64) {
	if t == nil {
		return nil, 0
	}
	list, evicted := t.Top()
	out := make([]DataRefusal, 0, len(list))
	for _, o := range list {
		out = append(out, DataRefusal{Address: o.Addr, Theft: o.Counts[RefusedForeign],
			Second: o.Counts[RefusedSecond], OutsideWindow: o.Counts[RefusedOutsideWindow], Last: o.Last})
	}
	return out, evicted
}

// Range returns the usage of the range called name (zero when the
// listener has none).
func (l ListenerStatus) Range(name string) RangeUsage {
	for _, r := range l.Ranges {
		if r.Name == name {
			return r
		}
	}
	return RangeUsage{}
}

// AddRange adds the usage of the range allocator p under name, when p is
// set (a listener without that range has none to show).
func AddRange[P interface {
	*DataPorts | *UDPPorts
	Usage() (inUse, size int, exhaustions uint64)
	Busy() uint64
}](st *ListenerStatus, name string, p P) {
	if p == nil {
		return
	}
	u := RangeUsage{Name: name}
	u.InUse, u.Size, u.Exhaustions = p.Usage()
	u.Busy = p.Busy()
	st.Ranges = append(st.Ranges, u)
}
