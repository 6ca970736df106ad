package safetensors

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

const (
	// MaxHeaderLen is the longest header, in bytes, that is read or written: the limit of the
	// reference implementation. A header needs about 80 bytes a tensor.
	MaxHeaderLen = 100_000_000
	// MaxDims is the largest number of dimensions of a tensor that is read or written (that of
	// numpy).
	MaxDims = 64
)

// metadataKey is the header key of the metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a file, from its header.
type TensorInfo struct {
	// Name is the tensor's key in the header.
	Name string
	// DType is the element type.
	DType DType
	// Shape holds the dimensions, each ≥ 0; it is empty (not nil) for a 0-d tensor.
	Shape []int
	// Begin and End are the byte offsets of the tensor's data in the data buffer (after the
	// header), End excluded: End − Begin is Elements()·DType.Size().
	Begin, End int64
}

// Elements returns the number of elements: the product of the shape (1 for a 0-d tensor).
// For a TensorInfo of a file this package opened, the product is known to fit an int.
func (t TensorInfo) Elements() int {
	n, _ := elements(t.Shape)
	return n
}

// Header is what the header of a file declares.
type Header struct {
	// Tensors lists the tensors in the order of their data in the file.
	Tensors []TensorInfo
	// Metadata holds the "__metadata__" object; nil when the file has none.
	Metadata map[string]string
}

// elements returns the product of shape, and false when a dimension is negative or the
// product of the non-zero dimensions overflows an int (a shape with a zero dimension has no
// elements, but its other dimensions must not overflow either).
func elements(shape []int) (int, bool) {
	n, zero := 1, false
	for _, s := range shape {
		switch {
		case s < 0:
			return 0, false
		case s == 0:
			zero = true
		case n > math.MaxInt/s:
			return 0, false
		default:
			n *= s
		}
	}
	if zero {
		return 0, true
	}
	return n, true
}

// quote returns s quoted for an error message, shortened to its first 100 bytes.
func quote(s string) string {
	const most = 100
	if len(s) <= most {
		return strconv.Quote(s)
	}
	cut := most
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// parser reads the JSON of a header token by token, so that a key that appears twice is seen.
type parser struct {
	dec *json.Decoder
}

// parseHeader parses and checks the JSON text of a header (padding included); the layout of
// the data is checked by checkLayout. Its errors wrap ErrFormat.
func parseHeader(text []byte) (Header, error) {
	var h Header
	if !utf8.Valid(text) {
		return h, formatErrorf("the header is not valid UTF-8 (at byte %d)", invalidUTF8At(text))
	}
	if len(text) == 0 || text[0] != '{' {
		return h, formatErrorf("the header does not start with '{': it starts with %s", quote(string(text[:min(len(text), 16)])))
	}
	p := &parser{dec: json.NewDecoder(bytes.NewReader(text))}
	p.dec.UseNumber()
	if err := p.delim('{', "the header"); err != nil {
		return h, err
	}
	seen := map[string]bool{}
	for p.dec.More() {
		key, err := p.key("the header")
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, formatErrorf("key %s appears twice in the header", quote(key))
		}
		seen[key] = true
		if key == metadataKey {
			if h.Metadata, err = p.metadata(); err != nil {
				return h, err
			}
			continue
		}
		t, err := p.tensor(key)
		if err != nil {
			return h, err
		}
		h.Tensors = append(h.Tensors, t)
	}
	if err := p.delim('}', "the header"); err != nil {
		return h, err
	}
	if tok, err := p.dec.Token(); err != io.EOF {
		if err != nil {
			return h, p.syntax(err, "after the header object")
		}
		return h, formatErrorf("%s after the header object at byte %d: only white space may follow it", describe(tok), p.dec.InputOffset())
	}
	return h, nil
}

// invalidUTF8At returns the offset of the first invalid UTF-8 sequence of b.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// describe names a JSON token for an error message.
func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		return "'" + v.String() + "'"
	case string:
		return "the string " + quote(v)
	case json.Number:
		return "the number " + quote(string(v))
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// syntax returns the error of a failed Token call, in context.
func (p *parser) syntax(err error, where string) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErrorf("the header JSON ends %s", where)
	}
	return formatErrorf("invalid JSON in the header at byte %d (%s): %v", p.dec.InputOffset(), where, err)
}

// next returns the next token; where says what is read, for errors.
func (p *parser) next(where string) (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err, "in "+where)
	}
	return tok, nil
}

