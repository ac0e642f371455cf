//go:build bench

package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/algd/algd/bench/stats"
)

// results holds every measurement: scenario → metric → contender.
type results struct {
	order map[string][]string // scenario → metrics in first-seen order
	cons  map[string][]string // scenario → contenders in first-seen order
	data  map[string]stats.Sample
}

func newResults() *results {
	return &results{order: map[string][]string{}, cons: map[string][]string{}, data: map[string]stats.Sample{}}
}

func key(s, m, c string) string { return s + "\x00" + m + "\x00" + c }

func (r *results) add(s, m, c string, v float64) {
	if !slices.Contains(r.order[s], m) {
		r.order[s] = append(r.order[s], m)
	}
	if !slices.Contains(r.cons[s], c) {
		r.cons[s] = append(r.cons[s], c)
	}
	r.data[key(s, m, c)] = append(r.data[key(s, m, c)], v)
}

func (r *results) get(s, m, c string) stats.Sample { return r.data[key(s, m, c)] }

var titles = map[string]string{
	"1": "Scenario 1: one large passive download and upload (curl, PASV)",
	"2": "Scenario 2: short sessions, 50 concurrent clients (connect, banner, login, PASV, RETR 1 KiB, QUIT)",
	"3": "Scenario 3: idle logged-in control sessions (ftpserverlib backend)",
	"4": "Scenario 4: concurrent 1 MiB downloads, each checked by SHA-256",
	"7": "Scenario 7: a burst of logins held idle, to one vsftpd (failed logins: 0 where direct has 0)",
	"5": "Scenario 5: RTSP media relay, 1200-byte RTP datagrams offered above what the relays move (paced, -rtp-rate), relay pinned to core 1, load on core 0",
}

// markdown renders every scenario's table, then the targets.
func (r *results) markdown(e *env) string {
	var b strings.Builder
	for _, s := range []string{"1", "2", "3", "4", "7", "5"} {
		if len(r.order[s]) == 0 {
			continue
		}
		refName := "direct; routed for nft, algd-kernel and algd-ns"
		if s == "5" {
			refName = "naive; naive-ns for algd-kernel and algd-ns"
		}
		fmt.Fprintf(&b, "### %s\n\nmedian (min–max) over %d rounds; ratio = median / median of the reference (%s)\n\n", titles[s], *flagRounds, refName)
		b.WriteString("| metric |")
		for _, c := range r.cons[s] {
			fmt.Fprintf(&b, " %s |", c)
		}
		b.WriteString("\n|---|")
		b.WriteString(strings.Repeat("---|", len(r.cons[s])))
		b.WriteString("\n")
		for _, m := range r.order[s] {
			fmt.Fprintf(&b, "| %s |", m)
			for _, c := range r.cons[s] {
				fmt.Fprintf(&b, " %s |", r.get(s, m, c).Format(verb(m)))
			}
			b.WriteString("\n")
			if strings.HasSuffix(m, "MiB/s") || m == "sessions/s" || strings.HasSuffix(m, "pkt/s") {
				fmt.Fprintf(&b, "| ↳ ratio |")
				for _, c := range r.cons[s] {
					rc := ref(s, c)
					if x := stats.Ratio(r.get(s, m, c), r.get(s, m, rc)); x > 0 {
						fmt.Fprintf(&b, " %.2f |", x)
					} else {
						b.WriteString(" – |")
					}
				}
				b.WriteString("\n")
			}
		}
		b.WriteString("\n")
	}
	if e.nftErr != nil {
		fmt.Fprintf(&b, "nftables contender skipped: %v\n\n", e.nftErr)
	}
	for _, c := range slices.Sorted(maps.Keys(e.skipped)) {
		fmt.Fprintf(&b, "%s skipped: %s\n\n", c, strings.ReplaceAll(strings.TrimSpace(e.skipped[c]), "\n", " | "))
	}
	b.WriteString(r.targets())
	return b.String()
}

func verb(metric string) string {
	switch {
	case strings.Contains(metric, "CPU"), strings.Contains(metric, "RSS"):
		return "%.2f"
	case strings.Contains(metric, "kpkt/s"):
		return "%.1f"
	}
	return "%.0f"
}

