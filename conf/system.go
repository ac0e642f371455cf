package conf

import (
	"os"
	"strconv"
	"strings"
)

// ReadSystem reads the kernel's ephemeral port range from
// /proc/sys/net/ipv4/ip_local_port_range, whether IPv4 forwarding is on
// and the soft RLIMIT_NOFILE. What it cannot read takes the Linux
// defaults, 32768-60999 and 1024 (forwarding: taken as on).
func ReadSystem() System {
	sys := System{EphemeralFirst: defaultEphemeralFirst, EphemeralLast: defaultEphemeralLast, NoFile: defaultNoFile}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if first, last, ok := parseLocalPortRange(string(b)); ok {
			sys.EphemeralFirst, sys.EphemeralLast = first, last
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); err == nil {
		sys.NoForward = strings.TrimSpace(string(b)) == "0"
	}
	if n, ok := softNoFile(); ok {
		sys.NoFile = n
	}
	return sys
}

// parseLocalPortRange parses the contents of ip_local_port_range: two
// port numbers separated by white space ("32768\t60999\n").
func parseLocalPortRange(s string) (first, last uint16, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	a, errA := strconv.ParseUint(f[0], 10, 16)
	b, errB := strconv.ParseUint(f[1], 10, 16)
	if errA != nil || errB != nil || a == 0 || a > b {
		return 0, 0, false
	}
	return uint16(a), uint16(b), true
}
