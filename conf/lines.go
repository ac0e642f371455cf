package conf

import (
	"sort"
	"strconv"
	"strings"
)

// lineIndex maps key paths such as "ftp[1].listen[0]" to the line that
// defines them. BurntSushi/toml keeps key positions private (and per key
// name, not per array element), so the index comes from a small scan of
// the source. It only runs on documents the TOML parser accepted, is best
// effort, and a path it does not know simply has no line.
type lineIndex struct {
	lines   map[string]int
	offsets map[string]int // byte offset of the first mention
}

// find returns the line of path, or of its closest ancestor that has one
// ("ftp[0].listen[1]", then "ftp[0].listen", then "ftp[0]"), or 0.
func (x *lineIndex) find(path string) int {
	line, _ := x.pos(path)
	return line
}

// pos is find with the byte offset of the same mention, which orders the
// keys of one line.
func (x *lineIndex) pos(path string) (line, offset int) {
	for path != "" {
		if n, ok := x.lines[path]; ok {
			return n, x.offsets[path]
		}
		path = parentPath(path)
	}
	return 0, 0
}

// parentPath strips the last element of a key path: "a[1].b" -> "a[1]",
// "a[1]" -> "a", "a" -> "".
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// indexLines scans a TOML document that has parsed and records the line of
// every table header, key and array element.
func indexLines(src string) *lineIndex {
	s := &lineScanner{
		src:      strings.TrimPrefix(src, "\uFEFF"),
		counters: map[string]int{},
		offsets:  map[string]int{},
	}
	s.run()
	var nl []int
	for i := 0; i < len(s.src); i++ {
		if s.src[i] == '\n' {
			nl = append(nl, i)
		}
	}
	x := &lineIndex{lines: make(map[string]int, len(s.offsets)), offsets: s.offsets}
	for p, off := range s.offsets {
		x.lines[p] = 1 + sort.SearchInts(nl, off)
	}
	return x
}

// lineScanner walks TOML source, tracking the current table and the
// element counters of arrays of tables. It stops at anything it does not
// understand.
type lineScanner struct {
	src      string
	i        int
	table    string         // current table path, "" at the top
	counters map[string]int // array of tables path -> elements so far
	offsets  map[string]int // key path -> byte offset of its first mention
	failed   bool
}

func (s *lineScanner) run() {
	for !s.failed {
		s.skipBlank(true)
		if s.i >= len(s.src) {
			return
		}
		start := s.i
		if s.src[s.i] == '[' {
			s.header()
		} else {
			parts := s.key()
			if s.failed || !s.eat('=') {
				return
			}
			path := joinPath(s.table, parts)
			s.record(path, start)
			s.value(path)
		}
		if s.i == start {
			return
		}
	}
}

// header reads "[a.b]" or "[[a.b]]" and makes it the current table.
func (s *lineScanner) header() {
	start := s.i
	array := strings.HasPrefix(s.src[s.i:], "[[")
	if array {
		s.i += 2
	} else {
		s.i++
	}
	parts := s.key()
	if s.failed || !s.eat(']') || (array && !s.eat(']')) {
		s.failed = true
		return
	}
	path := ""
	for k, p := range parts {
		path = joinPath(path, []string{p})
		n, seen := s.counters[path]
		switch {
		case array && k == len(parts)-1:
			s.counters[path] = n + 1
			s.record(path, start)
			path += "[" + strconv.Itoa(n) + "]"
		case seen && n > 0:
			path += "[" + strconv.Itoa(n-1) + "]"
		}
	}
	s.table = path
	s.record(path, start)
}