// targets renders the targets with the figures of this run.
func (r *results) targets() string {
	var b strings.Builder
	b.WriteString("### Targets\n\n| target | figure | met |\n|---|---|---|\n")
	line := func(name string, fig float64, ok bool, format string) {
		if fig == 0 && !ok {
			return
		}
		met := "no"
		if ok {
			met = "yes"
		}
		fmt.Fprintf(&b, "| %s | "+format+" | %s |\n", name, fig, met)
	}
	for _, dir := range []string{"download", "upload"} {
		m := dir + " MiB/s"
		if r.get("1", m, "algd") == nil {
			continue
		}
		x := stats.Ratio(r.get("1", m, "algd"), r.get("1", m, "direct"))
		line("1 "+dir+": algd ≥ 0.90 × direct", x, x >= 0.90, "%.2f")
		if r.get("1", m, "haproxy-splice") != nil {
			y := stats.Ratio(r.get("1", m, "algd"), r.get("1", m, "haproxy-splice"))
			line("1 "+dir+": algd ≥ 1.00 × haproxy-splice", y, y >= 1, "%.2f")
			cm := dir + " proxy CPU s/GiB"
			a, h := r.get("1", cm, "algd").Median(), r.get("1", cm, "haproxy-splice").Median()
			line(fmt.Sprintf("1 %s: algd CPU s/GiB ≤ haproxy-splice's (%.2f)", dir, h), a, a <= h, "%.2f")
		}
	}
	if r.get("2", "sessions/s", "algd") != nil {
		x := stats.Ratio(r.get("2", "sessions/s", "algd"), r.get("2", "sessions/s", "direct"))
		line("2: algd sessions/s ≥ 0.85 × direct", x, x >= 0.85, "%.2f")
	}
	for _, f := range []struct{ s, m, name string }{
		{"2", "failed", "2: algd failed short sessions (total over rounds) where direct has none"},
		{"7", "failed logins", "7: algd failed logins (total over rounds) where direct has none"},
	} {
		if a, d := r.get(f.s, f.m, "algd"), r.get(f.s, f.m, "direct"); a != nil && d != nil && sum(d) == 0 {
			line(f.name, sum(a), sum(a) == 0, "%.0f")
		}
	}
	if s := r.get("3", "bytes/session (slope)", "algd"); s != nil {
		line("3: algd ≤ 16 KiB per idle session (bytes)", s.Median(), s.Median() <= 16384, "%.0f")
	}
	if s := r.get("4", "failed+corrupt", "algd"); s != nil {
		line("4: algd zero failed or corrupt transfers (total over rounds)", sum(s), sum(s) == 0, "%.0f")
	}
	for _, n := range []string{"1", "4"} {
		m := n + " streams: kpkt/s"
		if r.get("5", m, "algd") != nil {
			x := stats.Ratio(r.get("5", m, "algd"), r.get("5", m, "naive"))
			line("5 "+n+" streams: algd pkt/s ≥ 2 × naive relay", x, x >= 2, "%.2f")
		}
	}
	r.kernelTargets(line)
	return b.String()
}

// kernelTargets adds the targets of the kernel data path (issue 15):
// algd-kernel against routed and nft, HAProxy and the naive relay in the
// namespaces.
func (r *results) kernelTargets(line func(name string, fig float64, ok bool, format string)) {
	const k = "algd-kernel"
	for _, dir := range []string{"download", "upload"} {
		m := dir + " MiB/s"
		if r.get("1", m, k) == nil {
			continue
		}
		x := stats.Ratio(r.get("1", m, k), r.get("1", m, "routed"))
		line("1 "+dir+": algd-kernel ≥ 0.95 × routed", x, x >= 0.95, "%.2f")
		if r.get("1", m, "nft") != nil {
			y := stats.Ratio(r.get("1", m, k), r.get("1", m, "nft"))
			line("1 "+dir+": algd-kernel ≥ 1.00 × nft", y, y >= 1, "%.2f")
		}
	}
	if r.get("2", "sessions/s", k) != nil {
		x := stats.Ratio(r.get("2", "sessions/s", k), r.get("2", "sessions/s", "routed"))
		line("2: algd-kernel sessions/s ≥ 0.95 × routed", x, x >= 0.95, "%.2f")
		if r.get("2", "sessions/s", "haproxy") != nil {
			h := stats.Ratio(r.get("2", "sessions/s", "haproxy"), r.get("2", "sessions/s", "direct"))
			line(fmt.Sprintf("2: algd-kernel's ratio to routed > haproxy's to direct (%.2f)", h), x, x > h, "%.2f")
		}
	}
	if s := r.get("4", "failed+corrupt", k); s != nil {
		line("4: algd-kernel zero failed or corrupt transfers (total over rounds)", sum(s), sum(s) == 0, "%.0f")
	}
	for _, n := range streamSteps {
		m := fmt.Sprintf("%d streams: ", n)
		if r.get("5", m+"kpkt/s", k) == nil {
			continue
		}
		x := stats.Ratio(r.get("5", m+"kpkt/s", k), r.get("5", m+"kpkt/s", "naive-ns"))
		line(fmt.Sprintf("5 %d streams: algd-kernel pkt/s ≥ 2 × naive-ns", n), x, x >= 2, "%.2f")
		// No sample: nothing arrived, no CPU per packet to judge.
		if cpu := r.get("5", m+"relay CPU µs/pkt", k); cpu != nil {
			a, nv := cpu.Median(), r.get("5", m+"relay CPU µs/pkt", "naive-ns").Median()
			line(fmt.Sprintf("5 %d streams: algd-kernel CPU µs/pkt ≤ 5 %% of naive-ns's (%.2f)", n, nv), a, a <= 0.05*nv, "%.3f")
		}
	}
}

// sum adds up a sample.
func sum(s stats.Sample) float64 {
	var t float64
	for _, v := range s {
		t += v
	}
	return t
}
