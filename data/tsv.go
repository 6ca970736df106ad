package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// Errors returned by the package, always wrapped with context.
var (
	// ErrFormat reports a malformed TSV file, vocabulary file or pair.
	ErrFormat = errors.New("data: malformed input")
	// ErrRange reports an argument out of its documented range.
	ErrRange = errors.New("data: value out of range")
	// ErrEmpty reports an empty data set or vocabulary where one is needed.
	ErrEmpty = errors.New("data: empty input")
)

// Label is the class of an RTE pair.
type Label int

// The RTE classes, with the GLUE label ids (entailment 0, not_entailment 1). NoLabel marks
// examples of an unlabelled (test) split.
const (
	NoLabel       Label = -1
	Entailment    Label = 0
	NotEntailment Label = 1
)

// NumLabels is the number of RTE classes.
const NumLabels = 2

// String returns the GLUE spelling of the label: "entailment", "not_entailment", or "" for
// NoLabel.
func (l Label) String() string {
	switch l {
	case Entailment:
		return "entailment"
	case NotEntailment:
		return "not_entailment"
	case NoLabel:
		return ""
	}
	return "Label(" + strconv.Itoa(int(l)) + ")"
}

// ParseLabel parses the GLUE spelling of a label. Any other string returns an error wrapping
// ErrFormat.
func ParseLabel(s string) (Label, error) {
	switch s {
	case "entailment":
		return Entailment, nil
	case "not_entailment":
		return NotEntailment, nil
	}
	return NoLabel, fmt.Errorf("%w: unknown label %q (want entailment or not_entailment)", ErrFormat, s)
}

// Example is one sentence pair.
type Example struct {
	// Index is the value of the file's index column.
	Index int
	// Sentence1 is the premise.
	Sentence1 string
	// Sentence2 is the hypothesis.
	Sentence2 string
	// Label is the class; NoLabel for an unlabelled split.
	Label Label
	// Line is the 1-based line of the example in its file (0 if not read from a file).
	Line int
}

// Dataset is the examples of one split, in file order.
type Dataset struct {
	// Name is the file name or split name, used in messages.
	Name string
	// Labelled reports whether the file had a label column.
	Labelled bool
	// Examples are the sentence pairs in file order.
	Examples []Example
}

// Len returns the number of examples.
func (d *Dataset) Len() int { return len(d.Examples) }

// LabelCounts returns the number of examples of each label, indexed by Label (NoLabel examples
// are not counted).
func (d *Dataset) LabelCounts() [NumLabels]int {
	var c [NumLabels]int
	for _, e := range d.Examples {
		if e.Label >= 0 && int(e.Label) < NumLabels {
			c[e.Label]++
		}
	}
	return c
}

// Texts returns every sentence of the set, sentence1 then sentence2 of each example in order:
// the input of [TrainTokenizer].
func (d *Dataset) Texts() []string {
	out := make([]string, 0, 2*len(d.Examples))
	for _, e := range d.Examples {
		out = append(out, e.Sentence1, e.Sentence2)
	}
	return out
}

// ReadTSV reads an RTE-format TSV file (see the package documentation). Errors name the file and
// line and wrap ErrFormat; an unreadable file returns the os error wrapped with the path.
func ReadTSV(path string) (*Dataset, error) {
	f, _, err := inputfile.Open(path) // a FIFO is refused, not waited on
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	return ParseTSV(f, path)
}

// maxLine is the longest line ParseTSV accepts.
const maxLine = 16 << 20

