package npyfile

import (
	"fmt"
	"strconv"
	"strings"
)

const (
	// MaxHeaderLen is the longest header, in bytes, the reader accepts. Headers of the
	// supported dtypes with [MaxDims] dimensions need under 2 KiB.
	MaxHeaderLen = 1 << 16
	// MaxDims is the largest number of dimensions the reader and the writer accept (numpy 2's
	// own limit).
	MaxDims = 64
)

// magic is the start of every .npy file.
const magic = "\x93NUMPY"

// dtype is a supported element type.
type dtype struct {
	kind byte // 'b' bool, 'i' signed integer, 'u' unsigned integer, 'f' float
	size int  // bytes per element: 1, 2, 4 or 8
	big  bool // big-endian
}

// String returns the numpy descr of d: '|' for 1-byte types, '<' or '>' otherwise, the kind
// and the size ("|b1", "<f8", ">i2").
func (d dtype) String() string {
	order := "<"
	switch {
	case d.size == 1:
		order = "|"
	case d.big:
		order = ">"
	}
	return order + string(d.kind) + strconv.Itoa(d.size)
}

// dtypeNames maps the numpy type names accepted as a descr to their codes.
var dtypeNames = map[string]string{
	"bool": "b1", "float32": "f4", "float64": "f8",
	"int8": "i1", "int16": "i2", "int32": "i4", "int64": "i8",
	"uint8": "u1", "uint16": "u2", "uint32": "u4", "uint64": "u8",
}

// parseDescr returns the dtype of a descr string such as '<f8', or an error saying why it is
// not supported.
func parseDescr(s string) (dtype, error) {
	unsupported := func(why string) (dtype, error) {
		return dtype{}, fmt.Errorf("dtype %q is not supported (%s); want float32, float64, bool or a 1-, 2-, 4- or 8-byte integer", s, why)
	}
	code := s
	if c, ok := dtypeNames[s]; ok {
		code = c
	}
	order := byte('=')
	if code != "" && strings.IndexByte("<>|=", code[0]) >= 0 {
		order, code = code[0], code[1:]
	}
	if code == "?" {
		code = "b1"
	}
	if len(code) < 2 {
		return unsupported("not a numpy type code")
	}
	for _, c := range []byte(code[1:]) {
		if c < '0' || c > '9' {
			return unsupported("not a numpy type code")
		}
	}
	size, err := strconv.Atoi(code[1:])
	if err != nil {
		return unsupported("not a numpy type code")
	}
	d := dtype{kind: code[0], size: size, big: order == '>'}
	switch d.kind {
	case 'f':
		switch size {
		case 4, 8:
		case 2:
			return unsupported("float16; convert with astype(numpy.float32)")
		default:
			return unsupported(fmt.Sprintf("%d-byte floats", size))
		}
	case 'i', 'u':
		switch size {
		case 1, 2, 4, 8:
		default:
			return unsupported(fmt.Sprintf("%d-byte integers", size))
		}
	case 'b':
		if size != 1 {
			return unsupported("bools are 1 byte")
		}
	case 'c':
		return unsupported("complex numbers")
	case 'S', 'a', 'U':
		return unsupported("strings")
	case 'O':
		return unsupported("Python objects")
	case 'M', 'm':
		return unsupported("datetimes")
	case 'V':
		return unsupported("raw or structured data")
	default:
		return unsupported("not a numpy type code")
	}
	if order == '|' && size != 1 {
		return unsupported(fmt.Sprintf("byte order '|' for a %d-byte type", size))
	}
	return d, nil
}

// header is a parsed .npy header.
type header struct {
	dtype   dtype
	fortran bool
	shape   []int // never nil; empty for a 0-d array
}

// headerParser reads the dict literal of a header. Its errors name the byte offset.
type headerParser struct {
	s []byte
	i int
}

// parseHeader parses the dict literal of a .npy header (everything after the header length).
func parseHeader(s []byte) (header, error) {
	p := headerParser{s: s}
	var h header
	p.space()
	if !p.eat('{') {
		return h, p.errorf("want '{' opening the header dict, found %s", p.found())
	}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		at := p.i
		key, err := p.str()
		if err != nil {
			return h, fmt.Errorf("key: %w", err)
		}
		p.space()
		if !p.eat(':') {
			return h, p.errorf("want ':' after key %q, found %s", key, p.found())
		}
		p.space()
		if seen[key] {
			return h, fmt.Errorf("at byte %d: key %q appears twice", at, key)
		}
		seen[key] = true
		switch key {
		case "descr":
			if p.peek('[') {
				return h, p.errorf("structured dtypes (a list as 'descr') are not supported")
			}
			at := p.i
			s, err := p.str()
			if err != nil {
				return h, fmt.Errorf("'descr': %w", err)
			}
			if h.dtype, err = parseDescr(s); err != nil {
				return h, fmt.Errorf("at byte %d: %w", at, err)
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, fmt.Errorf("'fortran_order': %w", err)
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, fmt.Errorf("'shape': %w", err)
			}
		default:
			return h, fmt.Errorf("at byte %d: unknown key %q (want 'descr', 'fortran_order' and 'shape')", at, key)
		}
		p.space()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			break
		}
		return h, p.errorf("want ',' or '}' after the value of %q, found %s", key, p.found())
	}
	p.space()
	if p.i != len(p.s) {
		return h, p.errorf("unexpected %s after the closing '}'", p.found())
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("the header has no %q key", k)
		}
	}
	return h, nil
}

