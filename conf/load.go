package conf

import (
	"errors"
	"fmt"
	"os"
	"reflect"

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

	// Decoding: every unknown key, mistyped value and refused string.
	d := decoder{refused: map[string]bool{}}
	var c Config
	d.decode(raw, reflect.ValueOf(&c).Elem(), "")
	if d.mistyped {
		// A value of the wrong type: report what the decoding found
		// and nothing more.
		return nil, &Errors{List: finish(d.list, name, idx)}
	}

	c.SetDefaults()
	var verr *Errors
	if err := c.Validate(); errors.As(err, &verr) {
		for _, e := range verr.List {
			if !d.covered(e.Path) {
				d.list = append(d.list, e)
			}
		}
	}
	if len(d.list) > 0 {
		return nil, &Errors{List: finish(d.list, name, idx)}
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
