package data

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseTSV(t *testing.T) {
	t.Parallel()
	const hdr = "index\tsentence1\tsentence2\tlabel\n"
	tests := []struct {
		name    string
		in      string
		want    []Example // checked when err is nil
		wantErr error
		msg     string // substring of the error
	}{
		{name: "labelled", in: hdr + "0\tA b.\tC d.\tentailment\n1\tE f.\tG h.\tnot_entailment\n",
			want: []Example{{0, "A b.", "C d.", Entailment, 2}, {1, "E f.", "G h.", NotEntailment, 3}}},
		{name: "crlf and bom", in: "\ufeff" + strings.ReplaceAll(hdr+"7\tA.\tB.\tentailment\n", "\n", "\r\n"),
			want: []Example{{7, "A.", "B.", Entailment, 2}}},
		{name: "unlabelled test split", in: "index\tsentence1\tsentence2\n3\tA.\tB.\n",
			want: []Example{{3, "A.", "B.", NoLabel, 2}}},
		{name: "columns in another order", in: "label\tindex\tsentence2\tsentence1\nentailment\t5\tH.\tP.\n",
			want: []Example{{5, "P.", "H.", Entailment, 2}}},
		{name: "quotes are literal", in: hdr + "0\t\"A\" b.\tc \"d\tentailment\n",
			want: []Example{{0, "\"A\" b.", "c \"d", Entailment, 2}}},
		{name: "trailing blank line", in: hdr + "0\tA.\tB.\tentailment\n\n",
			want: []Example{{0, "A.", "B.", Entailment, 2}}},
		{name: "too few fields", in: hdr + "0\tA.\tB.\tentailment\n1\tA.\tentailment\n", wantErr: ErrFormat, msg: "f.tsv line 3: 3 tab-separated fields"},
		{name: "too many fields", in: hdr + "0\tA.\tB.\tentailment\textra\n", wantErr: ErrFormat, msg: "f.tsv line 2: 5"},
		{name: "bad index", in: hdr + "x\tA.\tB.\tentailment\n", wantErr: ErrFormat, msg: "f.tsv line 2: index \"x\""},
		{name: "duplicate index", in: hdr + "0\tA.\tB.\tentailment\n0\tC.\tD.\tentailment\n", wantErr: ErrFormat, msg: "f.tsv line 3: index 0 already used on line 2"},
		{name: "unknown label", in: hdr + "0\tA.\tB.\tcontradiction\n", wantErr: ErrFormat, msg: "f.tsv line 2: unknown label \"contradiction\""},
		{name: "empty sentence", in: hdr + "0\t \tB.\tentailment\n", wantErr: ErrFormat, msg: "f.tsv line 2: empty sentence"},
		{name: "unknown column", in: "index\tpremise\tsentence2\tlabel\n", wantErr: ErrFormat, msg: "f.tsv line 1: unknown column \"premise\""},
		{name: "missing column", in: "index\tsentence1\tlabel\n", wantErr: ErrFormat, msg: "f.tsv line 1: header lacks column \"sentence2\""},
		{name: "duplicate column", in: "index\tsentence1\tsentence1\tlabel\n", wantErr: ErrFormat, msg: "appears twice"},
		{name: "empty file", in: "", wantErr: ErrEmpty, msg: "no header"},
		{name: "header only", in: hdr, wantErr: ErrEmpty, msg: "no examples"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ds, err := ParseTSV(strings.NewReader(tc.in), "f.tsv")
			if tc.wantErr != nil {
				require.Error(t, err)
				assert.ErrorIs(t, err, tc.wantErr)
				assert.Contains(t, err.Error(), tc.msg)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, ds.Examples)
			assert.Equal(t, tc.want[0].Label != NoLabel, ds.Labelled)
		})
	}
}

// The layout of the real GLUE RTE files: CRLF line ends, quotes inside sentences, a test split
// without the label column.
func TestReadTSVGLUELayout(t *testing.T) {
	t.Parallel()
	tr, err := ReadTSV(filepath.Join("testdata", "glue_train.tsv"))
	require.NoError(t, err)
	require.Equal(t, 3, tr.Len())
	assert.True(t, tr.Labelled)
	assert.Equal(t, [NumLabels]int{2, 1}, tr.LabelCounts())
	assert.Equal(t, "He said \"it is over\" and left.", tr.Examples[2].Sentence1)

	te, err := ReadTSV(filepath.Join("testdata", "glue_test.tsv"))
	require.NoError(t, err)
	assert.False(t, te.Labelled)
	assert.Equal(t, NoLabel, te.Examples[1].Label)
	assert.Equal(t, [NumLabels]int{}, te.LabelCounts())
}

func TestReadTSVMissingFile(t *testing.T) {
	t.Parallel()
	_, err := ReadTSV(filepath.Join(t.TempDir(), "nope.tsv"))
	require.Error(t, err)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "nope.tsv")
}

func TestWriteTSVRoundTrip(t *testing.T) {
	t.Parallel()
	in, err := ReadTSV(filepath.Join("testdata", "glue_train.tsv"))
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "out.tsv")
	require.NoError(t, WriteTSVFile(path, in))
	out, err := ReadTSV(path)
	require.NoError(t, err)
	require.Equal(t, in.Len(), out.Len())
	for i := range in.Examples {
		a, b := in.Examples[i], out.Examples[i]
		assert.Equal(t, [4]any{a.Index, a.Sentence1, a.Sentence2, a.Label}, [4]any{b.Index, b.Sentence1, b.Sentence2, b.Label})
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left behind")
}

func TestWriteTSVRejects(t *testing.T) {
	t.Parallel()
	for _, ex := range []Example{
		{Sentence1: "a\tb", Sentence2: "c", Label: Entailment},
		{Sentence1: "a", Sentence2: "c\nd", Label: Entailment},
		{Sentence1: "a", Sentence2: "c", Label: NoLabel},
	} {
		err := WriteTSV(&bytes.Buffer{}, &Dataset{Name: "x", Labelled: true, Examples: []Example{ex}})
		assert.True(t, errors.Is(err, ErrFormat), "%+v: %v", ex, err)
	}
}

func TestLabelString(t *testing.T) {
	t.Parallel()
	for _, l := range []Label{Entailment, NotEntailment} {
		got, err := ParseLabel(l.String())
		require.NoError(t, err)
		assert.Equal(t, l, got)
	}
	assert.Equal(t, "Label(7)", Label(7).String())
}

// Regression (found by FuzzParseTSV): a carriage return inside a field was accepted, and the
// set could then not be written back.
func TestCarriageReturnInsideSentence(t *testing.T) {
	t.Parallel()
	_, err := ParseTSV(strings.NewReader("index\tsentence1\tsentence2\tlabel\n0\ta\rb\tc\tentailment\n"), "mac.tsv")
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "mac.tsv line 2: a carriage return")
}

// Regression: a line longer than the reader's buffer (an 18 MiB line, or gigabytes of NUL bytes
// after the header) gave the scanner's "token too long".
func TestLineTooLong(t *testing.T) {
	t.Parallel()
	in := "index\tsentence1\tsentence2\tlabel\n" + strings.Repeat("\x00", maxLine+1)
	_, err := ParseTSV(strings.NewReader(in), "big.tsv")
	require.ErrorIs(t, err, ErrFormat)
	assert.ErrorContains(t, err, "big.tsv line 2 is longer than 16 MiB")
}
