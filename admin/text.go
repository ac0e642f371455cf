package admin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"
)

// Fetch reads the status from the admin listener at addr ("host:port").
func Fetch(ctx context.Context, client *http.Client, addr string) (Status, error) {
	return (&Client{Addr: addr, HTTP: client}).Status(ctx)
}

// WriteText prints st for a terminal: what the HTML page shows, as
// aligned columns.
func WriteText(w io.Writer, st Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "algd %s, up %s, %d of %d sessions, reloads %d ok %d failed",
		st.Version, st.Time.Sub(st.Started).Round(time.Second), st.Sessions, st.MaxSessions, st.Reloads.OK, st.Reloads.Failed)
	if st.Reloads.LastError != "" {
		fmt.Fprintf(tw, " (last: %s)", oneLine(st.Reloads.LastError))
	}
	if st.Draining {
		fmt.Fprint(tw, ", DRAINING")
	}
	fmt.Fprintln(tw)
	if l := st.Local; !l.LastAt.IsZero() {
		fmt.Fprintf(tw, "OUT OF LOCAL RESOURCES (not a realserver failure): %v; last %s ago, %s on %s: %s\n",
			l.Errors, st.Time.Sub(l.LastAt).Round(time.Second), l.LastKind, l.LastOp, oneLine(l.Last))
	}
	for _, p := range st.Pools {
		fmt.Fprintf(tw, "\npool %s (%s)\nrealserver\tstate\tchanged\tweight\tactive\ttotal\tdown\tup\tcheck\tfailed\terror\n", p.Name, p.Scheduler)
		for _, m := range p.Members {
			check, changed := "none yet", "-"
			if !m.LastCheck.IsZero() {
				check = m.CheckLatency.Round(100 * time.Microsecond).String()
			}
			if !m.LastChange.IsZero() {
				changed = ago(st.Time, m.LastChange) + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\t%s\n", m.Address, m.State(), changed, m.Weight, m.Active, m.Total,
				humanBytes(m.BytesDown), humanBytes(m.BytesUp), check, m.CheckFailures, oneLine(m.CheckError))
		}
	}
	fmt.Fprintf(tw, "\nlistener\tproto\tpool\tsessions\ttotal\trefused\tdown\tup\tranges\tother\n")
	for _, l := range st.Listeners {
		k := l.Counters
		var ranges, other []string
		for _, r := range l.Ranges {
			ranges = append(ranges, fmt.Sprintf("%s %d/%d", r.Name, r.InUse, r.Size))
		}
		for _, c := range others(k) {
			other = append(other, fmt.Sprintf("%s=%d", c.Name, c.Value))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", l.Name, l.Proto, l.Pool, k["active"], k["sessions"], k["refused"],
			humanBytes(k["bytes_down"]), humanBytes(k["bytes_up"]), strings.Join(ranges, " "), strings.Join(other, " "))
	}
	fmt.Fprintf(tw, "\nsession\tclient\tuser\trealserver\tmode\ttransfers\tdown\tup\tage\n")
	for _, s := range st.Live {
		mode := sessionProto(s)
		if s.Mode != "" {
			mode += " " + s.Mode
		}
		if s.Transferring {
			mode += "*"
		}
		user, rs := cmp.Or(s.User, "-"), "-"
		if s.Realserver.IsValid() {
			rs = s.Realserver.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", s.ID, s.Client, user, rs, mode, s.Transfers,
			humanBytes(s.BytesDown), humanBytes(s.BytesUp), st.Time.Sub(s.Started).Round(time.Second))
	}
	return tw.Flush()
}

// oneLine keeps an error message on one line of the table.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
