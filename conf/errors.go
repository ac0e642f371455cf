package conf

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a configuration file.
type Error struct {
	// File is the name of the file, as given to Load or Parse; empty when
	// the problem was found by Validate on a Config built in code.
	File string
	// Path is the key path, like "ftp[0].passive_ports" or
	// "pool[1].realservers[0].address"; empty for problems of the whole
	// file (syntax errors, nothing to serve).
	Path string
	// Line is the 1-based line the problem is on, 0 when unknown.
	Line int
	// Msg says what is wrong, quoting the offending value.
	Msg string

	err error  // wrapped cause (a read error), for errors.Is
	ref string // key path of a second place the problem involves
}

// Error formats the problem as "file:line: path: msg", leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause of the problem, if there is one (a file that
// cannot be read).
func (e *Error) Unwrap() error { return e.err }

// Errors is every problem found in one configuration; Load, Parse and
// Validate return it (never empty) as their error.
type Errors struct {
	// List holds the problems, whole-file ones first, then in line order.
	List []*Error
}

// Error joins the problems, one per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.As and errors.Is look into
// each of them.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, x := range e.List {
		errs[i] = x
	}
	return errs
}

// problems collects errors while a configuration is checked.
type problems struct {
	list []*Error
}

// add records a problem at path.
func (p *problems) add(path, format string, args ...any) {
	p.list = append(p.list, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// addRef records a problem at path that involves the key at ref too (a
// collision): finish adds ref's line to the message.
func (p *problems) addRef(path, ref, format string, args ...any) {
	p.list = append(p.list, &Error{Path: path, Msg: fmt.Sprintf(format, args...), ref: ref})
}

// err returns the collected problems as an *Errors, or nil when there are
// none, so that callers never see a typed nil.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &Errors{List: p.list}
}

// finish names the file, finds lines for paths through idx (may be nil)
// and orders the problems: those without a line first, in the order found,
// then in the order of the file (by line, and within a line by the place
// of the key).
func finish(list []*Error, file string, idx *lineIndex) []*Error {
	offsets := make(map[*Error]int, len(list))
	for _, e := range list {
		e.File = file
		if e.Line == 0 && idx != nil {
			e.Line, offsets[e] = idx.pos(e.Path)
		}
		if e.ref != "" && idx != nil {
			if n := idx.find(e.ref); n > 0 {
				e.Msg += fmt.Sprintf(" (%s: %s:%d)", e.ref, file, n)
			}
			e.ref = ""
		}
	}
	slices.SortStableFunc(list, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(offsets[a], offsets[b]))
	})
	return list
}
