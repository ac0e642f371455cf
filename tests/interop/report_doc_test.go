package interop

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestReportDocument renders a small report and checks every line: the
// header of docs/interop.md, a table with a note, a cell that merged
// several cases (it shows the worst), a cell never marked (—), a mark
// with text and a text alone.
func TestReportDocument(t *testing.T) {
	r := &report{}
	a := r.table("Modes", "One note.", []string{"server", "client"}, []string{"up", "down"})
	r.row(a, "vsftpd", "curl")
	r.mark(a, []string{"vsftpd", "curl"}, "up", passed)
	r.mark(a, []string{"vsftpd", "curl"}, "up", failed)
	r.mark(a, []string{"vsftpd", "curl"}, "up", passed)
	r.mark(a, []string{"proftpd", "lftp"}, "up", expected)
	r.text(a, []string{"proftpd", "lftp"}, "down", "500")
	b := r.table("Bounce", "", []string{"server"}, []string{"PORT"})
	r.mark(b, []string{"pure-ftpd"}, "PORT", passed)
	r.text(b, []string{"pure-ftpd"}, "PORT", "504")

	got := r.document(time.Date(2026, 11, 25, 16, 25, 59, 0, time.UTC), "Peers: curl 7.88.1.")
	want := docTitle + "\n\n" +
		"Last run 2026-11-25 16:25 UTC. Peers: curl 7.88.1.\n\n" +
		docLegend + "\n\n" +
		docGenerated + "\n" +
		"\n## Modes\n\n" +
		"One note.\n\n" +
		"| server | client | up | down |\n" +
		"|---|---|:---:|:---:|\n" +
		"| vsftpd | curl | ✗ | — |\n" +
		"| proftpd | lftp | (✗) | 500 |\n" +
		"\n## Bounce\n\n" +
		"| server | PORT |\n" +
		"|---|:---:|\n" +
		"| pure-ftpd | ✓ 504 |\n"
	if got != want {
		t.Errorf("document:\n%s\nwant:\n%s", got, want)
	}
}

// TestInteropDocIsGenerated reads docs/interop.md back into a report and
// renders it again: the committed file must be, byte for byte, what the
// generator writes for those results, so a change of the generator's
// format without the file, or a hand edit that breaks the format (a
// heading, a lost cell, the header lines), fails here.
func TestInteropDocIsGenerated(t *testing.T) {
	raw, err := os.ReadFile("../../docs/interop.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	r, ran, peers, err := parseDocument(doc)
	if err != nil {
		t.Fatalf("docs/interop.md: %v", err)
	}
	if n := len(r.tables); n < 5 {
		t.Errorf("docs/interop.md has %d tables, want the suite's (at least 5)", n)
	}
	if got := r.document(ran, peers); got != doc {
		gl, dl := strings.Split(got, "\n"), strings.Split(doc, "\n")
		for i := 0; i < max(len(gl), len(dl)); i++ {
			var g, d string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(dl) {
				d = dl[i]
			}
			if g != d {
				t.Fatalf("docs/interop.md is not what the generator writes: line %d is\n%q\nthe generator writes\n%q", i+1, d, g)
			}
		}
	}
}

// parseDocument reads a document written by report.document back: the
// run's time, the peers line and every table with its cells.
func parseDocument(doc string) (*report, time.Time, string, error) {
	head, body, ok := strings.Cut(doc, "\n## ")
	if !ok {
		return nil, time.Time{}, "", fmt.Errorf("no table (no line starting with \"## \")")
	}
	lines := strings.Split(head, "\n")
	if len(lines) < 3 || lines[0] != docTitle {
		return nil, time.Time{}, "", fmt.Errorf("first line is not %q", docTitle)
	}
	stamp, peers, ok := strings.Cut(strings.TrimPrefix(lines[2], "Last run "), " UTC. ")
	if !ok {
		return nil, time.Time{}, "", fmt.Errorf("line 3 %q is not \"Last run YYYY-MM-DD HH:MM UTC. Peers: ...\"", lines[2])
	}
	ran, err := time.Parse("2006-01-02 15:04", stamp)
	if err != nil {
		return nil, time.Time{}, "", fmt.Errorf("line 3: %w", err)
	}
	r := &report{}
	for _, sec := range strings.Split(body, "\n## ") {
		if err := parseTable(r, sec); err != nil {
			return nil, time.Time{}, "", err
		}
	}
	return r, ran, peers, nil
}

// parseTable adds one section of a document (its title line, an optional
// note, the table) to r.
func parseTable(r *report, sec string) error {
	title, rest, _ := strings.Cut(sec, "\n\n")
	note := ""
	if !strings.HasPrefix(rest, "|") {
		note, rest, _ = strings.Cut(rest, "\n\n")
	}
	rows := strings.Split(strings.TrimSuffix(rest, "\n"), "\n")
	if len(rows) < 2 {
		return fmt.Errorf("table %q: no header and alignment row", title)
	}
	head, align := cells(rows[0]), cells(rows[1])
	if len(align) != len(head) {
		return fmt.Errorf("table %q: %d columns, alignment row has %d", title, len(head), len(align))
	}
	nl := 0
	for nl < len(align) && align[nl] == "---" {
		nl++
	}
	for _, a := range align[nl:] {
		if a != ":---:" {
			return fmt.Errorf("table %q: alignment %q after the result columns began", title, a)
		}
	}
	t := r.table(title, note, head[:nl], head[nl:])
	for _, line := range rows[2:] {
		c := cells(line)
		if len(c) != len(head) {
			return fmt.Errorf("table %q: row %q has %d cells, want %d", title, line, len(c), len(head))
		}
		row := c[:nl]
		r.row(t, row...)
		for i, cell := range c[nl:] {
			col := head[nl+i]
			if cell == unset.String() || cell == "" {
				continue
			}
			for _, s := range []status{expected, passed, failed} {
				if m, ok := strings.CutPrefix(cell, s.String()); ok {
					r.mark(t, row, col, s)
					cell = strings.TrimSpace(m)
					break
				}
			}
			if cell != "" {
				r.text(t, row, col, cell)
			}
		}
	}
	return nil
}

// cells splits a Markdown table line "| a | b |" into its trimmed cells.
func cells(line string) []string {
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	c := strings.Split(line, "|")
	for i := range c {
		c[i] = strings.TrimSpace(c[i])
	}
	return c
}
