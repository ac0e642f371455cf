package conf

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

var durationType = reflect.TypeFor[Duration]()

// msgUnknownKey starts the message of an unknown key; other schema
// problems (wrong types) stop the decoding.
const msgUnknownKey = "unknown key"

// checkSchema compares a generically decoded document with the Go type it
// is meant for, and reports every unknown key and every value of the wrong
// type with its full path, array indices included. The TOML decoder stops
// at the first mismatch and names keys without indices, so this walk is
// what gives the user the whole list at once.
func checkSchema(p *problems, v any, t reflect.Type, path string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == durationType {
		s, ok := v.(string)
		if !ok {
			p.add(path, "want a duration string such as \"30s\", got %s", describe(v))
			return
		}
		if _, err := time.ParseDuration(s); err != nil {
			p.add(path, "invalid duration %q: want a number and a unit such as \"500ms\", \"30s\" or \"5m\"", s)
		}
		return
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.add(path, "want a string, got %s", describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.add(path, "want true or false, got %s", describe(v))
		}
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			p.add(path, "want an integer, got %s", describe(v))
		} else if int64(int(n)) != n {
			p.add(path, "integer %d is out of range", n)
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
			p.add(path, "want %s, got %s", typeName(t), describe(v))
			return
		}
		for i, e := range elems {
			checkSchema(p, e, t.Elem(), path+"["+strconv.Itoa(i)+"]")
		}
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.add(path, "want %s, got %s", typeName(t), describe(v))
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
				p.add(sub, msgUnknownKey+" %q%s", k, suggest(k, fields))
				continue
			}
			checkSchema(p, m[k], f.Type, sub)
		}
	default:
		// Only reached if conf.go grows a field of a kind this walk does
		// not know; the decoder then has the last word.
	}
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
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "an integer"
	case t.Kind() == reflect.Struct:
		return "a table"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
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