// ParseTSV reads an RTE-format TSV stream; name is used in error messages and as Dataset.Name.
// A UTF-8 byte-order mark and CRLF line ends are accepted and blank lines are skipped.
// Columns other than index, sentence1, sentence2 and label are rejected, as are duplicate
// columns, rows with the wrong number of fields, non-integer or duplicate indices, empty
// sentences, carriage returns inside a sentence and unknown labels. A file with a header and
// no rows is an error wrapping ErrEmpty.
func ParseTSV(r io.Reader, name string) (*Dataset, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxLine)
	ds := &Dataset{Name: name}
	col := map[string]int{"index": -1, "sentence1": -1, "sentence2": -1, "label": -1}
	nfields := 0
	seen := map[int]int{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			text = strings.TrimPrefix(text, "\ufeff")
			fields := strings.Split(text, "\t")
			nfields = len(fields)
			for i, f := range fields {
				f = strings.TrimSpace(f)
				j, ok := col[f]
				if !ok {
					return nil, fmt.Errorf("%w: %s line %d: unknown column %q in header (want index, sentence1, sentence2[, label])", ErrFormat, name, line, f)
				}
				if j >= 0 {
					return nil, fmt.Errorf("%w: %s line %d: column %q appears twice in header", ErrFormat, name, line, f)
				}
				col[f] = i
			}
			for _, req := range []string{"index", "sentence1", "sentence2"} {
				if col[req] < 0 {
					return nil, fmt.Errorf("%w: %s line %d: header lacks column %q", ErrFormat, name, line, req)
				}
			}
			ds.Labelled = col["label"] >= 0
			continue
		}
		if text == "" {
			continue // blank lines (a trailing one is common) carry no example
		}
		fields := strings.Split(text, "\t")
		if len(fields) != nfields {
			return nil, fmt.Errorf("%w: %s line %d: %d tab-separated fields, header has %d", ErrFormat, name, line, len(fields), nfields)
		}
		idx, err := strconv.Atoi(strings.TrimSpace(fields[col["index"]]))
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: index %q is not an integer", ErrFormat, name, line, fields[col["index"]])
		}
		if prev, dup := seen[idx]; dup {
			return nil, fmt.Errorf("%w: %s line %d: index %d already used on line %d", ErrFormat, name, line, idx, prev)
		}
		seen[idx] = line
		ex := Example{Index: idx, Sentence1: strings.TrimSpace(fields[col["sentence1"]]),
			Sentence2: strings.TrimSpace(fields[col["sentence2"]]), Label: NoLabel, Line: line}
		if ex.Sentence1 == "" || ex.Sentence2 == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty sentence", ErrFormat, name, line)
		}
		if strings.ContainsRune(ex.Sentence1, '\r') || strings.ContainsRune(ex.Sentence2, '\r') {
			return nil, fmt.Errorf("%w: %s line %d: a carriage return inside a sentence (a file with old Mac line ends? convert them to \\n)", ErrFormat, name, line)
		}
		if ds.Labelled {
			l, err := ParseLabel(strings.TrimSpace(fields[col["label"]]))
			if err != nil {
				return nil, fmt.Errorf("%w: %s line %d: unknown label %q (want entailment or not_entailment)", ErrFormat, name, line, strings.TrimSpace(fields[col["label"]]))
			}
			ex.Label = l
		}
		ds.Examples = append(ds.Examples, ex)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s line %d is longer than %d MiB, the longest line this reader accepts (is it a TSV file?)", ErrFormat, name, line+1, maxLine>>20)
		}
		return nil, fmt.Errorf("%w: %s line %d: %v", ErrFormat, name, line+1, err)
	}
	if line == 0 {
		return nil, fmt.Errorf("%w: %s: no header line", ErrEmpty, name)
	}
	if len(ds.Examples) == 0 {
		return nil, fmt.Errorf("%w: %s: header but no examples", ErrEmpty, name)
	}
	return ds, nil
}

// WriteTSV writes d in the GLUE RTE layout (with a label column when d.Labelled). It returns an
// error wrapping ErrFormat if a sentence contains a tab or a line break, which the layout cannot
// represent, or if a labelled set has an example without a label.
func WriteTSV(w io.Writer, d *Dataset) error {
	bw := bufio.NewWriter(w)
	if d.Labelled {
		bw.WriteString("index\tsentence1\tsentence2\tlabel\n")
	} else {
		bw.WriteString("index\tsentence1\tsentence2\n")
	}
	for i, e := range d.Examples {
		for _, s := range []string{e.Sentence1, e.Sentence2} {
			if strings.ContainsAny(s, "\t\r\n") || strings.TrimSpace(s) == "" {
				return fmt.Errorf("%w: %s: example %d: sentence empty or containing a tab or line break", ErrFormat, d.Name, i)
			}
		}
		bw.WriteString(strconv.Itoa(e.Index))
		bw.WriteByte('\t')
		bw.WriteString(e.Sentence1)
		bw.WriteByte('\t')
		bw.WriteString(e.Sentence2)
		if d.Labelled {
			if e.Label != Entailment && e.Label != NotEntailment {
				return fmt.Errorf("%w: %s: example %d has no label", ErrFormat, d.Name, i)
			}
			bw.WriteByte('\t')
			bw.WriteString(e.Label.String())
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteTSVFile writes d to path atomically: into a temporary file of the same directory, then
// renamed over path.
func WriteTSVFile(path string, d *Dataset) error {
	return writeAtomic(path, func(w io.Writer) error { return WriteTSV(w, d) })
}

// writeAtomic writes through fn into a temporary file next to path and renames it into place.
func writeAtomic(path string, fn func(io.Writer) error) error {
	if err := atomicfile.Write(path, fn); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
