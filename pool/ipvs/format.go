package ipvs

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ServiceArgs returns the ipvsadm arguments that identify and configure s,
// in the order ipvsadm -S prints them: "-f 1 -s sh -p 600 -b sh-fallback".
// IPv6 services carry -6. No -M: ipvsadm's default persistence netmask,
// /32 (/128), is the one algd uses.
func ServiceArgs(s Service) string {
	var b strings.Builder
	b.WriteString(serviceID(s))
	b.WriteString(" -s " + s.Scheduler)
	if s.Flags&Persistent != 0 {
		fmt.Fprintf(&b, " -p %d", s.Timeout)
	}
	var sf []string
	if s.Flags&SHFallback != 0 {
		sf = append(sf, "sh-fallback")
	}
	if s.Flags&SHPort != 0 {
		sf = append(sf, "sh-port")
	}
	if len(sf) > 0 {
		b.WriteString(" -b " + strings.Join(sf, ","))
	}
	if s.Flags&OnePacket != 0 {
		b.WriteString(" -o")
	}
	return b.String()
}

// serviceID is "-f MARK" with -6 for IPv6.
func serviceID(s Service) string {
	if s.IPv6 {
		return "-f " + strconv.FormatUint(uint64(s.Mark), 10) + " -6"
	}
	return "-f " + strconv.FormatUint(uint64(s.Mark), 10)
}

// DestArgs returns the ipvsadm arguments of destination d of s:
// "-f 1 -r 10.0.0.21:0 -m -w 1".
func DestArgs(s Service, d Dest) string {
	fwd := map[Forward]string{Masq: "-m", DR: "-g", Tunnel: "-i"}[d.Forward]
	return fmt.Sprintf("%s -r %s %s -w %d", serviceID(s), netip.AddrPortFrom(d.Addr, 0), fwd, d.Weight)
}

// destID is the part of DestArgs that identifies a destination.
func destID(s Service, d Dest) string {
	return fmt.Sprintf("%s -r %s", serviceID(s), netip.AddrPortFrom(d.Addr, 0))
}