// delim reads the delimiter d.
func (p *parser) delim(d json.Delim, where string) error {
	tok, err := p.next(where)
	if err != nil {
		return err
	}
	if tok != d {
		return formatErrorf("%s: want '%s', found %s", where, d, describe(tok))
	}
	return nil
}

// key reads an object key (the decoder guarantees a string there).
func (p *parser) key(where string) (string, error) {
	tok, err := p.next(where)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", formatErrorf("%s: want a key, found %s", where, describe(tok))
	}
	return s, nil
}

// str reads a string value.
func (p *parser) str(where string) (string, error) {
	tok, err := p.next(where)
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", formatErrorf("%s: want a string, found %s", where, describe(tok))
	}
	return s, nil
}

// metadata reads the "__metadata__" object (or null) of string values.
func (p *parser) metadata() (map[string]string, error) {
	const where = metadataKey
	tok, err := p.next(where)
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if tok != json.Delim('{') {
		return nil, formatErrorf("%s: want an object of strings, found %s", where, describe(tok))
	}
	m := map[string]string{}
	for p.dec.More() {
		k, err := p.key(where)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, formatErrorf("%s: key %s appears twice", where, quote(k))
		}
		if m[k], err = p.str(where + " key " + quote(k)); err != nil {
			return nil, err
		}
	}
	if err := p.delim('}', where); err != nil {
		return nil, err
	}
	return m, nil
}

// tensor reads the entry of the tensor name and checks its dtype, shape and the byte count of
// its offsets.
func (p *parser) tensor(name string) (TensorInfo, error) {
	t := TensorInfo{Name: name}
	where := "tensor " + quote(name)
	tok, err := p.next(where)
	if err != nil {
		return t, err
	}
	if tok != json.Delim('{') {
		return t, formatErrorf("%s: want an object with dtype, shape and data_offsets, found %s", where, describe(tok))
	}
	seen := map[string]bool{}
	for p.dec.More() {
		key, err := p.key(where)
		if err != nil {
			return t, err
		}
		switch key {
		case "dtype", "shape", "data_offsets":
		default:
			return t, formatErrorf("%s: unknown key %s (want dtype, shape and data_offsets)", where, quote(key))
		}
		if seen[key] {
			return t, formatErrorf("%s: key %q appears twice", where, key)
		}
		seen[key] = true
		switch key {
		case "dtype":
			s, err := p.str(where + " dtype")
			if err != nil {
				return t, err
			}
			if t.DType, err = ParseDType(s); err != nil {
				return t, prefix(err, where)
			}
		case "shape":
			dims, err := p.uints(where, "shape", "dimension", MaxDims)
			if err != nil {
				return t, err
			}
			t.Shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt {
					return t, formatErrorf("%s: shape: dimension %d is too large (at most %d)", where, d, math.MaxInt)
				}
				t.Shape[i] = int(d)
			}
		case "data_offsets":
			off, err := p.uints(where, "data_offsets", "offset", 2)
			if err != nil {
				return t, err
			}
			if len(off) != 2 {
				return t, formatErrorf("%s: data_offsets holds %d numbers, want 2 ([BEGIN, END])", where, len(off))
			}
			if off[0] > math.MaxInt64 || off[1] > math.MaxInt64 {
				return t, formatErrorf("%s: data_offsets %v are too large (at most %d)", where, off, int64(math.MaxInt64))
			}
			t.Begin, t.End = int64(off[0]), int64(off[1])
		}
	}
	if err := p.delim('}', where); err != nil {
		return t, err
	}
	for _, k := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[k] {
			return t, formatErrorf("%s: no %s", where, k)
		}
	}
	n, ok := elements(t.Shape)
	size := int64(t.DType.Size())
	if !ok || int64(n) > math.MaxInt64/size {
		return t, formatErrorf("%s: shape %v of %s overflows the element or byte count", where, t.Shape, t.DType)
	}
	if t.End < t.Begin {
		return t, formatErrorf("%s: data_offsets [%d, %d] end before they begin", where, t.Begin, t.End)
	}
	if want := int64(n) * size; t.End-t.Begin != want {
		return t, formatErrorf("%s: data_offsets [%d, %d] hold %d bytes but shape %v of %s needs %d", where, t.Begin, t.End, t.End-t.Begin, t.Shape, t.DType, want)
	}
	return t, nil
}

// prefix returns err, an error of this package, with its message prefixed by where.
func prefix(err error, where string) error {
	if ce, ok := err.(*contentError); ok {
		c := *ce
		c.msg = where + ": " + c.msg
		return &c
	}
	return err
}

