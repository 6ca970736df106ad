package tomlconf

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// MaxDepth is the deepest nesting of arrays and inline tables the [Index] follows and
// [Decode] accepts.
const MaxDepth = 64

// Index maps the keys of a TOML text to the lines that set them. It is built once by
// [NewIndex] and is then read-only, safe for concurrent use.
//
// Every key, table and array element the text mentions has an entry: the key of a key/value
// pair, each prefix of a dotted key, each prefix of a [table] or [[array]] header, each element
// of an array (the line where it starts) and each key of an inline table. A key mentioned more
// than once keeps its first line. An array of tables has one entry for the array (its first
// header) and one per element (that element's header).
type Index struct {
	lines map[string]int // key with array indices → first line
	plain map[string]int // key without array indices → first line
	depth int            // deepest nesting of arrays and inline tables seen
	// deepLine is the line of the first array or inline table nested deeper than MaxDepth.
	deepLine int
	// deepKey is the key of that value.
	deepKey string
}

// Line returns the 1-based line on which the key (in the form described in the package
// documentation) is first mentioned, or 0 when the text does not mention it.
func (ix *Index) Line(key string) int { return ix.lines[key] }

// Locate returns the line of key or, when the text does not mention it, of the nearest
// enclosing table or array element that it does mention; 0 when there is none.
func (ix *Index) Locate(key string) int {
	for key != "" {
		if l := ix.lines[key]; l > 0 {
			return l
		}
		key = parentKey(key)
	}
	return 0
}

// Depth returns the deepest nesting of arrays and inline tables in the text (0 for none), or
// MaxDepth+1 when it is deeper than [MaxDepth].
func (ix *Index) Depth() int { return ix.depth }

// plainLine returns the first line of a key given without array indices, as
// [toml.MetaData.Keys] lists them, or 0.
func (ix *Index) plainLine(k toml.Key) int { return ix.plain[k.String()] }

// Keys returns the indexed keys in the order of their lines (then by key).
func (ix *Index) Keys() []string {
	keys := make([]string, 0, len(ix.lines))
	for k := range ix.lines {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		li, lj := ix.lines[keys[i]], ix.lines[keys[j]]
		if li != lj {
			return li < lj
		}
		return keys[i] < keys[j]
	})
	return keys
}

// Join returns the key of name inside the table or element parent ("" for the top level),
// quoting name when it is not a bare key.
func Join(parent, name string) string {
	q := toml.Key{name}.String()
	if parent == "" {
		return q
	}
	return parent + "." + q
}

// Elem returns the key of element i of the array parent.
func Elem(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// parentKey drops the last part (a name or an index) of key, or returns "" for a top-level
// name. It understands quoted parts.
func parentKey(key string) string {
	last := 0
	inQuote := false
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '.' || c == '['):
			last = i
		}
	}
	return key[:last]
}

// NewIndex indexes text. It never fails: on text that is not valid TOML it indexes what it can
// read and may miss or misplace keys after the first error. A leading byte-order mark is
// skipped as the decoder skips it; nesting deeper than [MaxDepth] is skipped over unindexed.
func NewIndex(text string) *Index {
	s := &scanner{text: text, ix: &Index{lines: map[string]int{}, plain: map[string]int{}},
		aot: map[string]int{}}
	switch {
	case strings.HasPrefix(text, "\xff\xfe"), strings.HasPrefix(text, "\xfe\xff"):
		s.p = 2
	case strings.HasPrefix(text, "\xef\xbb\xbf"):
		s.p = 3
	}
	for i := 0; i < len(text); i++ {
		if text[i] == '\n' {
			s.nl = append(s.nl, i)
		}
	}
	s.document()
	return s.ix
}

// scanner reads a TOML text just far enough to know where each key is.
type scanner struct {
	text string
	p    int   // read position
	nl   []int // offsets of '\n'
	ix   *Index
	aot  map[string]int // elements so far of each array of tables, by key with indices
}

// line returns the 1-based line of byte offset off.
func (s *scanner) line(off int) int { return sort.SearchInts(s.nl, off) + 1 }

func (s *scanner) record(key, plain string, off int) {
	if _, ok := s.ix.lines[key]; !ok {
		s.ix.lines[key] = s.line(off)
	}
	if _, ok := s.ix.plain[plain]; !ok {
		s.ix.plain[plain] = s.line(off)
	}
}

