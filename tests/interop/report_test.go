package interop

// The report is docs/interop.md: TestMain writes it whole to the file
// ALGD_MATRIX_OUT names, and .ci/run copies a passing run's file there.
// This file has no build tag, so the rendering and the committed
// document's shape are checked by plain `go test ./...`
// (report_doc_test.go); the cases that fill the report need the interop
// tag.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/algd/algd/tests/peers"
)

// status is how one case went, for the tables of docs/interop.md.
type status int

// The statuses, from best to worst: a cell that merges several cases
// (the file sizes of one operation) shows the worst.
const (
	unset    status = iota
	passed          // ran and every check held
	expected        // failed as it must (a client that trusts a wrong 227 address)
	failed          // a check failed
)

// String is the cell text.
func (s status) String() string {
	switch s {
	case passed:
		return "✓"
	case expected:
		return "(✗)"
	case failed:
		return "✗"
	}
	return "—"
}

// table is one Markdown table of the report: label columns that name
// the row (server, client, mode) and result columns.
type table struct {
	title, note string
	labels      []string
	cols        []string
	rows        [][]string
	marks       map[string]map[string]status
	texts       map[string]map[string]string
}

// report collects what the suite's cases did, in tables, for
// ALGD_MATRIX_OUT; cases of parallel subtests record concurrently.
type report struct {
	mu     sync.Mutex
	tables []*table
}

// results is the report TestMain writes after the tests ran. It is the
// one thing the cases share across tests; it changes no behaviour.
var results = &report{}

// table adds a table; its rows and cells come later.
func (r *report) table(title, note string, labels, cols []string) *table {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := &table{title: title, note: note, labels: labels, cols: cols,
		marks: map[string]map[string]status{}, texts: map[string]map[string]string{}}
	r.tables = append(r.tables, t)
	return t
}

// row declares a row; rows print in the order they were declared.
func (r *report) row(t *table, labels ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := strings.Join(labels, "\x00")
	if _, ok := t.marks[k]; ok {
		return
	}
	t.rows = append(t.rows, labels)
	t.marks[k] = map[string]status{}
	t.texts[k] = map[string]string{}
}

// mark merges s into a cell: the cell keeps the worst status it was given.
func (r *report) mark(t *table, row []string, col string, s status) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := strings.Join(row, "\x00")
	if t.marks[k] == nil {
		t.rows = append(t.rows, row)
		t.marks[k], t.texts[k] = map[string]status{}, map[string]string{}
	}
	t.marks[k][col] = max(t.marks[k][col], s)
}

// text sets a cell's text, shown after its mark.
func (r *report) text(t *table, row []string, col, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := strings.Join(row, "\x00")
	if t.texts[k] == nil {
		t.rows = append(t.rows, row)
		t.marks[k], t.texts[k] = map[string]status{}, map[string]string{}
	}
	t.texts[k][col] = text
}

// markdown renders every table.
func (r *report) markdown(header string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	b.WriteString(header)
	for _, t := range r.tables {
		fmt.Fprintf(&b, "\n## %s\n\n", t.title)
		if t.note != "" {
			b.WriteString(t.note + "\n\n")
		}
		head := append(append([]string(nil), t.labels...), t.cols...)
		fmt.Fprintf(&b, "| %s |\n", strings.Join(head, " | "))
		seps := make([]string, len(head))
		for i := range seps {
			seps[i] = "---"
			if i >= len(t.labels) {
				seps[i] = ":---:"
			}
		}
		fmt.Fprintf(&b, "|%s|\n", strings.Join(seps, "|"))
		for _, row := range t.rows {
			k := strings.Join(row, "\x00")
			cells := append([]string(nil), row...)
			for _, c := range t.cols {
				cell := ""
				if s := t.marks[k][c]; s != unset {
					cell = s.String()
				}
				if x := t.texts[k][c]; x != "" {
					cell = strings.TrimSpace(cell + " " + x)
				}
				if cell == "" {
					cell = unset.String()
				}
				cells = append(cells, cell)
			}
			fmt.Fprintf(&b, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	return b.String()
}

// The fixed lines of docs/interop.md.
const (
	// docTitle is the document's first line.
	docTitle = "# Interop with real peers"
	// docLegend explains the cells' marks.
	docLegend = "✓ passed, ✗ failed, (✗) failed as it must, — not applicable or not run."
	// docGenerated says where the document comes from.
	docGenerated = "This file is generated: `go test -tags interop ./tests/interop` with " +
		"`ALGD_MATRIX_OUT=FILE` writes it whole, and `.ci/run` copies the file of a passing " +
		"run here; do not edit it by hand. The RTSP matrix (ffmpeg, GStreamer) is in " +
		"[rtsp.md](rtsp.md#interop-with-ffmpeg-and-gstreamer), the suites behind these " +
		"tables in [testing.md](testing.md) and [ftps.md](ftps.md#ftps-with-real-peers)."
)

// document renders the report as docs/interop.md: the title, when the
// suite ran and with which peers, the legend, then every table.
func (r *report) document(ran time.Time, peers string) string {
	header := fmt.Sprintf("%s\n\nLast run %s. %s\n\n%s\n\n%s\n",
		docTitle, ran.UTC().Format("2006-01-02 15:04 UTC"), peers, docLegend, docGenerated)
	return r.markdown(header)
}

// writeReport writes the report (docs/interop.md) to the file
// ALGD_MATRIX_OUT names, if set, with the peers' versions.
func writeReport() error {
	out := os.Getenv("ALGD_MATRIX_OUT")
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(out, []byte(results.document(time.Now(), versions())), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// versions names the peers the run used: the unpacked ftpds and the
// clients on PATH.
func versions() string {
	var parts []string
	for _, p := range []struct{ name, dir string }{{"vsftpd", "vsftpd"}, {"pure-ftpd", "pure-ftpd"}, {"proftpd", "proftpd-core"}} {
		if v, err := os.ReadFile(filepath.Join(peers.CacheDir(), p.dir, ".version")); err == nil {
			parts = append(parts, p.name+" "+strings.TrimSpace(string(v)))
		}
	}
	for _, c := range [][]string{{"curl", "--version"}, {"lftp", "--version"}, {"python3", "--version"}} {
		out, err := exec.Command(c[0], c[1:]...).Output()
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		parts = append(parts, versionLine(c[0], first))
	}
	return "Peers: " + strings.Join(parts, ", ") + "."
}

// versionLine shortens a --version line to "name version".
func versionLine(name, line string) string {
	f := strings.Fields(line)
	for _, w := range f {
		if w != "" && w[0] >= '0' && w[0] <= '9' {
			return name + " " + w
		}
	}
	return name
}
