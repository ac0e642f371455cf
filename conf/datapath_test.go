package conf

import (
	"bytes"
	"strings"
	"testing"
)

// TestDataPath checks how data_path and the host decide a listener's
// data path.
func TestDataPath(t *testing.T) {
	tests := []struct {
		mode, noKernel, noAuto string
		path                   string
		why                    string // a substring
		err                    bool
	}{
		{DataPathProxy, "", "", DataPathProxy, `data_path = "proxy"`, false},
		{DataPathProxy, "no CAP_NET_ADMIN", "", DataPathProxy, `data_path = "proxy"`, false},
		{DataPathKernel, "", "", DataPathKernel, `data_path = "kernel"`, false},
		{DataPathKernel, "", "no forwarding", DataPathKernel, `data_path = "kernel"`, false},
		{DataPathKernel, "no CAP_NET_ADMIN", "", "", "", true},
		{DataPathAuto, "", "", DataPathKernel, "auto", false},
		{DataPathAuto, "", "no forwarding", DataPathProxy, "auto: no forwarding", false},
		{DataPathAuto, "no CAP_NET_ADMIN", "", DataPathProxy, "auto: no CAP_NET_ADMIN", false},
	}
	for _, tt := range tests {
		path, why, err := DataPath(tt.mode, tt.noKernel, tt.noAuto)
		if (err != nil) != tt.err || path != tt.path || !strings.Contains(why, tt.why) {
			t.Errorf("DataPath(%q, %q) = %q, %q, %v; want %q, %q, error %v", tt.mode, tt.noKernel, path, why, err, tt.path, tt.why, tt.err)
		}
		if tt.err && (err == nil || !strings.Contains(err.Error(), tt.noKernel)) {
			t.Errorf("DataPath(%q, %q): the error %v does not say why", tt.mode, tt.noKernel, err)
		}
	}
}

// TestCheckDataPaths checks the data path lines of algd check, and the
// warnings for a kernel path the host cannot serve.
func TestCheckDataPaths(t *testing.T) {
	tests := []struct {
		name  string
		toml  string
		sys   System
		lines []string // substrings of the output
		warn  string   // a substring of some warning; "" for none
	}{
		{"auto, available", okPool + okFTP, hostOK,
			[]string{`data path: ftp listener "203.0.113.10:21": kernel (auto: the kernel path is available; nftables table algd_nat; PORT/EPRT stay on the proxy path (no backend_ports))`}, ""},
		{"auto, unprivileged", okPool + okFTP, System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 20000, NoKernel: "no CAP_NET_ADMIN"},
			[]string{`data path: ftp listener "203.0.113.10:21": proxy (auto: no CAP_NET_ADMIN)`}, ""},
		{"proxy", okPool + ftpWith(`name = "p"`, `listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `data_path = "proxy"`), hostOK,
			[]string{`data path: ftp listener "p": proxy (data_path = "proxy")`}, ""},
		{"kernel refused", okPool + ftpWith(`name = "k"`, `listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `data_path = "kernel"`),
			System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 20000, NoKernel: "no nftables"},
			nil, `ftp listener "k": data_path = "kernel" but the kernel data path is unavailable: no nftables: algd run refuses to start here`},
		{"auto without forwarding", okPool + okFTP, System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 20000, NoForward: true},
			[]string{`data path: ftp listener "203.0.113.10:21": proxy (auto: net.ipv4.ip_forward = 0`}, ""},
		{"kernel without forwarding", okPool + ftpWith(`name = "k"`, `listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `data_path = "kernel"`, `backend_ports = "60000-60999"`, `proxy_protocol = "v2"`, `proxy_protocol_from = ["10.0.0.1"]`),
			System{EphemeralFirst: 32768, EphemeralLast: 60999, NoFile: 20000, NoForward: true},
			[]string{`data path: ftp listener "k": kernel (data_path = "kernel"; nftables table algd_nat; passive data through the PROXY balancers stays on the proxy path)`}, "IP forwarding is off"},
		{"example", "", hostOK, []string{
			`data path: ftp listener "vip-ftp": kernel (auto: the kernel path is available; nftables table algd_nat; tls.backend = "explicit": every data connection stays on the proxy path)`,
			`data path: rtsp listener "vip-rtsp": kernel (auto: the kernel path is available; nftables table algd_nat)`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *Config
			var err error
			if tt.toml == "" {
				c, err = loadExample(t)
			} else {
				c, err = Parse([]byte(tt.toml), "check.toml")
			}
			if err != nil {
				t.Fatal(err)
			}
			r := Check(c, tt.sys)
			var b bytes.Buffer
			r.Write(&b)
			for _, l := range tt.lines {
				if !strings.Contains(b.String(), l) {
					t.Errorf("output lacks %q; got:\n%s", l, b.String())
				}
			}
			all := strings.Join(r.Warnings, "\n")
			if tt.warn != "" && !strings.Contains(all, tt.warn) {
				t.Errorf("warnings lack %q; got:\n%s", tt.warn, all)
			}
		})
	}
}

// TestValidateDataPath checks the errors of data_path and [kernel].
func TestValidateDataPath(t *testing.T) {
	tests := []struct{ name, toml, want string }{
		{"unknown path", okPool + ftpWith(`listen = ["203.0.113.10:21"]`, `pool = "ftp"`, `passive_ports = "61000-61999"`, `data_path = "fast"`),
			`ftp[0].data_path: unknown data path "fast"`},
		{"bad table", okPool + okFTP + "[kernel]\nnft_table = \"1x\"\n", `kernel.nft_table: "1x" is not a table name`},
		{"ipvs table", okPool + okFTP + "[kernel]\nnft_table = \"algd\"\n", `kernel.nft_table: "algd" is also [ipvs] nft_table`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.toml), "bad.toml")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: %v; want an error with %q", err, tt.want)
			}
		})
	}
	c, err := Parse([]byte(okPool+okFTP), "ok.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.FTP[0].DataPath != DataPathAuto || c.Kernel.NFTTable != "algd_nat" || !c.Kernel.Cleanup() || !c.WantsKernel() {
		t.Errorf("defaults: data_path %q, [kernel] %+v, cleanup %v, wants kernel %v", c.FTP[0].DataPath, c.Kernel, c.Kernel.Cleanup(), c.WantsKernel())
	}
}
