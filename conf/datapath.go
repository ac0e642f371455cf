package conf

import (
	"fmt"
	"slices"
	"strings"
)

// The values of data_path ([[ftp]] and [[rtsp]]).
const (
	// DataPathAuto takes the kernel path where algd can use it (the
	// capability and nftables are there), the proxy path elsewhere.
	DataPathAuto = "auto"
	// DataPathKernel forwards data connections (and media) by one-shot
	// NAT mappings in algd's nftables table: the bytes never enter
	// algd. Without the capability or nftables algd does not start.
	DataPathKernel = "kernel"
	// DataPathProxy carries every data byte through algd (splice).
	DataPathProxy = "proxy"
)

var dataPaths = []string{DataPathAuto, DataPathKernel, DataPathProxy}

// defaultKernelTable is the default of [kernel] nft_table.
const defaultKernelTable = "algd_nat"

// Kernel configures the kernel data path ([kernel]): the nftables table
// algd owns for its NAT mappings. It is used when some listener's
// data_path is "kernel", or "auto" where the kernel path is available.
type Kernel struct {
	// NFTTable is the name of the nftables table (families ip and ip6 as
	// one inet table) that algd creates as a whole at start, replacing
	// what a crashed algd left, and owns alone. Default "algd_nat"; not
	// the [ipvs] nft_table.
	NFTTable string `toml:"nft_table"`
	// CleanupOnExit deletes the table when algd stops, so that nothing
	// it mapped is forwarded any more (transfers still running are cut
	// at the end of the drain anyway). An algd that hands over to a new
	// one (takeover) leaves the table to it. Default true.
	CleanupOnExit *bool `toml:"cleanup_on_exit"`
}

// Cleanup returns CleanupOnExit with its default applied.
func (k Kernel) Cleanup() bool { return k.CleanupOnExit == nil || *k.CleanupOnExit }

// DataPath decides the data path of a listener whose data_path is mode,
// on a host where the kernel path is unavailable for the reason
// noKernel ("" when it is available) and where "auto" declines it for
// the reason noAuto ("" for none: IPv4 forwarding is off, so realservers
// on other hosts could not be reached): "kernel" or "proxy", and why in
// words. err is set when mode is "kernel" and the host cannot serve it.
func DataPath(mode, noKernel, noAuto string) (path, why string, err error) {
	switch {
	case mode == DataPathProxy:
		return DataPathProxy, `data_path = "proxy"`, nil
	case noKernel == "" && mode == DataPathKernel:
		return DataPathKernel, `data_path = "kernel"`, nil
	case noKernel == "" && noAuto == "":
		return DataPathKernel, "auto: the kernel path is available", nil
	case mode == DataPathKernel:
		return "", "", fmt.Errorf(`data_path = "kernel" but the kernel data path is unavailable: %s`, noKernel)
	case noKernel == "":
		return DataPathProxy, "auto: " + noAuto, nil
	}
	return DataPathProxy, "auto: " + noKernel, nil
}

// NoForwardAuto is why "auto" declines the kernel path on a host whose
// IPv4 forwarding is off.
const NoForwardAuto = "net.ipv4.ip_forward = 0 (the kernel path forwards to realservers; set it to 1 or data_path = \"kernel\")"

// WantsKernel reports whether some listener may take the kernel path
// (its data_path is not "proxy"): only then is the host probed for it.
func (c *Config) WantsKernel() bool {
	for _, f := range c.FTP {
		if f.DataPath != DataPathProxy {
			return true
		}
	}
	for _, r := range c.RTSP {
		if r.DataPath != DataPathProxy {
			return true
		}
	}
	return false
}

// setKernelDefaults fills the defaults of data_path and [kernel].
func (c *Config) setKernelDefaults() {
	for i := range c.FTP {
		if c.FTP[i].DataPath == "" {
			c.FTP[i].DataPath = DataPathAuto
		}
	}
	for i := range c.RTSP {
		if c.RTSP[i].DataPath == "" {
			c.RTSP[i].DataPath = DataPathAuto
		}
	}
	if c.Kernel.NFTTable == "" {
		c.Kernel.NFTTable = defaultKernelTable
	}
}

// validateKernel checks data_path on every listener and [kernel].
func (c *Config) validateKernel(p *problems) {
	check := func(at, mode string) {
		if !slices.Contains(dataPaths, mode) {
			p.add(at+".data_path", "unknown data path %q: want one of %q", mode, dataPaths)
		}
	}
	for i, f := range c.FTP {
		check(fmt.Sprintf("ftp[%d]", i), f.DataPath)
	}
	for i, r := range c.RTSP {
		check(fmt.Sprintf("rtsp[%d]", i), r.DataPath)
	}
	switch t := c.Kernel.NFTTable; {
	case !validNFTName(t):
		p.add("kernel.nft_table", "%q is not a table name: want letters, digits and _ (at most 64), starting with a letter", t)
	case t == c.IPVS.NFTTable:
		p.add("kernel.nft_table", "%q is also [ipvs] nft_table: each table is replaced as a whole by its owner; name another", t)
	}
}

// checkDataPaths adds, per listener, the data path it will take on sys
// and why, and what stays on the proxy path even so.
func (c *Config) checkDataPaths(r *Report, sys System) {
	noAuto := ""
	if sys.NoForward {
		noAuto = NoForwardAuto
	}
	line := func(proto, name, mode string, notes []string) {
		path, why, err := DataPath(mode, sys.NoKernel, noAuto)
		if err != nil {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s listener %q: %v: algd run refuses to start here", proto, name, err))
			return
		}
		if path == DataPathKernel {
			notes = append([]string{why, "nftables table " + c.Kernel.NFTTable}, notes...)
			if sys.NoForward {
				r.Warnings = append(r.Warnings, fmt.Sprintf(
					"%s listener %q takes the kernel data path but IP forwarding is off: forwarded data connections are dropped; sysctl -w net.ipv4.ip_forward=1 (and net.ipv6.conf.all.forwarding=1 for IPv6)", proto, name))
			}
		} else {
			notes = []string{why}
		}
		r.DataPaths = append(r.DataPaths, fmt.Sprintf("%s listener %q: %s (%s)", proto, name, path, strings.Join(notes, "; ")))
	}
	for _, f := range c.FTP {
		var notes []string
		switch {
		case f.TLS.Backend != "" && f.TLS.Backend != "plain":
			notes = append(notes, fmt.Sprintf("tls.backend = %q: every data connection stays on the proxy path", f.TLS.Backend))
		case f.TLS.Cert != "":
			notes = append(notes, "FTPS data with PROT P stays on the proxy path")
		}
		if f.ProxyProtocol != "" && f.ProxyProtocol != "off" {
			notes = append(notes, "passive data through the PROXY balancers stays on the proxy path")
		}
		if f.BackendRange == (PortRange{}) {
			notes = append(notes, "PORT/EPRT stay on the proxy path (no backend_ports)")
		}
		line("ftp", f.Name, f.DataPath, notes)
	}
	for _, rt := range c.RTSP {
		line("rtsp", rt.Name, rt.DataPath, nil)
	}
}
