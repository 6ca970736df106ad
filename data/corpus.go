package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// Corpus is plain text for masked-language modelling: documents, each a list of lines (a verse,
// a gloss, a sentence or a paragraph), in file order.
type Corpus struct {
	// Name is the file or split name, used in messages and as the encoded set's name.
	Name string
	// Docs are the documents; each holds at least one line, and no line is empty or has
	// leading or trailing white space.
	Docs [][]string
}

// Lines returns the number of lines of all documents.
func (c *Corpus) Lines() int {
	n := 0
	for _, d := range c.Docs {
		n += len(d)
	}
	return n
}

// Texts returns every line of every document, in order: the input of [TrainTokenizer].
func (c *Corpus) Texts() []string {
	out := make([]string, 0, c.Lines())
	for _, d := range c.Docs {
		out = append(out, d...)
	}
	return out
}

// Limits of the corpus reader.
const (
	// MaxCorpusLine is the longest line, in bytes, ParseCorpus accepts.
	MaxCorpusLine = 1 << 20
	// MaxCorpusBytes is the most text, in bytes after decompression, ParseCorpus reads.
	MaxCorpusBytes = 1 << 30
)

// gzipMagic opens every gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// LoadCorpus reads a corpus file (see [ParseCorpus]), plain or gzip-compressed. A FIFO, a
// directory or another special file is refused (ErrUnreadable of internal/inputfile, wrapped);
// every other error names the file and wraps ErrFormat or ErrEmpty.
func LoadCorpus(path string) (*Corpus, error) {
	f, _, err := inputfile.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	c, err := ParseCorpus(f, path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ParseCorpus reads a corpus: UTF-8 text, one line a verse, sentence or paragraph, documents
// separated by blank lines (lines of white space only; several count as one). A stream opening
// with the gzip magic bytes is decompressed first, whatever its name; a name ending in ".gz"
// requires it. A byte-order mark and CRLF line ends are accepted; lines are trimmed of white
// space. Errors name the stream (name) and the 1-based line and wrap ErrFormat: invalid UTF-8, a
// NUL byte or a carriage return inside a line, a line longer than MaxCorpusLine, more than
// MaxCorpusBytes of text, a corrupt gzip stream. A stream with no line returns ErrEmpty.
func ParseCorpus(r io.Reader, name string) (*Corpus, error) {
	return parseCorpus(r, name, MaxCorpusBytes)
}

// parseCorpus is ParseCorpus reading at most limit bytes of text.
func parseCorpus(r io.Reader, name string, limit int64) (*Corpus, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(len(gzipMagic))
	var src io.Reader = br
	if bytes.Equal(head, gzipMagic) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		defer zr.Close()
		src = zr
	} else if strings.HasSuffix(name, ".gz") {
		return nil, fmt.Errorf("%w: %s: named .gz but not gzip-compressed", ErrFormat, name)
	}
	lim := &io.LimitedReader{R: src, N: limit + 1}
	sc := bufio.NewScanner(lim)
	sc.Buffer(make([]byte, 64<<10), MaxCorpusLine+2) // room for "\r\n"
	c := &Corpus{Name: name}
	var doc []string
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff"))
		}
		if len(b) > MaxCorpusLine {
			return nil, fmt.Errorf("%w: %s line %d is longer than %d bytes, the longest line this reader accepts", ErrFormat, name, line, MaxCorpusLine)
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("%w: %s line %d is not valid UTF-8", ErrFormat, name, line)
		}
		if i := bytes.IndexAny(b, "\x00\r"); i >= 0 {
			return nil, fmt.Errorf("%w: %s line %d: a %q byte inside the line (binary data, or old Mac line ends?)", ErrFormat, name, line, b[i])
		}
		// A U+FEFF past the file's first bytes is a zero-width no-break space: trimmed like
		// white space, so that a line of it alone ends a document as a blank line does (and
		// the text reads back the same once written without it).
		text := strings.TrimFunc(string(b), func(r rune) bool { return unicode.IsSpace(r) || r == '\ufeff' })
		if text == "" {
			if len(doc) > 0 {
				c.Docs = append(c.Docs, doc)
				doc = nil
			}
			continue
		}
		doc = append(doc, text)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s line %d is longer than %d bytes, the longest line this reader accepts", ErrFormat, name, line+1, MaxCorpusLine)
		}
		return nil, fmt.Errorf("%w: %s line %d: %v", ErrFormat, name, line+1, err)
	}
	if lim.N <= 0 {
		return nil, fmt.Errorf("%w: %s holds more than %d bytes of text, the most this reader accepts", ErrFormat, name, limit)
	}
	if len(doc) > 0 {
		c.Docs = append(c.Docs, doc)
	}
	if len(c.Docs) == 0 {
		return nil, fmt.Errorf("%w: %s: no text", ErrEmpty, name)
	}
	return c, nil
}

// EncodeCorpus packs the lines of c into rows of maxLen tokens for masked-language modelling.
// Each document is visited in order and its lines, tokenized with tok, are packed greedily:
// a row is [CLS], the tokens of as many whole consecutive lines of one document as fit, [SEP],
// then [PAD] up to maxLen. A line that does not fit an empty row (more than maxLen-2 tokens) is
// cut into pieces of maxLen-2 tokens, each a row of its own but the last, which later lines
// may join, so no token is lost; lines with no token are skipped. Rows never span two
// documents. Mask is true on [CLS], the tokens and [SEP]; Segments are all 0; Labels are
// NoLabel; Index holds the row's document number in c (0-based); Truncated is 0. The result is
// deterministic and serves batches through [NewLoader]. maxLen must be at least 3 (ErrRange);
// a corpus with no token returns ErrEmpty.
func EncodeCorpus(c *Corpus, tok *Tokenizer, maxLen int) (*Encoded, error) {
	if c == nil || tok == nil {
		return nil, fmt.Errorf("%w: encode corpus: nil corpus or tokenizer", ErrEmpty)
	}
	if maxLen < 3 {
		return nil, fmt.Errorf("%w: encode %s: max length %d, need at least 3", ErrRange, c.Name, maxLen)
	}
	e := &Encoded{Name: c.Name, SeqLen: maxLen}
	row := make([]int, 0, maxLen)
	flush := func(doc int) {
		row = append(row, SepID)
		n := len(row)
		e.IDs = append(e.IDs, row...)
		for i := 0; i < maxLen; i++ {
			e.Mask = append(e.Mask, i < n)
		}
		for i := n; i < maxLen; i++ {
			e.IDs = append(e.IDs, PadID)
		}
		e.Index = append(e.Index, doc)
		e.N++
		row = row[:0]
	}
	room := maxLen - 2 // tokens per row between [CLS] and [SEP]
	for d, doc := range c.Docs {
		row = append(row[:0], ClsID)
		for _, line := range doc {
			ids := tok.Tokenize(line)
			for len(ids) > 0 {
				free := room - (len(row) - 1)
				if len(ids) <= free {
					row = append(row, ids...)
					break
				}
				if len(row) > 1 { // the line starts a row of its own
					flush(d)
					row = append(row, ClsID)
					continue
				}
				row = append(row, ids[:room]...)
				ids = ids[room:]
				flush(d)
				row = append(row, ClsID)
			}
		}
		if len(row) > 1 {
			flush(d)
		}
	}
	if e.N == 0 {
		return nil, fmt.Errorf("%w: encode %s: no token", ErrEmpty, c.Name)
	}
	e.Segments = make([]int, e.N*maxLen)
	e.Labels = make([]Label, e.N)
	for i := range e.Labels {
		e.Labels[i] = NoLabel
	}
	return e, nil
}
