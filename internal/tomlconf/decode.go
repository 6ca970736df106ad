package tomlconf

import (
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// MaxSize is the longest configuration text, in bytes, that [Decode] and [ReadFile] accept.
const MaxSize = 1 << 20

// Defaulter is implemented, on the pointer, by a table type whose absent keys take defaults
// that depend on the keys given (a ratio that defaults only for one method, say). After
// decoding a table into such a value, [Decode] calls FillDefaults with a function that reports
// whether the table gave the key name (a bare name of that table).
type Defaulter interface {
	FillDefaults(given func(name string) bool)
}

// Meta describes a decoded text: its file name, its key positions and the keys it gave.
type Meta struct {
	// File is the file name given to [Decode], used in errors.
	File string
	// Index is the line index of the text's keys, for [Meta.Locate].
	Index *Index
	given map[string]bool
}

// Given reports whether the text set key (in the form of the package documentation), a table
// or array element included.
func (m *Meta) Given(key string) bool { return m.given[key] }

// Locate fills in the File and Line of every field error err holds (see [Fields]) that lacks
// them, and returns err. The line is that of the error's Key; when the text does not mention
// it, that of its first Related key the text mentions; otherwise that of the nearest table or
// array element enclosing Key (the [[array]] header of a variant without a name) or a Related
// key. It changes the errors in place.
func (m *Meta) Locate(err error) error {
	for _, fe := range Fields(err) {
		if fe.File == "" {
			fe.File = m.File
		}
		if fe.Line > 0 {
			continue
		}
		fe.Line = m.Index.Line(fe.Key)
		for _, r := range fe.Related {
			if fe.Line > 0 {
				break
			}
			fe.Line = m.Index.Line(r)
		}
		if fe.Line == 0 {
			fe.Line = m.Index.Locate(fe.Key)
		}
		for _, r := range fe.Related {
			if fe.Line > 0 {
				break
			}
			fe.Line = m.Index.Locate(r)
		}
	}
	return err
}

// syntaxLine returns the line of a parse error: that of the offending byte, counted from the
// text (the parser reports the next line when that byte is a line break).
func syntaxLine(text string, pe toml.ParseError) int {
	if pe.Position.Start < 0 || pe.Position.Start > len(text) {
		return pe.Position.Line
	}
	return strings.Count(text[:pe.Position.Start], "\n") + 1
}

// ReadFile reads a configuration file of at most [MaxSize] bytes. Errors wrap sentinel and,
// for a file that cannot be read, the os error.
func ReadFile(path string, sentinel error) (string, error) {
	f, size, err := inputfile.Open(path) // a FIFO is refused, not waited on
	if err != nil {
		return "", fmt.Errorf("%w: %w", sentinel, err)
	}
	defer f.Close()
	if size > MaxSize {
		return "", &FieldError{File: path, Problem: "file larger than 1 MiB", Want: "a configuration file of at most 1 MiB", Err: sentinel}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", sentinel, path, err)
	}
	if len(b) > MaxSize {
		return "", &FieldError{File: path, Problem: "file larger than 1 MiB", Want: "a configuration file of at most 1 MiB", Err: sentinel}
	}
	return string(b), nil
}

// Decode decodes the TOML text into *v over the values *v already holds (its defaults). file
// names the text in errors; every error wraps sentinel.
//
// It returns a *FieldError or, for several problems, an [Errors] in the order of their lines
// (the first 20, then one entry counting the others): malformed TOML (the parser's message and
// line), a text longer than [MaxSize] or nested deeper than [MaxDepth], a key that names no
// field (tags are matched exactly, case included; the keys inside an unknown table are listed
// too), a value of the wrong TOML type, a negative value for an unsigned field, an integer out
// of the field's range, an integer for a float field that a float64 cannot hold exactly. On
// error *v may be partly decoded.
//
// v must be a non-nil pointer to a struct whose fields, recursively, are structs, maps with
// string keys, slices, pointers, strings, booleans, integers, floats or the empty interface,
// named by their `toml` tag (the part before any comma; "-" skips the field) or, untagged, by
// the field's name. An empty interface receives the parsed value as it is (string, bool, int64,
// float64, time values, []any, map[string]any or []map[string]any), for the caller to check;
// the keys inside it are not marked as given.
// Decode panics on any other destination type, a broken precondition of the caller.
func Decode(text, file string, v any, sentinel error) (*Meta, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("tomlconf: Decode needs a non-nil pointer to a struct, got %T", v))
	}
	if len(text) > MaxSize {
		return nil, &FieldError{File: file, Problem: fmt.Sprintf("text of %d bytes", len(text)),
			Want: "at most 1 MiB", Err: sentinel}
	}
	m := &Meta{File: file, Index: NewIndex(text), given: map[string]bool{}}
	if m.Index.Depth() > MaxDepth {
		return nil, &FieldError{File: file, Line: m.Index.deepLine, Key: m.Index.deepKey, Problem: "arrays or inline tables nested too deeply",
			Want: fmt.Sprintf("at most %d levels", MaxDepth), Err: sentinel}
	}
	var tree map[string]any
	if _, err := toml.Decode(text, &tree); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &FieldError{File: file, Line: syntaxLine(text, pe), Key: pe.LastKey, Problem: pe.Message, Syntax: true, Err: sentinel}
		}
		return nil, &FieldError{File: file, Problem: err.Error(), Syntax: true, Err: sentinel}
	}
	d := &decoder{meta: m, sentinel: sentinel}
	d.decode(tree, rv.Elem(), "")
	if len(d.errs) == 0 {
		return m, nil
	}
	for _, fe := range d.errs {
		fe.File = file
		fe.Line = m.Index.Locate(fe.Key)
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Key < b.Key
	})
	if len(d.errs) > maxErrors {
		more := len(d.errs) - maxErrors
		first := d.errs[maxErrors]
		d.errs = append(d.errs[:maxErrors], &FieldError{File: file, Line: first.Line, Key: first.Key,
			Problem: fmt.Sprintf("and %d more, the first at", more), Err: sentinel})
	}
	if len(d.errs) == 1 {
		return m, d.errs[0]
	}
	return m, d.errs
}

