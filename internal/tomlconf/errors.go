package tomlconf

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FieldError is one problem with one key of a configuration. Its message reads
//
//	FILE line LINE: KEY = VALUE, want WANT        (a bad value)
//	FILE line LINE: PROBLEM KEY, want WANT        (unknown key, missing key)
//	FILE line LINE: PROBLEM (at key KEY)          (malformed TOML)
//
// with the parts that are empty left out.
type FieldError struct {
	// File is the file name; "" when the configuration comes from elsewhere.
	File string
	// Line is the 1-based line of the key in File; 0 when not known.
	Line int
	// Key is the dotted key as described in the package documentation, relative to the table
	// the validator was given; for malformed TOML the key the parser was at, or "".
	Key string
	// Value is the offending value in TOML syntax; "" when the problem is the key itself
	// (unknown, missing) or the text around it.
	Value string
	// Problem says what is wrong when Value does not: a phrase that reads before the key
	// ("unknown key", "missing key"), or for malformed TOML the parser's message.
	Problem string
	// Syntax marks malformed TOML: Problem is the parser's message.
	Syntax bool
	// Want says what is wanted instead.
	Want string
	// Related are other keys the check involves; when Key is not in the file, the first of them
	// that is gives the line (see [Meta.Locate]).
	Related []string
	// Err is the sentinel the error wraps (the ErrConfig of the caller's package).
	Err error
}

// Error returns the message described on the type.
func (e *FieldError) Error() string {
	var b strings.Builder
	pos := e.File
	if e.Line > 0 {
		if pos != "" {
			pos += " "
		}
		pos += "line " + strconv.Itoa(e.Line)
	}
	if pos != "" {
		b.WriteString(pos)
		b.WriteString(": ")
	}
	switch {
	case e.Syntax:
		b.WriteString(e.Problem)
		if e.Key != "" {
			b.WriteString(" (at key " + e.Key + ")")
		}
	case e.Value != "":
		b.WriteString(e.Key + " = " + e.Value)
	case e.Problem != "" && e.Key != "":
		b.WriteString(e.Problem + " " + e.Key)
	default:
		b.WriteString(e.Problem + e.Key)
	}
	if e.Want != "" {
		b.WriteString(", want ")
		b.WriteString(e.Want)
	}
	return b.String()
}

// Unwrap returns the sentinel.
func (e *FieldError) Unwrap() error { return e.Err }

// Format writes a Go value of a configuration as TOML spells it, for [FieldError.Value]: a
// string quoted, a float64 in the shortest form that reads back (nan, inf and -inf as TOML
// spells them), anything else as fmt.Sprint does (a slice as [a b c]).
func Format(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case float64:
		return formatFloat(x)
	}
	return fmt.Sprint(v)
}

// formatFloat writes x as TOML spells it: the shortest form that reads back, nan, inf or -inf.
func formatFloat(x float64) string {
	switch {
	case math.IsNaN(x):
		return "nan"
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// Errors is a list of field errors, in the order of their lines; it is never empty when
// returned as an error.
type Errors []*FieldError

// Error returns the messages of the errors, one a line.
func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the field errors, so that [errors.Is] finds their sentinel and [errors.As] the
// first *FieldError.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Fields returns the field errors err holds: itself when it is a *FieldError, its list when it
// is an [Errors], the ones it wraps otherwise; nil when it holds none.
func Fields(err error) []*FieldError {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return nil
}

// Prefix returns a copy of err with prefix joined before every field error's key (as
// Join(prefix, key) does for a name) and with its sentinel replaced by sentinel, which then
// wraps the old one too: experiments uses it to report train's keys under [train]. An error
// that holds no field error is wrapped as fmt.Errorf("%w: %w", sentinel, err) would.
func Prefix(err error, prefix string, sentinel error) error {
	if err == nil {
		return nil
	}
	fields := Fields(err)
	if fields == nil {
		return &wrapped{sentinel, err}
	}
	out := make(Errors, len(fields))
	for i, fe := range fields {
		c := *fe
		c.Key = prefixKey(prefix, fe.Key)
		c.Related = make([]string, len(fe.Related))
		for j, r := range fe.Related {
			c.Related[j] = prefixKey(prefix, r)
		}
		c.Err = sentinel
		if fe.Err != nil {
			c.Err = &wrapped{sentinel, fe.Err}
		}
		out[i] = &c
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

func prefixKey(prefix, key string) string {
	switch {
	case prefix == "":
		return key
	case key == "":
		return prefix
	}
	return prefix + "." + key
}

// wrapped is a sentinel wrapping the sentinel (or error) of another package.
type wrapped struct{ outer, inner error }

func (w *wrapped) Error() string { return w.outer.Error() + ": " + w.inner.Error() }

func (w *wrapped) Unwrap() []error { return []error{w.outer, w.inner} }
