package ftp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/algd/algd/internal/scrape"

	"github.com/algd/algd/alg"
)

// TestMetrics checks that an FTP listener's counters reach /metrics under
// the names algd has always used, and /status under their keys, from one
// table.
func TestMetrics(t *testing.T) {
	h := &Handler{Name: "vip", Stats: &Stats{}, DataPorts: alg.NewDataPorts(61000, 61099), Offenders: alg.NewOffenders(4)}
	s := h.Stats
	s.Sessions.Store(7)
	s.Active.Store(1)
	s.Refused.Store(2)
	s.BytesDown.Store(123456)
	s.BytesUp.Store(42)
	s.Theft.Store(4)
	s.DataSecond.Store(12)
	s.DataOutsideWindow.Store(13)
	s.Bounce.Store(6)
	s.ProxyRefused.Store(8)
	s.Overloaded.Store(5)
	s.TLSHandshakes.Store(9)
	s.FailedIdle.Store(3)
	s.KernelConns.Store(14)
	s.ProxyConns.Store(15)
	s.KernelMapFailed.Store(16)
	s.Commands.Add(RefusedTelnet)
	s.Commands.Add(RefusedControl)
	if _, err := h.DataPorts.Ports(netip.MustParseAddr("127.0.0.10")).Reserve(); err != nil {
		t.Fatal(err)
	}
	h.Offenders.Add(netip.MustParseAddr("198.51.100.7"), alg.RefusedForeign, time.Now())

	text, err := scrape.Text(h)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`algd_sessions_total{listener="vip"} 7`,
		`algd_sessions_active{listener="vip"} 1`,
		`algd_sessions_refused_total{listener="vip"} 2`,
		`algd_data_bytes_total{direction="down",listener="vip"} 123456`,
		`algd_data_bytes_total{direction="up",listener="vip"} 42`,
		`algd_refused_total{listener="vip",reason="theft"} 4`,
		`algd_refused_total{listener="vip",reason="second_connection"} 12`,
		`algd_refused_total{listener="vip",reason="outside_window"} 13`,
		`algd_refused_total{listener="vip",reason="bounce"} 6`,
		`algd_refused_total{listener="vip",reason="proxy"} 8`,
		`algd_refused_total{listener="vip",reason="overload"} 5`,
		`algd_ftp_commands_refused_total{listener="vip",reason="telnet"} 1`,
		`algd_ftp_commands_refused_total{listener="vip",reason="control"} 1`,
		`algd_ftp_commands_refused_total{listener="vip",reason="unknown"} 0`,
		`algd_transfers_failed_total{listener="vip",reason="idle"} 3`,
		`algd_passive_ports_in_use{listener="vip"} 1`,
		`algd_passive_ports{listener="vip"} 100`,
		`algd_passive_ports_exhausted_total{listener="vip"} 0`,
		`algd_tls_handshakes_total{listener="vip"} 9`,
		`algd_data_path_connections_total{listener="vip",path="kernel"} 14`,
		`algd_data_path_connections_total{listener="vip",path="proxy"} 15`,
		`algd_kernel_map_failures_total{listener="vip"} 16`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	st := h.Status()
	if st.Proto != "ftp" || st.Name != "vip" || st.Counters["bytes_down"] != 123456 || st.Counters["theft"] != 4 ||
		st.Counters["commands_refused.telnet"] != 1 || st.Counters["transfers_failed.idle"] != 3 {
		t.Errorf("Status counters = %v", st.Counters)
	}
	if len(st.Ranges) != 1 || st.Ranges[0] != (alg.RangeUsage{Name: "passive", InUse: 1, Size: 100}) {
		t.Errorf("Status ranges = %+v", st.Ranges)
	}
	if len(st.DataRefusals) != 1 || st.DataRefusals[0].Theft != 1 {
		t.Errorf("Status data refusals = %+v", st.DataRefusals)
	}
	for _, k := range []string{"active", "sessions", "refused", "bytes_down", "bytes_up"} {
		if _, ok := st.Counters[k]; !ok {
			t.Errorf("Status lacks the common counter %q", k)
		}
	}
}