// WriteIPVSRestore writes the services of st as ipvsadm-restore input:
// "-A" per service, then "-a" per destination in configuration order (the
// order they are added in). It adds no "-C": ipvsadm -C would clear
// services algd does not own.
func WriteIPVSRestore(w io.Writer, st State) error {
	var b strings.Builder
	for _, s := range st.Services {
		fmt.Fprintf(&b, "# group %s\n-A %s\n", s.Group, ServiceArgs(s))
		for _, d := range s.Dests {
			fmt.Fprintf(&b, "-a %s\n", DestArgs(s, d))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Chain names and hook of the owned table.
const (
	// chainName is the one chain of the owned table.
	chainName = "prerouting"
	// chainPriority is NF_IP_PRI_MANGLE (-150, nft's "mangle"): after
	// conntrack (-200), before IPVS, which hooks NF_INET_LOCAL_IN (and
	// FORWARD) and so sees the mark.
	chainPriority = -150
)

// RuleText is the nft syntax of one marking rule.
func RuleText(m Mark) string {
	fam := "ip"
	if m.VIP.Is6() {
		fam = "ip6"
	}
	ports := strconv.Itoa(int(m.Ports.First))
	if m.Ports.Last != m.Ports.First {
		ports += "-" + strconv.Itoa(int(m.Ports.Last))
	}
	return fmt.Sprintf("%s daddr %s %s dport %s counter meta mark set 0x%08x comment %q",
		fam, m.VIP, m.Proto, ports, m.Mark, ruleComment(m))
}

// WriteNFT writes st's table as an nft -f script that replaces the table
// atomically: nft applies a file as one transaction, and "table" before
// "delete table" makes the delete succeed when the table is new.
func WriteNFT(w io.Writer, st State) error {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %[1]s\ndelete table inet %[1]s\n", st.Table)
	if len(st.Marks) > 0 {
		fmt.Fprintf(&b, "table inet %s {\n\tchain %s {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n", st.Table, chainName)
		for _, m := range st.Marks {
			fmt.Fprintf(&b, "\t\t%s\n", RuleText(m))
		}
		b.WriteString("\t}\n}\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WritePlan writes both halves of the plan with headings.
func WritePlan(w io.Writer, st State) error {
	if _, err := fmt.Fprintf(w, "# ipvsadm-restore (fwmarks %s owned by algd)\n", st.Range); err != nil {
		return err
	}
	if err := WriteIPVSRestore(w, st); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "\n# nft -f\n"); err != nil {
		return err
	}
	return WriteNFT(w, st)
}

// WriteStatus writes services like ipvsadm -Ln, each fwmark service with
// the group that owns it: "(group NAME)", "(algd, no group)" for a service
// in the owned range that no group claims, nothing for foreign ones.
// Destinations are listed in kernel order, as ipvsadm does.
func WriteStatus(w io.Writer, kernel []Service, want State) error {
	var b strings.Builder
	b.WriteString("Prot LocalAddress:Port Scheduler Flags\n")
	b.WriteString("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	for _, s := range kernel {
		fam := "FWM"
		if s.IPv6 {
			fam = "FWM6"
		}
		fmt.Fprintf(&b, "%s  %d %s", fam, s.Mark, s.Scheduler)
		if s.Flags&SHFallback != 0 {
			b.WriteString(" (sh-fallback)")
		}
		if s.Flags&Persistent != 0 {
			fmt.Fprintf(&b, " persistent %d", s.Timeout)
		}
		if s.Flags&OnePacket != 0 {
			b.WriteString(" ops")
		}
		switch own := want.service(s.Mark, s.IPv6); {
		case own != nil:
			fmt.Fprintf(&b, "  (group %s)", own.Group)
		case want.Range.Contains(s.Mark):
			b.WriteString("  (algd, no group: deleted by the next reconcile)")
		}
		b.WriteString("\n")
		for _, d := range s.Dests {
			fmt.Fprintf(&b, "  -> %-28s %-7s %-6d %-10d %d\n", netip.AddrPortFrom(d.Addr, 0), d.Forward, d.Weight, d.Active, d.Inactive)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ruleComment is the comment of a marking rule. It names everything the
// rule matches, so that a rule read back from the kernel can be turned
// into a Mark, rebuilt, and compared expression by expression.
func ruleComment(m Mark) string {
	return fmt.Sprintf("algd group=%s vip=%s proto=%s ports=%s mark=%d", m.Group, m.VIP, m.Proto, m.Ports, m.Mark)
}

// parseComment is the inverse of ruleComment; ok is false for any other
// text.
func parseComment(s string) (m Mark, ok bool) {
	f := strings.Fields(s)
	if len(f) != 6 || f[0] != "algd" {
		return Mark{}, false
	}
	kv := map[string]string{}
	for _, x := range f[1:] {
		k, v, found := strings.Cut(x, "=")
		if !found {
			return Mark{}, false
		}
		kv[k] = v
	}
	vip, err := netip.ParseAddr(kv["vip"])
	if err != nil {
		return Mark{}, false
	}
	first, last, found := strings.Cut(kv["ports"], "-")
	p1, err1 := strconv.ParseUint(first, 10, 16)
	p2, err2 := strconv.ParseUint(last, 10, 16)
	mark, err3 := strconv.ParseUint(kv["mark"], 10, 32)
	if !found || err1 != nil || err2 != nil || err3 != nil || (kv["proto"] != "tcp" && kv["proto"] != "udp") {
		return Mark{}, false
	}
	m = Mark{Group: kv["group"], VIP: vip, Proto: kv["proto"], Mark: uint32(mark)}
	m.Ports.First, m.Ports.Last = uint16(p1), uint16(p2)
	return m, true
}