// value skips one value, recording the elements of arrays and the keys of
// inline tables under path.
func (s *lineScanner) value(path string) {
	s.skipBlank(false)
	if s.i >= len(s.src) {
		s.failed = true
		return
	}
	switch s.src[s.i] {
	case '"', '\'':
		s.str()
	case '[':
		s.i++
		for n := 0; !s.failed; n++ {
			s.skipBlank(true)
			if s.eat(']') {
				return
			}
			elem := path + "[" + strconv.Itoa(n) + "]"
			s.record(elem, s.i)
			s.value(elem)
			s.skipBlank(true)
			if !s.eat(',') && !s.peek(']') {
				s.failed = true
			}
		}
	case '{':
		s.i++
		for !s.failed {
			s.skipBlank(true)
			if s.eat('}') {
				return
			}
			start := s.i
			parts := s.key()
			if s.failed || !s.eat('=') {
				s.failed = true
				return
			}
			p := joinPath(path, parts)
			s.record(p, start)
			s.value(p)
			s.skipBlank(true)
			if !s.eat(',') && !s.peek('}') {
				s.failed = true
			}
		}
	default:
		start := s.i
		for s.i < len(s.src) && !strings.ContainsRune(",]}#\r\n", rune(s.src[s.i])) {
			s.i++
		}
		if s.i == start {
			s.failed = true
		}
	}
}

// key reads a dotted key, bare or quoted parts, and stops before "=" or "]".
func (s *lineScanner) key() []string {
	var parts []string
	for {
		s.skipBlank(false)
		if s.i >= len(s.src) {
			s.failed = true
			return nil
		}
		var part string
		switch s.src[s.i] {
		case '"', '\'':
			raw := s.str()
			part = raw
			if len(raw) >= 2 {
				part = raw[1 : len(raw)-1]
				if raw[0] == '"' {
					if u, err := strconv.Unquote(raw); err == nil {
						part = u
					}
				}
			}
		default:
			start := s.i
			for s.i < len(s.src) && isBare(s.src[s.i]) {
				s.i++
			}
			if s.i == start {
				s.failed = true
				return nil
			}
			part = s.src[start:s.i]
		}
		parts = append(parts, part)
		s.skipBlank(false)
		if !s.eat('.') {
			return parts
		}
	}
}

// str skips a basic, literal or multi-line string and returns its source.
func (s *lineScanner) str() string {
	start := s.i
	q := s.src[s.i]
	if strings.HasPrefix(s.src[s.i:], strings.Repeat(string(q), 3)) {
		end := strings.Index(s.src[s.i+3:], strings.Repeat(string(q), 3))
		for end >= 0 && q == '"' && escaped(s.src, s.i+3+end) {
			next := strings.Index(s.src[s.i+3+end+1:], `"""`)
			if next < 0 {
				end = -1
				break
			}
			end += 1 + next
		}
		if end < 0 {
			s.failed = true
			s.i = len(s.src)
			return s.src[start:]
		}
		s.i += 3 + end + 3
		// A closing delimiter may be followed by up to two more quotes
		// that belong to the string.
		for k := 0; k < 2 && s.i < len(s.src) && s.src[s.i] == q; k++ {
			s.i++
		}
		return s.src[start:s.i]
	}
	s.i++
	for s.i < len(s.src) {
		c := s.src[s.i]
		switch {
		case c == '\\' && q == '"':
			s.i += 2
			continue
		case c == q:
			s.i++
			return s.src[start:s.i]
		case c == '\n':
			s.failed = true
			return s.src[start:s.i]
		}
		s.i++
	}
	s.failed = true
	return s.src[start:]
}

// escaped reports whether the byte at i is preceded by an odd number of
// backslashes.
func escaped(src string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && src[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// skipBlank skips spaces, tabs and comments, and newlines too when nl is set.
func (s *lineScanner) skipBlank(nl bool) {
	for s.i < len(s.src) {
		switch c := s.src[s.i]; {
		case c == ' ' || c == '\t':
			s.i++
		case c == '\r' || c == '\n':
			if !nl {
				return
			}
			s.i++
		case c == '#':
			for s.i < len(s.src) && s.src[s.i] != '\n' {
				s.i++
			}
		default:
			return
		}
	}
}

func (s *lineScanner) eat(c byte) bool {
	if s.peek(c) {
		s.i++
		return true
	}
	return false
}

func (s *lineScanner) peek(c byte) bool { return s.i < len(s.src) && s.src[s.i] == c }

func (s *lineScanner) record(path string, off int) {
	if _, ok := s.offsets[path]; !ok {
		s.offsets[path] = off
	}
}

func isBare(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// joinPath appends dotted key parts to a path.
func joinPath(base string, parts []string) string {
	for _, p := range parts {
		if base != "" {
			base += "."
		}
		base += p
	}
	return base
}