func (s *scanner) eof() bool  { return s.p >= len(s.text) }
func (s *scanner) peek() byte { return s.text[s.p] }

func (s *scanner) skipSpace() {
	for !s.eof() && (s.peek() == ' ' || s.peek() == '\t') {
		s.p++
	}
}

// skipBlank skips spaces, newlines and comments.
func (s *scanner) skipBlank() {
	for !s.eof() {
		switch s.peek() {
		case ' ', '\t', '\r', '\n':
			s.p++
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the next '\n' (not consumed) or the end.
func (s *scanner) skipLine() {
	if i := strings.IndexByte(s.text[s.p:], '\n'); i >= 0 {
		s.p += i
	} else {
		s.p = len(s.text)
	}
}

func (s *scanner) document() {
	table, plain := "", ""
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		if s.peek() == '[' {
			if t, pl, ok := s.header(); ok {
				table, plain = t, pl
			}
		} else {
			s.keyValue(table, plain, 0)
		}
		s.skipLine()
	}
}

// header reads a [table] or [[array]] header and returns the key of the table it opens.
func (s *scanner) header() (key, plain string, ok bool) {
	start := s.p
	s.p++
	array := !s.eof() && s.peek() == '['
	if array {
		s.p++
	}
	parts, ok := s.keyParts()
	if !ok || s.eof() || s.peek() != ']' {
		return "", "", false
	}
	s.p++
	if array {
		if s.eof() || s.peek() != ']' {
			return "", "", false
		}
		s.p++
	}
	for i, part := range parts {
		base := Join(key, part)
		plain = Join(plain, part)
		if i == len(parts)-1 && array {
			n := s.aot[base]
			s.aot[base] = n + 1
			s.record(base, plain, start)
			key = Elem(base, n)
		} else {
			key = base
			if n := s.aot[base]; n > 0 {
				key = Elem(base, n-1)
			}
		}
		s.record(key, plain, start)
	}
	return key, plain, true
}

// keyValue reads key = value inside the table (or inline table) key table.
func (s *scanner) keyValue(table, plain string, depth int) {
	start := s.p
	parts, ok := s.keyParts()
	if !ok || s.eof() || s.peek() != '=' {
		return
	}
	s.p++
	s.skipSpace()
	key := table
	for _, part := range parts {
		key, plain = Join(key, part), Join(plain, part)
		s.record(key, plain, start)
	}
	s.value(key, plain, depth)
}

// keyParts reads a dotted key up to (not including) the first character after it that is not
// a space, '.', or part of a key.
func (s *scanner) keyParts() ([]string, bool) {
	var parts []string
	for {
		s.skipSpace()
		part, ok := s.keyPart()
		if !ok {
			return nil, false
		}
		parts = append(parts, part)
		s.skipSpace()
		if s.eof() || s.peek() != '.' {
			return parts, true
		}
		s.p++
	}
}

func (s *scanner) keyPart() (string, bool) {
	if s.eof() {
		return "", false
	}
	switch s.peek() {
	case '"':
		return s.basicString()
	case '\'':
		s.p++
		i := strings.IndexAny(s.text[s.p:], "'\n")
		if i < 0 || s.text[s.p+i] != '\'' {
			return "", false
		}
		part := s.text[s.p : s.p+i]
		s.p += i + 1
		return part, true
	}
	start := s.p
	for !s.eof() && isBare(s.peek()) {
		s.p++
	}
	return s.text[start:s.p], s.p > start
}

func isBare(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// basicString reads a one-line "…" string at the read position and returns its value with the
// escapes resolved.
func (s *scanner) basicString() (string, bool) {
	s.p++
	var b strings.Builder
	for !s.eof() {
		c := s.peek()
		switch c {
		case '"':
			s.p++
			return b.String(), true
		case '\n':
			return "", false
		case '\\':
			if s.p+1 >= len(s.text) {
				return "", false
			}
			e := s.text[s.p+1]
			s.p += 2
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case 'e':
				b.WriteByte(0x1b)
			case '"', '\\':
				b.WriteByte(e)
			case 'x', 'u', 'U':
				n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
				if s.p+n > len(s.text) {
					return "", false
				}
				r, err := strconv.ParseUint(s.text[s.p:s.p+n], 16, 32)
				if err != nil {
					return "", false
				}
				b.WriteRune(rune(r))
				s.p += n
			default:
				return "", false
			}
		default:
			_, w := utf8.DecodeRuneInString(s.text[s.p:])
			b.WriteString(s.text[s.p : s.p+w])
			s.p += w
		}
	}
	return "", false
}

// value skips over the value at the read position, indexing the elements of arrays and the keys
// of inline tables under key.
func (s *scanner) value(key, plain string, depth int) {
	if s.eof() {
		return
	}
	switch c := s.peek(); {
	case strings.HasPrefix(s.text[s.p:], `"""`):
		s.multiline(`"""`, true)
	case strings.HasPrefix(s.text[s.p:], `'''`):
		s.multiline(`'''`, false)
	case c == '"':
		s.basicString()
	case c == '\'':
		s.keyPart()
	case c == '[' || c == '{':
		if depth >= MaxDepth {
			if s.ix.depth <= MaxDepth {
				s.ix.depth, s.ix.deepLine, s.ix.deepKey = MaxDepth+1, s.line(s.p), outerKey(key)
			}
			s.skipNested()
			return
		}
		s.ix.depth = max(s.ix.depth, depth+1)
		s.p++
		if c == '[' {
			s.array(key, plain, depth+1)
		} else {
			s.inlineTable(key, plain, depth+1)
		}
	default: // number, boolean or date-time: up to a delimiter
		for !s.eof() && !strings.ContainsRune(",]}#\r\n", rune(s.peek())) {
			s.p++
		}
	}
}

func (s *scanner) array(key, plain string, depth int) {
	for i := 0; ; i++ {
		s.skipBlank()
		if s.eof() {
			return
		}
		if s.peek() == ']' {
			s.p++
			return
		}
		elem := Elem(key, i)
		s.record(elem, plain, s.p)
		s.value(elem, plain, depth)
		s.skipBlank()
		if s.eof() {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case ']':
			s.p++
			return
		default:
			return
		}
	}
}

func (s *scanner) inlineTable(key, plain string, depth int) {
	for {
		s.skipBlank()
		if s.eof() {
			return
		}
		if s.peek() == '}' {
			s.p++
			return
		}
		before := s.p
		s.keyValue(key, plain, depth)
		s.skipBlank()
		if s.eof() || s.p == before {
			return
		}
		switch s.peek() {
		case ',':
			s.p++
		case '}':
			s.p++
			return
		default:
			return
		}
	}
}

// multiline skips a multi-line string (three double or three single quotes); a run of more
// than three closing quotes ends it with the last three.
func (s *scanner) multiline(delim string, escapes bool) {
	s.p += 3
	q := delim[0]
	for !s.eof() {
		c := s.peek()
		switch {
		case escapes && c == '\\':
			s.p += 2
		case c == q && strings.HasPrefix(s.text[s.p:], delim):
			for !s.eof() && s.peek() == q {
				s.p++
			}
			return
		default:
			s.p++
		}
	}
	s.p = min(s.p, len(s.text))
}

// skipNested skips an array or inline table too deeply nested to index, without recursion.
func (s *scanner) skipNested() {
	open := 0
	for !s.eof() {
		switch c := s.peek(); {
		case strings.HasPrefix(s.text[s.p:], `"""`):
			s.multiline(`"""`, true)
			continue
		case strings.HasPrefix(s.text[s.p:], `'''`):
			s.multiline(`'''`, false)
			continue
		case c == '"':
			s.basicString()
			continue
		case c == '\'':
			s.keyPart()
			continue
		case c == '#':
			s.skipLine()
			continue
		case c == '[' || c == '{':
			open++
		case c == ']' || c == '}':
			open--
		}
		s.p++
		if open == 0 {
			return
		}
	}
}

// outerKey returns key without the element indices of its last part ("a.b[0][3]" → "a.b"): the
// key of the value a deeply nested element lies in.
func outerKey(key string) string {
	dot := strings.LastIndex(key, ".")
	if i := strings.Index(key[dot+1:], "["); i >= 0 {
		return key[:dot+1+i]
	}
	return key
}
