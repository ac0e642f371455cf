package conf

import (
	"encoding"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

var (
	durationType      = reflect.TypeFor[Duration]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// msgUnknownKey starts the message of an unknown key.
const msgUnknownKey = "unknown key"

// netipParsers decode the netip types of the schema in place of their
// own UnmarshalText (see text.go).
var netipParsers = map[reflect.Type]func(string) (any, error){
	reflect.TypeFor[netip.AddrPort](): func(s string) (any, error) { return parseHostPort(s) },
	reflect.TypeFor[netip.Addr]():     func(s string) (any, error) { return parseAddr(s) },
	reflect.TypeFor[netip.Prefix]():   func(s string) (any, error) { return parsePrefix(s) },
}

// isText reports whether values of type t are written as one TOML string
// that the type decodes.
func isText(t reflect.Type) bool {
	_, ok := netipParsers[t]
	return ok || reflect.PointerTo(t).Implements(textUnmarshalType)
}

// decoder fills a Config from a generically decoded document and reports
// every unknown key, every value of the wrong type and every string its
// type refuses, with its full path, array indices included. The TOML
// decoder would stop at the first problem and name keys without indices,
// so this walk is what gives the user the whole list at once.
type decoder struct {
	problems
	// mistyped is set when a value has the wrong TOML type: the document
	// is then too far from the schema for Validate to say anything useful.
	mistyped bool
	// refused holds the paths of the strings their type refused; the
	// setting keeps its zero value, and Validate's word on it (a zero
	// value is "missing") is not reported.
	refused map[string]bool
}

// decode stores v, found at path, into rv.
func (d *decoder) decode(v any, rv reflect.Value, path string) {
	t := rv.Type()
	if t.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(t.Elem()))
		}
		d.decode(v, rv.Elem(), path)
		return
	}
	if isText(t) {
		s, ok := v.(string)
		if !ok {
			d.wrongType(path, t, v)
			return
		}
		if err := decodeText(rv, s); err != nil {
			d.add(path, "%s", err.Error())
			d.refused[path] = true
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if s, ok := v.(string); ok {
			rv.SetString(s)
		} else {
			d.wrongType(path, t, v)
		}
	case reflect.Bool:
		if b, ok := v.(bool); ok {
			rv.SetBool(b)
		} else {
			d.wrongType(path, t, v)
		}
	case reflect.Int:
		n, ok := v.(int64)
		switch {
		case !ok:
			d.wrongType(path, t, v)
		case rv.OverflowInt(n):
			d.add(path, "integer %d is out of range", n)
			d.mistyped = true
		default:
			rv.SetInt(n)
		}
	case reflect.Slice:
		var elems []any
		switch a := v.(type) {
		case []any:
			elems = a
		case []map[string]any:
			for _, m := range a {
				elems = append(elems, m)
			}
		default:
			d.wrongType(path, t, v)
			return
		}
		list := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			d.decode(e, list.Index(i), path+"["+strconv.Itoa(i)+"]")
		}
		rv.Set(list)
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			d.wrongType(path, t, v)
			return
		}
		fields := tomlFields(t)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			f, ok := fields[k]
			if !ok {
				d.add(sub, msgUnknownKey+" %q%s", k, suggest(k, fields))
				continue
			}
			d.decode(m[k], rv.FieldByIndex(f.Index), sub)
		}
	default:
		// Only reached if the schema grows a field of a kind this walk
		// does not know.
		d.add(path, "conf cannot decode a %s", t)
		d.mistyped = true
	}
}

// decodeText decodes s into rv, a value of a text type.
func decodeText(rv reflect.Value, s string) error {
	if parse, ok := netipParsers[rv.Type()]; ok {
		x, err := parse(s)
		if err == nil {
			rv.Set(reflect.ValueOf(x))
		}
		return err
	}
	return rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
}

// wrongType reports a value of the wrong TOML type.
func (d *decoder) wrongType(path string, t reflect.Type, v any) {
	d.mistyped = true
	want := typeName(t)
	if t == durationType {
		want += ` such as "30s"`
	}
	d.add(path, "want %s, got %s", want, describe(v))
}

// covered reports whether path is a refused setting or lies under one.
func (d *decoder) covered(path string) bool {
	for ; path != ""; path = parentPath(path) {
		if d.refused[path] {
			return true
		}
	}
	return false
}

// tomlFields maps the toml key of each decodable field of struct type t to
// the field.
func tomlFields(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		fields[name] = f
	}
	return fields
}

// suggest proposes the known key that k most likely means: the same key
// in another case or with "-" for "_".
func suggest(k string, fields map[string]reflect.StructField) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	for name := range fields {
		if norm(name) == norm(k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

// typeName says in words what a field of type t wants.
func typeName(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		return "a duration string"
	case t.Kind() == reflect.String, isText(t):
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Struct:
		return "a table"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && !isText(t.Elem()):
		return "an array of tables"
	case t.Kind() == reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// describe names the TOML type of a decoded value, with the value when it
// is short.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("string %q", x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case nil:
		return "nothing"
	}
	return "a date/time"
}
