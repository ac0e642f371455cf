package conf

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads, decodes, completes with defaults and validates the file at
// path. On failure the error is an *Errors holding every problem found,
// each naming path and, when known, the line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Errors{List: []*Error{{File: path, Msg: fmt.Sprintf("read: %v", err), err: err}}}
	}
	return Parse(data, path)
}

// Parse does what Load does for the contents of a file; name is the file
// name used in messages ("algd.toml").
func Parse(data []byte, name string) (*Config, error) {
	src := string(data)

	// Syntax: a generic decode fails only on TOML that does not parse.
	var raw map[string]any
	if _, err := toml.Decode(src, &raw); err != nil {
		return nil, &Errors{List: []*Error{syntaxError(err, name)}}
	}
	idx := indexLines(src)

	// Schema: every unknown key and every mistyped value, with indices.
	var p problems
	checkSchema(&p, raw, reflect.TypeFor[Config](), "")
	for _, e := range p.list {
		if !strings.HasPrefix(e.Msg, msgUnknownKey) {
			// A value of the wrong type stops the decoder: report what
			// the schema walk found and nothing more.
			return nil, &Errors{List: finish(p.list, name, idx)}
		}
	}

	var c Config
	md, err := toml.Decode(src, &c)
	if err != nil {
		// The schema walk should have caught it; keep the decoder's word.
		p.list = append(p.list, decodeError(err))
		return nil, &Errors{List: finish(p.list, name, idx)}
	}
	reported := map[string]bool{}
	for _, e := range p.list {
		reported[stripIndices(e.Path)] = true
	}
	for _, k := range md.Undecoded() {
		if path := k.String(); !reported[path] && !underReported(path, reported) {
			p.add(path, msgUnknownKey+" %q", k[len(k)-1])
		}
	}

	c.SetDefaults()
	var verr *Errors
	if err := c.Validate(); errors.As(err, &verr) {
		p.list = append(p.list, verr.List...)
	}
	if len(p.list) > 0 {
		return nil, &Errors{List: finish(p.list, name, idx)}
	}
	return &c, nil
}

// syntaxError turns a TOML parse failure into an Error with its line.
func syntaxError(err error, name string) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := "syntax: " + pe.Message
		if pe.LastKey != "" {
			msg += fmt.Sprintf(" (after key %q)", pe.LastKey)
		}
		return &Error{File: name, Line: pe.Position.Line, Msg: msg, err: err}
	}
	return &Error{File: name, Msg: "syntax: " + err.Error(), err: err}
}

// decodeError turns a decoder failure into an Error, with its line when
// the decoder gave one.
func decodeError(err error) *Error {
	e := &Error{Msg: "decode: " + err.Error(), err: err}
	var pe toml.ParseError
	if errors.As(err, &pe) {
		e.Line, e.Path, e.Msg = pe.Position.Line, pe.LastKey, pe.Message
	}
	return e
}

// stripIndices removes array indices from a key path: "ftp[1].x" -> "ftp.x",
// the form in which the decoder names keys.
func stripIndices(path string) string {
	var b strings.Builder
	depth := 0
	for _, r := range path {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// underReported reports whether path lies under a key already reported
// (the decoder lists the sub-keys of an unknown table too).
func underReported(path string, reported map[string]bool) bool {
	for {
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return false
		}
		path = path[:i]
		if reported[path] {
			return true
		}
	}
}
