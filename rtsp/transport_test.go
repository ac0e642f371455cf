package rtsp

import "testing"

var transportCases = []struct {
	name, in, out string
	bad           bool
}{
	{"client udp", "RTP/AVP;unicast;client_port=5000-5001", "RTP/AVP;unicast;client_port=5000-5001", false},
	{"unknown params, order and ssrc kept", "RTP/AVP/UDP;unicast;x-foo=bar;client_port=5000-5001;ssrc=DEADBEEF;mode=\"PLAY\";x-flag",
		"RTP/AVP/UDP;unicast;x-foo=bar;client_port=5000-5001;ssrc=DEADBEEF;mode=\"PLAY\";x-flag", false},
	{"two specs, spaces", "RTP/AVP;multicast , RTP/AVP/TCP;interleaved=0-1", "RTP/AVP;multicast,RTP/AVP/TCP;interleaved=0-1", false},
	{"empty params dropped", "RTP/AVP;;unicast;", "RTP/AVP;unicast", false},
	{"not rtp", "RAW/RAW/UDP;unicast", "", true},
	{"empty", " , ", "", true},
}

func TestTransport(t *testing.T) {
	for _, tc := range transportCases {
		t.Run(tc.name, func(t *testing.T) {
			var tr Transport
			err := tr.Unmarshal(tc.in)
			if tc.bad {
				if err == nil {
					t.Fatalf("Unmarshal(%q) accepted: %+v", tc.in, tr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tr.Marshal(); got != tc.out {
				t.Errorf("Marshal = %q, want %q", got, tc.out)
			}
			var again Transport
			if err := again.Unmarshal(tr.Marshal()); err != nil || again.Marshal() != tc.out {
				t.Errorf("round trip %q, %v", again.Marshal(), err)
			}
		})
	}
}

func TestTransportPorts(t *testing.T) {
	tests := []struct {
		in        string
		rtp, rtcp uint16
		ok        bool
	}{
		{"RTP/AVP;client_port=5000-5001", 5000, 5001, true},
		{"RTP/AVP;client_port=5000", 5000, 5001, true},
		{"RTP/AVP;client_port=65535", 0, 0, false},
		{"RTP/AVP;client_port=0-1", 0, 0, false},
		{"RTP/AVP;client_port=a-b", 0, 0, false},
		{"RTP/AVP;client_port=5000-70000", 0, 0, false},
		{"RTP/AVP;server_port=5000-5001", 0, 0, false},
	}
	for _, tc := range tests {
		var tr Transport
		if err := tr.Unmarshal(tc.in); err != nil {
			t.Fatal(err)
		}
		rtp, rtcp, ok := tr.Specs[0].Ports("client_port")
		if rtp != tc.rtp || rtcp != tc.rtcp || ok != tc.ok {
			t.Errorf("%q: %d %d %v, want %d %d %v", tc.in, rtp, rtcp, ok, tc.rtp, tc.rtcp, tc.ok)
		}
	}
}

func TestTransportSpecEdit(t *testing.T) {
	var tr Transport
	if err := tr.Unmarshal("RTP/AVP;unicast;Client_Port=5000-5001;source=10.0.0.1;ssrc=1"); err != nil {
		t.Fatal(err)
	}
	sp := &tr.Specs[0]
	sp.SetPorts("client_port", 63500, 63501)
	sp.Set("source", "203.0.113.10")
	sp.Set("server_port", "63400-63401")
	sp.Del("ssrc")
	if got, want := tr.Marshal(), "RTP/AVP;unicast;Client_Port=63500-63501;source=203.0.113.10;server_port=63400-63401"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if sp.IsTCP() || sp.IsMulticast() {
		t.Errorf("IsTCP %v IsMulticast %v", sp.IsTCP(), sp.IsMulticast())
	}
}

func FuzzTransport(f *testing.F) {
	for _, tc := range transportCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var tr Transport
		if tr.Unmarshal(in) != nil {
			return
		}
		out := tr.Marshal()
		var again Transport
		if err := again.Unmarshal(out); err != nil {
			t.Fatalf("%q -> %q no longer parses: %v", in, out, err)
		}
		if again.Marshal() != out {
			t.Fatalf("%q -> %q -> %q", in, out, again.Marshal())
		}
		for _, sp := range tr.Specs {
			sp.Ports("client_port")
		}
	})
}
