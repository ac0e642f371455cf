// Package doclinks checks the Markdown documentation of the repository:
// every relative link in README.md, docs/*.md and the other .md files
// names a file that exists (and, for a link with #anchor into a .md file,
// a heading of that file), README.md links every page of docs/, and every
// test a document cites (`dir/x_test.go:TestName`, as SECURITY.md does for
// each defence) exists.
package doclinks

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository, from this package's directory.
const root = "../.."

// TestRelativeLinks checks every relative link of every Markdown file.
func TestRelativeLinks(t *testing.T) {
	files := markdownFiles(t)
	for _, must := range []string{"README.md", "SECURITY.md", "BENCHMARKS.md", "docs/ftp.md", "docs/interop.md"} {
		if !slices.Contains(files, must) {
			t.Errorf("%s not found: the check would not see its links", must)
		}
	}
	anchors := map[string][]string{}
	n := 0
	for _, f := range files {
		for _, l := range links(t, f) {
			n++
			target, anchor, _ := strings.Cut(l.target, "#")
			path := f
			if target != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(f), target))
			}
			if strings.HasPrefix(path, "../") {
				t.Errorf("%s:%d: link %q leaves the repository", f, l.line, l.target)
				continue
			}
			if _, err := os.Stat(filepath.Join(root, path)); err != nil {
				t.Errorf("%s:%d: link %q: %v", f, l.line, l.target, err)
				continue
			}
			if anchor == "" || !strings.HasSuffix(path, ".md") {
				continue
			}
			if _, ok := anchors[path]; !ok {
				anchors[path] = headingAnchors(t, path)
			}
			if !slices.Contains(anchors[path], anchor) {
				t.Errorf("%s:%d: link %q: %s has no heading with anchor #%s (it has %v)", f, l.line, l.target, path, anchor, anchors[path])
			}
		}
	}
	if n < 20 {
		t.Errorf("found %d relative links in %d files: the link parser is broken", n, len(files))
	}
}

// TestReadmeLinksEveryPage checks that README.md links each page of docs/.
func TestReadmeLinksEveryPage(t *testing.T) {
	linked := map[string]bool{}
	for _, l := range links(t, "README.md") {
		target, _, _ := strings.Cut(l.target, "#")
		linked[target] = true
	}
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no docs/*.md")
	}
	for _, p := range pages {
		name := "docs/" + filepath.Base(p)
		if !linked[name] {
			t.Errorf("README.md does not link %s", name)
		}
	}
}

// TestCitedTests checks every test file the documents cite as
// `dir/x_test.go` or `dir/x_test.go:TestName`: the file exists, and so does
// the function when one is named.
func TestCitedTests(t *testing.T) {
	n := 0
	for _, f := range markdownFiles(t) {
		for i, line := range prose(t, f) {
			for _, m := range citedTest.FindAllStringSubmatch(line, -1) {
				n++
				src, err := os.ReadFile(filepath.Join(root, m[1]))
				if err != nil {
					t.Errorf("%s:%d: cites %s: %v", f, i+1, m[1], err)
					continue
				}
				if m[2] != "" && !regexp.MustCompile(`(?m)^func `+m[2]+`\(`).Match(src) {
					t.Errorf("%s:%d: cites %s:%s, which has no func %s", f, i+1, m[1], m[2], m[2])
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d cited tests: SECURITY.md alone cites more; the pattern is broken", n)
	}
}

// TestHeadingAnchor pins the anchor rule against headings of these docs.
func TestHeadingAnchor(t *testing.T) {
	for in, want := range map[string]string{
		"Example: in front of two vsftpd servers":                   "example-in-front-of-two-vsftpd-servers",
		"RealNetworks / QuickTime (RTSP + media range, persistent)": "realnetworks--quicktime-rtsp--media-range-persistent",
		"Shared NAT: what IP-only pairing can and cannot do":        "shared-nat-what-ip-only-pairing-can-and-cannot-do",
		"Timeouts and `ABOR`":                                       "timeouts-and-abor",
		"`[[pool]]`: realserver pools":                              "pool-realserver-pools",
		"Clients × servers × modes":                                 "clients--servers--modes",
		"[FTPS](ftps.md) with_underscores":                          "ftps-with_underscores",
	} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// markdownFiles lists the repository's .md files, relative to root,
// leaving out caches and test data.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".cache" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// link is one relative link of a Markdown file.
type link struct {
	line   int
	target string
}

var (
	inlineLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	scheme     = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	citedTest  = regexp.MustCompile("`([a-zA-Z0-9_.-]+/[a-zA-Z0-9_./-]*_test\\.go)(?::([A-Z][A-Za-z0-9_]*))?`")
)

// prose returns the lines of file (relative to root), each line of a
// fenced code block (and its fences) blanked, so line numbers hold.
func prose(t *testing.T, file string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	fenced := false
	for i, line := range lines {
		fence := strings.HasPrefix(strings.TrimSpace(line), "```")
		if fence {
			fenced = !fenced
		}
		if fence || fenced {
			lines[i] = ""
		}
	}
	return lines
}

// links returns the relative links of file (relative to root), outside
// code blocks and code spans; links with a scheme (https:, mailto:) are
// left out.
func links(t *testing.T, file string) []link {
	t.Helper()
	var out []link
	for i, line := range prose(t, file) {
		for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			if scheme.MatchString(m[1]) {
				continue
			}
			out = append(out, link{line: i + 1, target: m[1]})
		}
	}
	return out
}

// headingAnchors returns the anchors of file's headings as GitHub makes
// them: a repeated anchor gets -1, -2, ...
func headingAnchors(t *testing.T, file string) []string {
	t.Helper()
	seen := map[string]int{}
	var out []string
	for _, line := range prose(t, file) {
		text, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		a := anchor(strings.TrimSpace(text))
		if k := seen[a]; k > 0 {
			out = append(out, a+"-"+strconv.Itoa(k))
		} else {
			out = append(out, a)
		}
		seen[a]++
	}
	return out
}

var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// anchor is GitHub's anchor of a heading: its text (a link's text, no
// backticks) in lower case, letters, digits, '-' and '_' kept, each space
// a '-', everything else dropped.
func anchor(heading string) string {
	heading = linkText.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}