// maxErrors is the most field errors Decode lists; one more entry counts the rest, with the
// key and line of the first of them.
const maxErrors = 20

type decoder struct {
	meta     *Meta
	sentinel error
	errs     Errors
}

func (d *decoder) fail(key string, data any, want string) {
	d.errs = append(d.errs, &FieldError{Key: key, Value: render(data), Want: want, Err: d.sentinel})
}

// decode stores data (a value of the parsed tree) into rv, the destination of key.
func (d *decoder) decode(data any, rv reflect.Value, key string) {
	switch rv.Kind() {
	case reflect.Struct:
		d.table(data, rv, key)
	case reflect.Map:
		d.mapping(data, rv, key)
	case reflect.Slice:
		d.slice(data, rv, key)
	case reflect.Pointer:
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		d.decode(data, rv.Elem(), key)
	case reflect.String:
		if s, ok := data.(string); ok {
			rv.SetString(s)
		} else {
			d.fail(key, data, "a string")
		}
	case reflect.Bool:
		if b, ok := data.(bool); ok {
			rv.SetBool(b)
		} else {
			d.fail(key, data, "true or false")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := data.(int64)
		if !ok || rv.OverflowInt(n) {
			d.fail(key, data, intWant(rv.Type()))
			return
		}
		rv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, ok := data.(int64)
		if !ok || n < 0 || rv.OverflowUint(uint64(n)) {
			d.fail(key, data, intWant(rv.Type()))
			return
		}
		rv.SetUint(uint64(n))
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := data.(type) {
		case float64:
			f = x
		case int64:
			if x < -1<<53 || x > 1<<53 {
				d.fail(key, data, "a float (an integer beyond ±2^53 has no exact float value)")
				return
			}
			f = float64(x)
		default:
			d.fail(key, data, "a float")
			return
		}
		if !math.IsNaN(f) && !math.IsInf(f, 0) && rv.OverflowFloat(f) {
			d.fail(key, data, "a float within the range of "+rv.Type().String())
			return
		}
		rv.SetFloat(f)
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			panic(fmt.Sprintf("tomlconf: unsupported destination type %s at %q", rv.Type(), key))
		}
		rv.Set(reflect.ValueOf(data)) // the parsed value as it is, checked by the caller
	default:
		panic(fmt.Sprintf("tomlconf: unsupported destination type %s at %q", rv.Type(), key))
	}
}