func (p *headerParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

// found describes what is at the current position, for error messages.
func (p *headerParser) found() string {
	if p.i >= len(p.s) {
		return "the end of the header"
	}
	return strconv.QuoteRune(rune(p.s[p.i]))
}

// isSpace reports the white space of Python's tokenizer.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }

func (p *headerParser) space() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *headerParser) peek(c byte) bool { return p.i < len(p.s) && p.s[p.i] == c }

func (p *headerParser) eat(c byte) bool {
	if p.peek(c) {
		p.i++
		return true
	}
	return false
}

// str reads a single- or double-quoted string without escape sequences.
func (p *headerParser) str() (string, error) {
	if !p.peek('\'') && !p.peek('"') {
		return "", p.errorf("want a quoted string, found %s", p.found())
	}
	q, start := p.s[p.i], p.i
	for j := start + 1; j < len(p.s); j++ {
		switch p.s[j] {
		case q:
			p.i = j + 1
			return string(p.s[start+1 : j]), nil
		case '\\':
			return "", fmt.Errorf("at byte %d: escape sequences in strings are not supported", j)
		case '\n', '\r':
			return "", fmt.Errorf("at byte %d: string opened at byte %d is not closed on its line", j, start)
		}
	}
	return "", fmt.Errorf("at byte %d: string opened here is not closed", start)
}

// isIdent reports the bytes that may continue a Python identifier.
func isIdent(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// word returns the token at the current position: a run of bytes up to white space or
// punctuation of the dict, for error messages and numbers.
func (p *headerParser) word() string {
	j := p.i
	for j < len(p.s) && !isSpace(p.s[j]) && strings.IndexByte(",:(){}[]", p.s[j]) < 0 {
		j++
	}
	return string(p.s[p.i:j])
}

// boolean reads True or False.
func (p *headerParser) boolean() (bool, error) {
	j := p.i
	for j < len(p.s) && isIdent(p.s[j]) {
		j++
	}
	switch string(p.s[p.i:j]) {
	case "True":
		p.i = j
		return true, nil
	case "False":
		p.i = j
		return false, nil
	}
	w := p.word()
	if w == "" {
		return false, p.errorf("want True or False, found %s", p.found())
	}
	return false, p.errorf("want True or False, found %q", w)
}

// tuple reads a shape: a parenthesised tuple of non-negative integers, () or (n,) or (n, m, …).
func (p *headerParser) tuple() ([]int, error) {
	start := p.i
	if !p.eat('(') {
		w := p.word()
		if w == "" {
			return nil, p.errorf("want a tuple such as (3, 4), found %s", p.found())
		}
		return nil, p.errorf("want a tuple such as (3, 4), found %q", w)
	}
	shape := []int{}
	p.space()
	if p.eat(')') {
		return shape, nil
	}
	comma := false
	for {
		d, err := p.dim()
		if err != nil {
			return nil, err
		}
		if len(shape) == MaxDims {
			return nil, fmt.Errorf("at byte %d: more than %d dimensions", start, MaxDims)
		}
		shape = append(shape, d)
		p.space()
		if p.eat(')') {
			if !comma {
				return nil, fmt.Errorf("at byte %d: (%d) is a number, not a tuple: a 1-d shape is written (%d,)", start, d, d)
			}
			return shape, nil
		}
		if !p.eat(',') {
			return nil, p.errorf("want ',' or ')' in the shape, found %s", p.found())
		}
		comma = true
		p.space()
		if p.eat(')') {
			return shape, nil
		}
	}
}

// dim reads one dimension: a non-negative decimal integer that fits in an int.
func (p *headerParser) dim() (int, error) {
	w := p.word()
	if w == "" {
		return 0, p.errorf("want a dimension, found %s", p.found())
	}
	digits, neg := w, false
	if digits[0] == '+' || digits[0] == '-' {
		neg, digits = digits[0] == '-', digits[1:]
	}
	ok := digits != ""
	for _, c := range []byte(digits) {
		ok = ok && c >= '0' && c <= '9'
	}
	if !ok {
		return 0, p.errorf("dimension %q is not a non-negative integer", w)
	}
	v, err := strconv.ParseInt(digits, 10, strconv.IntSize)
	switch {
	case err != nil:
		return 0, p.errorf("dimension %s is too large (at most %d)", w, maxInt)
	case neg && v != 0:
		return 0, p.errorf("negative dimension %s", w)
	}
	p.i += len(w)
	return int(v), nil
}

// maxInt is the largest int.
const maxInt = int(^uint(0) >> 1)