// uints reads an array of at most most non-negative integers: key names the array and elem
// its elements, for errors.
func (p *parser) uints(where, key, elem string, most int) ([]uint64, error) {
	where += " " + key
	if err := p.delim('[', where); err != nil {
		return nil, err
	}
	out := []uint64{}
	for p.dec.More() {
		tok, err := p.next(where)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, formatErrorf("%s: want a non-negative integer, found %s", where, describe(tok))
		}
		if len(out) == most {
			return nil, formatErrorf("%s: more than %d numbers", where, most)
		}
		s := string(num)
		v, err := strconv.ParseUint(s, 10, 64)
		switch {
		case len(s) > 0 && s[0] == '-':
			return nil, formatErrorf("%s: %s %s is negative", where, elem, s)
		case errors.Is(err, strconv.ErrRange):
			return nil, formatErrorf("%s: %s %s is too large", where, elem, s)
		case err != nil:
			return nil, formatErrorf("%s: %s %s is not an integer", where, elem, s)
		}
		out = append(out, v)
	}
	if err := p.delim(']', where); err != nil {
		return nil, err
	}
	return out, nil
}

// checkLayout checks that the tensors' data, in the order of their offsets, covers the data
// buffer of dataSize bytes exactly, and sorts ts in that order (by offsets, then by name).
func checkLayout(ts []TensorInfo, dataSize int64) error {
	slices.SortFunc(ts, func(a, b TensorInfo) int {
		return cmp.Or(cmp.Compare(a.Begin, b.Begin), cmp.Compare(a.End, b.End), cmp.Compare(a.Name, b.Name))
	})
	var end int64
	for i, t := range ts {
		switch {
		case t.Begin == end:
		case i == 0:
			return formatErrorf("tensor %s: its data starts at byte %d of the data buffer, not 0: the bytes before it belong to no tensor", quote(t.Name), t.Begin)
		case t.Begin < end:
			p := ts[i-1]
			return formatErrorf("tensor %s: data_offsets [%d, %d] overlap those of tensor %s [%d, %d]", quote(t.Name), t.Begin, t.End, quote(p.Name), p.Begin, p.End)
		default:
			return formatErrorf("tensor %s: its data starts at byte %d of the data buffer but the previous tensor %s ends at byte %d: the bytes between belong to no tensor", quote(t.Name), t.Begin, quote(ts[i-1].Name), end)
		}
		end = t.End
	}
	if end > dataSize {
		for _, t := range ts {
			if t.End > dataSize {
				return fileErrorf([]error{ErrFormat, ErrTruncated}, "truncated: tensor %s: data_offsets [%d, %d] reach beyond the %d bytes of data the file holds", quote(t.Name), t.Begin, t.End, dataSize)
			}
		}
	}
	if end < dataSize {
		if len(ts) == 0 {
			return formatErrorf("%d trailing bytes after a header that declares no tensor", dataSize)
		}
		return formatErrorf("%d trailing bytes after the data of the last tensor %s, which ends at byte %d of the data buffer", dataSize-end, quote(ts[len(ts)-1].Name), end)
	}
	return nil
}

// appendQuoted appends s as a JSON string, escaping only ", \ and the control characters
// (\b, \f, \n, \r, \t and \u00XX with lower-case hex digits for the others), as Python's
// json.dumps(ensure_ascii=False) and the reference implementation do.
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			if c < 0x20 {
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			} else {
				b = append(b, c)
			}
		}
	}
	return append(b, '"')
}

// encodeHeader returns the header of tensors (in their order in the file) and metadata,
// padded with spaces to a multiple of 8 bytes (see the package documentation).
func encodeHeader(ts []TensorInfo, metadata map[string]string) []byte {
	b := []byte{'{'}
	if len(metadata) > 0 {
		b = appendQuoted(b, metadataKey)
		b = append(b, ":{"...)
		for i, k := range slices.Sorted(maps.Keys(metadata)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendQuoted(b, k)
			b = append(b, ':')
			b = appendQuoted(b, metadata[k])
		}
		b = append(b, '}')
	}
	for i, t := range ts {
		if i > 0 || len(metadata) > 0 {
			b = append(b, ',')
		}
		b = appendQuoted(b, t.Name)
		b = append(b, `:{"dtype":`...)
		b = appendQuoted(b, t.DType.String())
		b = append(b, `,"shape":[`...)
		for j, d := range t.Shape {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(d), 10)
		}
		b = append(b, `],"data_offsets":[`...)
		b = strconv.AppendInt(b, t.Begin, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, t.End, 10)
		b = append(b, "]}"...)
	}
	b = append(b, '}')
	for len(b)%8 != 0 {
		b = append(b, ' ')
	}
	return b
}