// table decodes a TOML table into a struct.
func (d *decoder) table(data any, rv reflect.Value, key string) {
	tmap, ok := data.(map[string]any)
	if !ok {
		d.fail(key, data, "a table")
		return
	}
	fields := fieldsOf(rv.Type())
	for _, name := range sortedKeys(tmap) {
		sub := Join(key, name)
		i, ok := fields[name]
		if !ok {
			d.errs = append(d.errs, &FieldError{Key: sub, Problem: "unknown key",
				Want: "one of " + strings.Join(fieldNames(rv.Type()), ", "), Err: d.sentinel})
			d.unknownBelow(tmap[name], sub)
			continue
		}
		d.meta.given[sub] = true
		d.decode(tmap[name], rv.FieldByIndex(i), sub)
	}
	if df, ok := rv.Addr().Interface().(Defaulter); ok {
		df.FillDefaults(func(name string) bool { _, ok := tmap[name]; return ok })
	}
}

// unknownBelow reports the keys of the tables (and arrays of tables) inside an unknown key:
// they are all unknown too.
func (d *decoder) unknownBelow(data any, key string) {
	switch x := data.(type) {
	case map[string]any:
		for _, name := range sortedKeys(x) {
			sub := Join(key, name)
			d.errs = append(d.errs, &FieldError{Key: sub, Problem: "unknown key", Err: d.sentinel})
			d.unknownBelow(x[name], sub)
		}
	case []map[string]any:
		for i, t := range x {
			d.unknownBelow(t, Elem(key, i))
		}
	}
}

// mapping decodes a TOML table into a map with string keys, each entry starting from the value
// the map already holds for it.
func (d *decoder) mapping(data any, rv reflect.Value, key string) {
	if rv.Type().Key().Kind() != reflect.String {
		panic(fmt.Sprintf("tomlconf: unsupported destination type %s at %q", rv.Type(), key))
	}
	tmap, ok := data.(map[string]any)
	if !ok {
		d.fail(key, data, "a table")
		return
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMap(rv.Type()))
	}
	for _, name := range sortedKeys(tmap) {
		sub := Join(key, name)
		d.meta.given[sub] = true
		k := reflect.ValueOf(name).Convert(rv.Type().Key())
		elem := reflect.New(rv.Type().Elem()).Elem()
		if old := rv.MapIndex(k); old.IsValid() {
			elem.Set(old)
		}
		d.decode(tmap[name], elem, sub)
		rv.SetMapIndex(k, elem)
	}
}

// slice decodes a TOML array (or array of tables) into a new slice that replaces rv.
func (d *decoder) slice(data any, rv reflect.Value, key string) {
	var elems []any
	switch x := data.(type) {
	case []any:
		elems = x
	case []map[string]any:
		elems = make([]any, len(x))
		for i, t := range x {
			elems[i] = t
		}
	default:
		d.fail(key, data, "an array")
		return
	}
	s := reflect.MakeSlice(rv.Type(), len(elems), len(elems))
	for i, e := range elems {
		sub := Elem(key, i)
		d.meta.given[sub] = true
		d.decode(e, s.Index(i), sub)
	}
	rv.Set(s)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// fieldsOf maps the TOML names of a struct type's fields to their indices.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := range t.NumField() {
		if name, ok := fieldName(t.Field(i)); ok {
			out[name] = t.Field(i).Index
		}
	}
	return out
}

// fieldNames lists the TOML names of a struct type's fields in declaration order.
func fieldNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		if name, ok := fieldName(t.Field(i)); ok {
			names = append(names, name)
		}
	}
	return names
}

func fieldName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return f.Name, true
	}
	return name, true
}

// intWant describes the integers an integer type holds (TOML integers are 64-bit signed).
func intWant(t reflect.Type) string {
	bits := 8 * t.Size()
	if t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr {
		if bits == 64 {
			return "an integer ≥ 0"
		}
		return fmt.Sprintf("an integer in [0, %d]", uint64(1)<<bits-1)
	}
	if bits == 64 {
		return "an integer"
	}
	return fmt.Sprintf("an integer in [%d, %d]", -int64(1)<<(bits-1), int64(1)<<(bits-1)-1)
}

// render writes a parsed value in TOML syntax, shortened: tables and non-empty arrays as
// {…} and […], strings of more than 40 characters cut.
func render(v any) string {
	switch x := v.(type) {
	case string:
		if utf8.RuneCountInString(x) > 40 {
			r := []rune(x)
			return strconv.Quote(string(r[:40])) + "…"
		}
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	case map[string]any:
		if len(x) == 0 {
			return "{}"
		}
		return "{…}"
	case []any:
		if len(x) == 0 {
			return "[]"
		}
		return "[…]"
	case []map[string]any:
		return "[[…]]"
	}
	return fmt.Sprint(v)
}
