package conf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestClaimsReject has one case per kind of collision: each must be
// refused with a message naming both keys, and the line of the other one.
func TestClaimsReject(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := os.WriteFile(certFile, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	tls := `tls = { cert = "` + certFile + `", key = "` + keyFile + `", implicit_listen = ["203.0.113.10:991"] }`
	ftp := func(listen, passive string, more ...string) string {
		return ftpWith(append([]string{`listen = ["` + listen + `"]`, `pool = "ftp"`, `passive_ports = "` + passive + `"`}, more...)...)
	}
	rtsp := func(listen string, more ...string) string {
		return rtspWith(append([]string{`listen = ["` + listen + `"]`, `pool = "media"`}, more...)...)
	}
	tests := []struct {
		name string
		toml string
		want []string
	}{
		{"consecutive listeners: control-1 is the other listen port",
			okPool + ftp("203.0.113.10:21", "61000-61099") + ftp("203.0.113.10:22", "61100-61199"),
			[]string{`bad.toml:11: ftp[1].active_source_port: "control-1" takes port 21 on 203.0.113.10 as the source of active data connections, where ftp[0].listen[0] "203.0.113.10:21" listens`,
				`(ftp[0].listen[0]: bad.toml:7)`}},
		{"consecutive listen ports of one listener",
			okPool + ftpWith(`listen = ["203.0.113.10:2121", "203.0.113.10:2122"]`, `pool = "ftp"`, `passive_ports = "61000-61099"`),
			[]string{`ftp[0].active_source_port: "control-1" takes port 2121 on 203.0.113.10`}},
		{"control-1 under a wildcard listener",
			okPool + ftp("0.0.0.0:2121", "61000-61099") + ftp("203.0.113.10:2122", "61100-61199"),
			[]string{`ftp[1].active_source_port: "control-1" takes port 2121 on 203.0.113.10`}},
		{"control-1 of an implicit FTPS listener",
			okPool + ftp("203.0.113.10:21", "61000-61099", tls) + rtspPool + rtsp("203.0.113.10:990", `media_ports = "63400-63499"`, `backend_source = "10.0.0.1"`, `backend_media_ports = "63500-63599"`),
			[]string{`ftp[0].active_source_port: "control-1" takes port 990 on 203.0.113.10`, `where rtsp[0].listen[0] "203.0.113.10:990" listens`}},
		{"control-1 on the advertised address",
			okPool + ftp("203.0.113.11:2122", "61000-61099", `advertise = "203.0.113.10"`) + ftp("203.0.113.10:2121", "61100-61199"),
			[]string{`ftp[0].active_source_port: "control-1" takes port 2121 on 203.0.113.10`}},
		{"fixed active port is a listen port",
			okPool + ftp("203.0.113.10:21", "61000-61099", `active_source_port = "2121"`) + ftp("203.0.113.10:2121", "61100-61199"),
			[]string{`ftp[0].active_source_port: "2121" takes port 2121 on 203.0.113.10`}},
		{"control-1 inside another passive range",
			okPool + okFTP + ftp("203.0.113.10:2121", "10-30"),
			[]string{`ftp[1].passive_ports: "10-30" overlaps ftp[0].active_source_port "control-1" on 203.0.113.10 (ports 20-20)`}},
		{"active range in another passive range",
			okPool + okFTP + ftp("203.0.113.10:2121", "62000-62999", `active_source_port = "61900-62100"`),
			[]string{`ftp[1].active_source_port: "61900-62100" overlaps ftp[0].passive_ports "61000-61999" on 203.0.113.10 (ports 61900-61999)`}},
		{"backend ports on the VIP overlap the passive range",
			okPool + ftp("203.0.113.10:21", "61000-61999", `advertise = "203.0.113.10"`, `backend_data_mode = "active"`,
				`backend_ports = "61500-62500"`, `backend_source = "203.0.113.10"`),
			[]string{`ftp[0].backend_ports: "61500-62500" overlaps passive_ports "61000-61999" on 203.0.113.10 (ports 61500-61999)`}},
		{"backend ports without backend_source",
			okPool + okFTP + ftp("203.0.113.11:21", "62000-62999", `backend_data_mode = "active"`, `backend_ports = "61000-61099"`),
			[]string{`ftp[1].backend_ports: "61000-61099" overlaps ftp[0].passive_ports "61000-61999" on 203.0.113.10 (ports 61000-61099)`}},
		{"admin on a listen port",
			okPool + okFTP + "[admin]\nlisten = \"203.0.113.10:21\"\n",
			[]string{`bad.toml:11: admin.listen: "203.0.113.10:21" listens on the port of ftp[0].listen[0] "203.0.113.10:21"`, `(ftp[0].listen[0]: bad.toml:7)`}},
		{"admin in the passive range",
			okPool + okFTP + "[admin]\nlisten = \"0.0.0.0:61021\"\n",
			[]string{`ftp[0].passive_ports: "61000-61999" contains port 61021 of admin.listen "0.0.0.0:61021" on 203.0.113.10`, `(admin.listen: bad.toml:11)`}},
		{"admin on control-1",
			okPool + okFTP + "[admin]\nlisten = \"203.0.113.10:20\"\n",
			[]string{`ftp[0].active_source_port: "control-1" takes port 20 on 203.0.113.10 as the source of active data connections, where admin.listen "203.0.113.10:20" listens`}},
		{"rtsp listener in the passive range",
			okPool + okFTP + rtspPool + rtsp("203.0.113.10:61554", `media_ports = "63400-63499"`, `backend_source = "10.0.0.1"`, `backend_media_ports = "63500-63599"`),
			[]string{`ftp[0].passive_ports: "61000-61999" contains port 61554 of rtsp[0].listen[0] "203.0.113.10:61554"`}},
		{"media range of one listener, backend range of another",
			rtspPool + okRTSP + rtsp("203.0.113.11:554", `advertise = "203.0.113.11"`, `media_ports = "63000-63099"`, `backend_source = "203.0.113.10"`, `backend_media_ports = "63450-63549"`),
			[]string{`rtsp[1].backend_media_ports: "63450-63549" overlaps rtsp[0].media_ports "63400-63499" on 203.0.113.10 (udp ports 63450-63499)`}},
		{"media range without advertise on the listen address",
			rtspPool + rtsp("203.0.113.10:554", `media_ports = "63400-63499"`, `backend_source = "10.0.0.1"`, `backend_media_ports = "63500-63599"`) +
				rtsp("203.0.113.10:8554", `media_ports = "63498-63599"`, `backend_source = "10.0.0.1"`, `backend_media_ports = "63600-63699"`),
			[]string{`rtsp[1].media_ports: "63498-63599" overlaps rtsp[0].media_ports "63400-63499" on 203.0.113.10 (udp ports 63498-63499)`}},
		{"group UDP ports on a media range",
			rtspPool + okRTSP + groupWith(`name = "rm"`, `vip = "203.0.113.10"`, `ports = ["tcp/7070", "udp/63400-63410"]`, `pool = "media"`),
			[]string{`group[0].ports[1]: "udp/63400-63410" claims udp ports 63400-63410 that rtsp[0].media_ports "63400-63499" terminates in algd on 203.0.113.10`}},
		{"group on the rtsp listen port",
			rtspPool + okRTSP + groupWith(`name = "rm"`, `vip = "203.0.113.10"`, `ports = ["tcp/554"]`, `pool = "media"`),
			[]string{`group[0].ports[0]: "tcp/554" claims tcp ports 554-554 that rtsp[0].listen[0] "203.0.113.10:554" terminates in algd`}},
		{"group on control-1",
			okPool + okFTP + groupWith(`name = "g"`, `vip = "203.0.113.10"`, `ports = ["tcp/20"]`, `pool = "ftp"`),
			[]string{`group[0].ports[0]: "tcp/20" claims tcp ports 20-20 that ftp[0].active_source_port "control-1" terminates in algd on 203.0.113.10`}},
		{"group on the backend media range without backend_source",
			rtspPool + rtsp("203.0.113.10:554", `advertise = "203.0.113.10"`, `media_ports = "63400-63499"`, `backend_media_ports = "63500-63599"`) +
				groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["udp/63500"]`, `pool = "media"`, `health = { kind = "none" }`),
			[]string{`group[0].ports[0]: "udp/63500" claims udp ports 63500-63500 that rtsp[0].backend_media_ports "63500-63599" terminates in algd on 203.0.113.20`}},
		{"listen address is a pool member",
			poolWith(`name = "ftp"`, `realservers = [{ address = "10.0.0.11:21" }, { address = "203.0.113.10:21" }]`) + okFTP,
			[]string{`bad.toml:7: ftp[0].listen[0]: "203.0.113.10:21" is also pool[0].realservers[1] "203.0.113.10:21" of pool "ftp": algd would connect to itself, a loop`,
				`(pool[0].realservers[1].address: bad.toml:4)`}},
		{"wildcard listener and a loopback member",
			poolWith(`name = "ftp"`, `realservers = [{ address = "127.0.0.1:2121" }]`) + ftp("0.0.0.0:2121", "61000-61999"),
			[]string{`ftp[0].listen[0]: "0.0.0.0:2121" is also pool[0].realservers[0] "127.0.0.1:2121"`}},
		{"rtsp listener is a member of the ftp pool",
			poolWith(`name = "ftp"`, `realservers = [{ address = "203.0.113.10:554" }]`) + okFTP + rtspPool + okRTSP,
			[]string{`rtsp[0].listen[0]: "203.0.113.10:554" is also pool[0].realservers[0] "203.0.113.10:554" of pool "ftp"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "bad.toml")
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

// TestClaimsAccept holds sharing that is meant: it must stay valid.
func TestClaimsAccept(t *testing.T) {
	tests := []struct {
		name string
		toml string
	}{
		{"listeners on consecutive ports with active_source_port any",
			okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61099"`) +
				ftpWith(`listen = ["203.0.113.10:22"]`, `pool = "ftp"`, `passive_ports = "61100-61199"`, `active_source_port = "any"`)},
		{"one fixed active port shared by two listeners of one address",
			okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61099"`, `active_source_port = "20"`) +
				ftpWith(`listen = ["203.0.113.10:2121"]`, `pool = "ftp"`, `passive_ports = "61100-61199"`, `active_source_port = "20"`)},
		{"control-1 of one listener is the fixed active port of another",
			okPool + okFTP + ftpWith(`listen = ["203.0.113.10:2121"]`, `pool = "ftp"`, `passive_ports = "62000-62999"`, `active_source_port = "20"`)},
		{"one listener on two addresses, same port",
			okPool + ftpWith(`listen = ["203.0.113.10:21", "203.0.113.11:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`)},
		{"same ranges on two VIPs",
			okPool + okFTP + ftpWith(`listen = ["203.0.113.11:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `active_source_port = "60000-60999"`) +
				ftpWith(`listen = ["203.0.113.12:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `active_source_port = "60000-60999"`)},
		{"TCP and UDP on the same port numbers",
			okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "63400-63499"`) + rtspPool + okRTSP},
		{"backend ports on the backend address mirror the passive range",
			okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `backend_data_mode = "active"`,
				`backend_ports = "61000-61999"`, `backend_source = "10.0.0.1"`)},
		{"backend ports are ignored in passive backend mode",
			okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `backend_ports = "61000-61999"`)},
		{"a group on another VIP with the same ports",
			okPool + okFTP + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/20-21", "tcp/61000-61999"]`, `pool = "ftp"`)},
		{"a group naming its port twice",
			okPool + groupWith(`name = "g"`, `vip = "203.0.113.20"`, `ports = ["tcp/80", "tcp/80-81"]`, `pool = "ftp"`)},
		{"a member on the listen port of another address",
			poolWith(`name = "ftp"`, `realservers = [{ address = "203.0.113.11:21" }]`) + okFTP},
		{"admin on loopback beside a wildcard listener",
			okPool + ftpWith(`listen = ["0.0.0.0:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`) + "[admin]\nlisten = \"127.0.0.1:9021\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.toml), "ok.toml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
	for _, p := range []string{"testdata/minimal.toml", "testdata/dualstack.toml"} {
		if _, err := Load(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}
