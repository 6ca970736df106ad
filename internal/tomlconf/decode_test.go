package tomlconf

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var errTest = errors.New("test: invalid configuration")

type testLayer struct {
	Method string  `toml:"method"`
	Ratio  float64 `toml:"ratio"`
}

// FillDefaults gives a "wtacrs" layer without a ratio the ratio 0.3.
func (l *testLayer) FillDefaults(given func(string) bool) {
	if l.Method == "wtacrs" && !given("ratio") {
		l.Ratio = 0.3
	}
}

type testVariant struct {
	Name  string   `toml:"name"`
	Ratio float64  `toml:"ratio"`
	Kinds []string `toml:"kinds"`
}

type testConfig struct {
	Dim     int                  `toml:"dim"`
	Small   int8                 `toml:"small"`
	Seed    uint64               `toml:"seed"`
	Byte    uint8                `toml:"byte"`
	Rate    float64              `toml:"rate"`
	Narrow  float32              `toml:"narrow"`
	On      bool                 `toml:"on"`
	Name    string               `toml:"name"`
	Budgets []float64            `toml:"budgets"`
	Layers  map[string]testLayer `toml:"layers"`
	Table   struct {
		Inner string `toml:"inner"`
	} `toml:"table"`
	Variants []testVariant `toml:"variant"`
	Ptr      *int          `toml:"ptr"`
	Untagged int
	Skipped  int `toml:"-"`
}

func testDefaults() testConfig {
	return testConfig{Dim: 128, Seed: 1, Rate: 5e-4, On: true, Budgets: []float64{0.1, 0.5},
		Layers: map[string]testLayer{"q": {Method: "exact", Ratio: 0.5}}}
}

func TestDecodeKeepsDefaultsAndReplacesWhatIsGiven(t *testing.T) {
	t.Parallel()
	c := testDefaults()
	m, err := Decode(`dim = 64
rate = 1
budgets = [0.25]
ptr = 7
Untagged = 3
[layers]
q = {ratio = 0.75}
k = {method = "wtacrs"}
v = {method = "wtacrs", ratio = 0.5}
[table]
inner = "x"
[[variant]]
name = "a"
[[variant]]
name = "b"
kinds = ["q"]
`, "c.toml", &c, errTest)
	require.NoError(t, err)
	want := testDefaults()
	want.Dim, want.Rate, want.Budgets, want.Untagged = 64, 1, []float64{0.25}, 3
	want.Layers = map[string]testLayer{"q": {"exact", 0.75}, "k": {"wtacrs", 0.3}, "v": {"wtacrs", 0.5}}
	want.Table.Inner = "x"
	want.Variants = []testVariant{{Name: "a"}, {Name: "b", Kinds: []string{"q"}}}
	seven := 7
	want.Ptr = &seven
	assert.Equal(t, want, c)
	assert.True(t, m.Given("variant[1].kinds"))
	assert.True(t, m.Given("layers.k"))
	assert.False(t, m.Given("layers.k.ratio"))
	assert.False(t, m.Given("seed"))
	assert.Equal(t, 14, m.Index.Line("variant[1]"))
}

// Every problem names the key (with array indices) and its line.
func TestDecodeErrorsNameKeyAndLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       string
	}{
		{"unknown key", "dim = 1\ndimm = 2\n", "c.toml line 2: unknown key dimm, want one of dim, small, seed,"},
		{"case differs", "\nDim = 2\n", "c.toml line 2: unknown key Dim,"},
		{"skipped field", "Skipped = 2\n", "c.toml line 1: unknown key Skipped,"},
		{"unknown in table", "[table]\n\nother = 1\n", "c.toml line 3: unknown key table.other, want one of inner"},
		{"unknown in variant", "[[variant]]\nname = \"a\"\n[[variant]]\nname = \"b\"\nratoi = 1.0\n", "c.toml line 5: unknown key variant[1].ratoi,"},
		{"unknown in inline table", "[layers]\nq = {method = \"exact\", ration = 0.3}\n", "c.toml line 2: unknown key layers.q.ration, want one of method, ratio"},
		{"negative unsigned", "seed = -1\n", "c.toml line 1: seed = -1, want an integer ≥ 0"},
		{"unsigned out of range", "byte = 256\n", "c.toml line 1: byte = 256, want an integer in [0, 255]"},
		{"signed out of range", "small = -129\n", "c.toml line 1: small = -129, want an integer in [-128, 127]"},
		{"integer too large for TOML", "seed = 18446744073709551615\n", "c.toml line 1: 18446744073709551615 is out of range for int64 (at key seed)"},
		{"float for integer", "dim = 1.5\n", "c.toml line 1: dim = 1.5, want an integer"},
		{"string for integer", "dim = \"ten\"\n", `c.toml line 1: dim = "ten", want an integer`},
		{"integer for string", "name = 3\n", "c.toml line 1: name = 3, want a string"},
		{"string for bool", "on = \"yes\"\n", `c.toml line 1: on = "yes", want true or false`},
		{"inexact float", "rate = 9007199254740993\n", "c.toml line 1: rate = 9007199254740993, want a float"},
		{"float32 range", "narrow = 1e300\n", "c.toml line 1: narrow = 1e+300, want a float within the range of float32"},
		{"element type", "budgets = [\n  0.1,\n  \"half\",\n]\n", `c.toml line 3: budgets[1] = "half", want a float`},
		{"array for table", "table = [1]\n", "c.toml line 1: table = […], want a table"},
		{"table for array", "[budgets]\n", "c.toml line 1: budgets = {}, want an array"},
		{"second variant", "[[variant]]\nname = \"a\"\n\n[[variant]]\nname = 2\n", "c.toml line 5: variant[1].name = 2, want a string"},
		{"inline variant", "variant = [{name = \"a\"},\n  {name = false}]\n", "c.toml line 2: variant[1].name = false, want a string"},
		{"date-time", "name = 1979-05-27T07:32:00Z\n", "c.toml line 1: name = 1979-05-27T07:32:00Z, want a string"},
		{"malformed", "dim = 1\nheads = = 4\n", "c.toml line 2: "},
		{"duplicate", "dim = 1\ndim = 2\n", "c.toml line 2: Key 'dim' has already been defined. (at key dim)"},
		{"too deep", "budgets = " + strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1) + "\n", "c.toml line 1: arrays or inline tables nested too deeply budgets, want at most 64 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := testDefaults()
			_, err := Decode(tc.text, "c.toml", &c, errTest)
			require.ErrorIs(t, err, errTest)
			assert.ErrorContains(t, err, tc.want)
			fields := Fields(err)
			require.NotEmpty(t, fields)
			assert.Positive(t, fields[0].Line)
		})
	}
}

func TestDecodeReportsEveryUnknownKeyInLineOrder(t *testing.T) {
	t.Parallel()
	c := testDefaults()
	_, err := Decode("zz = 1\n[table]\nyy = 2\n[[variant]]\nxx = 3\n", "c.toml", &c, errTest)
	var es Errors
	require.ErrorAs(t, err, &es)
	require.Len(t, es, 3)
	for i, key := range []string{"zz", "table.yy", "variant[0].xx"} {
		assert.Equal(t, key, es[i].Key)
		assert.Equal(t, 2*i+1, es[i].Line)
	}
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "zz", fe.Key)
}

func TestDecodeRefusesTooLargeText(t *testing.T) {
	t.Parallel()
	c := testDefaults()
	_, err := Decode(strings.Repeat("#", MaxSize+1), "big.toml", &c, errTest)
	require.ErrorIs(t, err, errTest)
	assert.ErrorContains(t, err, "big.toml: text of 1048577 bytes, want at most 1 MiB")
}

func TestDecodePanicsOnUnsupportedDestination(t *testing.T) {
	t.Parallel()
	var notStruct map[string]any
	assert.Panics(t, func() { _, _ = Decode("a = 1\n", "c.toml", &notStruct, errTest) })
	var c struct {
		C complex128 `toml:"c"`
	}
	assert.Panics(t, func() { _, _ = Decode("c = 1\n", "c.toml", &c, errTest) })
}

func TestDecodeKeepsRawValuesInAnEmptyInterface(t *testing.T) {
	t.Parallel()
	var c struct {
		Key    string `toml:"key"`
		Values any    `toml:"values"`
		Table  any    `toml:"table"`
		Str    fmt.Stringer
	}
	m, err := Decode("key = \"k\"\nvalues = [1, 0.5, \"s\", {a = true}]\n[table]\nx = [[1]]\n", "c.toml", &c, errTest)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), 0.5, "s", map[string]any{"a": true}}, c.Values)
	assert.Equal(t, map[string]any{"x": []any{[]any{int64(1)}}}, c.Table)
	assert.True(t, m.Given("values"))
	_, err = Decode("nope = 1\n", "c.toml", &c, errTest)
	assert.ErrorContains(t, err, "c.toml line 1: unknown key nope")
	assert.Panics(t, func() { _, _ = Decode("Str = 1\n", "c.toml", &c, errTest) })
}

func TestLocate(t *testing.T) {
	t.Parallel()
	text := "[data]\ntrain_path = \"a.tsv\"\n\n[[variant]]\nname = \"a\"\n[[variant]]\nratio = 0.5\n"
	var c struct {
		Data struct {
			TrainPath string `toml:"train_path"`
			DevPath   string `toml:"dev_path"`
		} `toml:"data"`
		Variants []testVariant `toml:"variant"`
		Dim      int           `toml:"dim"`
	}
	m, err := Decode(text, "c.toml", &c, errTest)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		fe   FieldError
		want string
	}{
		{"given key", FieldError{Key: "variant[1].ratio", Value: "0.5", Want: "in (0, 0.4]"},
			"c.toml line 7: variant[1].ratio = 0.5, want in (0, 0.4]"},
		{"missing key: its related key", FieldError{Key: "data.dev_path", Problem: "missing key", Want: "it set with data.train_path", Related: []string{"data.train_path"}},
			"c.toml line 2: missing key data.dev_path, want it set with data.train_path"},
		{"missing name: the element's header", FieldError{Key: "variant[1].name", Value: `""`, Want: "a name"},
			`c.toml line 6: variant[1].name = "", want a name`},
		{"default value: no line", FieldError{Key: "dim", Value: "0", Want: "≥ 1"},
			"c.toml: dim = 0, want ≥ 1"},
		{"line already known", FieldError{Key: "dim", Line: 3, Value: "0", Want: "≥ 1"},
			"c.toml line 3: dim = 0, want ≥ 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fe := tc.fe
			fe.Err = errTest
			err := m.Locate(&fe)
			assert.EqualError(t, err, tc.want)
			assert.ErrorIs(t, err, errTest)
		})
	}
}

func TestPrefix(t *testing.T) {
	t.Parallel()
	outer := errors.New("outer: invalid configuration")
	err := Prefix(&FieldError{Key: "layers.q.ratio", Value: "2", Want: "in (0, 1]", Related: []string{"dim"}, Err: errTest}, "train", outer)
	require.ErrorIs(t, err, outer)
	require.ErrorIs(t, err, errTest)
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "train.layers.q.ratio", fe.Key)
	assert.Equal(t, []string{"train.dim"}, fe.Related)
	assert.EqualError(t, err, "train.layers.q.ratio = 2, want in (0, 1]")

	two := Prefix(Errors{{Key: "a", Err: errTest}, {Key: "b", Err: errTest}}, "t", outer)
	assert.Len(t, Fields(two), 2)
	assert.ErrorIs(t, two, outer)

	plain := Prefix(errors.New("disk on fire"), "t", outer)
	assert.ErrorIs(t, plain, outer)
	assert.EqualError(t, plain, "outer: invalid configuration: disk on fire")
	assert.NoError(t, Prefix(nil, "t", outer))
}

func TestFieldErrorMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fe   FieldError
		want string
	}{
		{FieldError{File: "config.toml", Line: 12, Key: "compare.variant[1].ratio", Value: "2", Want: "in (0, 1]"},
			"config.toml line 12: compare.variant[1].ratio = 2, want in (0, 1]"},
		{FieldError{Key: "seed", Value: "-1", Want: "an integer ≥ 0"}, "seed = -1, want an integer ≥ 0"},
		{FieldError{Line: 3, Key: "x", Problem: "unknown key"}, "line 3: unknown key x"},
		{FieldError{File: "c.toml", Line: 2, Problem: "expected value", Syntax: true}, "c.toml line 2: expected value"},
		{FieldError{File: "c.toml", Line: 2, Key: "a.b", Problem: "expected value", Syntax: true}, "c.toml line 2: expected value (at key a.b)"},
		{FieldError{File: "c.toml", Problem: "file larger than 1 MiB"}, "c.toml: file larger than 1 MiB"},
	} {
		assert.Equal(t, tc.want, tc.fe.Error())
	}
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		v    any
		want string
	}{
		{"a \"b\"", `"a \"b\""`}, {0.1, "0.1"}, {1e21, "1e+21"}, {math.NaN(), "nan"}, {math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"}, {-3, "-3"}, {true, "true"}, {[]float64{}, "[]"}, {[]float64{0.5, 1}, "[0.5 1]"},
		{[]string(nil), "[]"},
	} {
		assert.Equal(t, tc.want, Format(tc.v), "%#v", tc.v)
	}
}

func TestJoinElemAndParentKey(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a", Join("", "a"))
	assert.Equal(t, `t."a b"`, Join("t", "a b"))
	assert.Equal(t, `t."x.y"`, Join("t", "x.y"))
	assert.Equal(t, `t.""`, Join("t", ""))
	assert.Equal(t, "v[2]", Elem("v", 2))
	for key, parent := range map[string]string{
		"a": "", "a.b": "a", "v[1].name": "v[1]", "v[1]": "v", `t."x.y"`: "t", `t."a[1]".b`: `t."a[1]"`,
		`"q\"." .x`: `"q\"." `, "a[0][1]": "a[0]",
	} {
		assert.Equal(t, parent, parentKey(key), key)
	}
}

func TestIndexLines(t *testing.T) {
	t.Parallel()
	text := strings.Join([]string{
		"a = 1 # b = 2",             // 1
		`s = "c = 3 # [t]"`,         // 2
		`m = """`,                   // 3
		"d = 4",                     // 4
		`[fake]"""`,                 // 5
		"x = [",                     // 6
		"  1, # y = 2",              // 7
		"  {y = 2, z.w = 3},",       // 8
		"]",                         // 9
		`"quoted key" = 1`,          // 10
		"[t] # [u]",                 // 11
		"q = {method = \"wtacrs\"}", // 12
		"[[v]]",                     // 13
		"name = 'a'",                // 14
		"[[v]]",                     // 15
		"[[v.sub]]",                 // 16
		"[v.tab]",                   // 17
		"r.s = 1",                   // 18
		"[[v]]",                     // 19
		"[[v.sub]]",                 // 20
		`e = '''`,                   // 21
		`''''`,                      // 22
		"after = 1",                 // 23
	}, "\n") + "\n"
	var tree map[string]any
	_, err := toml.Decode(text, &tree)
	require.NoError(t, err)
	ix := NewIndex(text)
	for key, line := range map[string]int{
		"a": 1, "s": 2, "m": 3, "x": 6, "x[0]": 7, "x[1]": 8, "x[1].y": 8, "x[1].z.w": 8,
		`"quoted key"`: 10, "t": 11, "t.q": 12, "t.q.method": 12, "v": 13, "v[0]": 13,
		"v[0].name": 14, "v[1]": 15, "v[1].sub": 16, "v[1].sub[0]": 16, "v[1].tab": 17,
		"v[1].tab.r": 18, "v[1].tab.r.s": 18, "v[2]": 19, "v[2].sub[0]": 20, "v[2].sub[0].e": 21,
		"v[2].sub[0].after": 23,
		"b":                 0, "c": 0, "d": 0, "fake": 0, "y": 0, "u": 0, "v[1].sub[1]": 0,
	} {
		assert.Equal(t, line, ix.Line(key), key)
	}
	assert.Equal(t, 2, ix.Depth())
	assert.Equal(t, 18, ix.Locate("v[1].tab.r.missing"))
	assert.Equal(t, 0, ix.Locate("missing"))
}

func ExampleDecode() {
	type layer struct {
		Method string  `toml:"method"`
		Ratio  float64 `toml:"ratio"`
	}
	var cfg struct {
		Epochs uint64           `toml:"epochs"`
		Layers map[string]layer `toml:"layers"`
	}
	_, err := Decode("epochs = 3\n\n[layers]\nq = {method = \"wtacrs\", ratoi = 0.3}\n", "config.toml", &cfg, errTest)
	fmt.Println(err)
	_, err = Decode("epochs = -1\n", "config.toml", &cfg, errTest)
	fmt.Println(err, errors.Is(err, errTest))
	// Output:
	// config.toml line 4: unknown key layers.q.ratoi, want one of method, ratio
	// config.toml line 1: epochs = -1, want an integer ≥ 0 true
}

// The floats a decoded text holds are exactly the parser's.
func TestDecodeFloatsExactly(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"1e-8", "5e-4", "0.1", "0.0005", "1e-08", "5e-324", "1.7976931348623157e308", "-0.0", "9007199254740992"} {
		var c struct {
			F float64 `toml:"f"`
		}
		_, err := Decode("f = "+text+"\n", "f.toml", &c, errTest)
		require.NoError(t, err, text)
		var want float64
		_, err = fmt.Sscan(text, &want)
		require.NoError(t, err)
		assert.Equal(t, math.Float64bits(want), math.Float64bits(c.F), text)
	}
}

func TestDecodeListsAtMostTwentyErrors(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, "k%02d = 1\n", i)
	}
	c := testDefaults()
	_, err := Decode(b.String(), "c.toml", &c, errTest)
	es := Fields(err)
	require.Len(t, es, 21)
	assert.Equal(t, "k19", es[19].Key)
	assert.Equal(t, "c.toml line 21: and 5 more, the first at k20", es[20].Error())
	assert.ErrorIs(t, es[20], errTest)
}

func TestDecodeListsTheKeysOfAnUnknownTable(t *testing.T) {
	t.Parallel()
	c := testDefaults()
	_, err := Decode("[plots]\nx = 1\n[plots.sub]\ny = 2\n[[extra]]\nz = 3\n", "c.toml", &c, errTest)
	var keys []string
	for _, fe := range Fields(err) {
		keys = append(keys, fmt.Sprintf("%d %s", fe.Line, fe.Key))
	}
	assert.Equal(t, []string{"1 plots", "2 plots.x", "3 plots.sub", "4 plots.sub.y", "5 extra", "6 extra[0].z"}, keys)
}

// TestSyntaxErrorLine checks that a syntax error whose offending byte is a line break is
// reported on the line that byte ends, not the next.
func TestSyntaxErrorLine(t *testing.T) {
	type cfg struct {
		Dim int `toml:"dim"`
	}
	for _, tc := range []struct {
		text string
		line int
	}{
		{"[train\ndim = 16\n", 1},
		{"dim = 1\n\n[layers\nx = 2\n", 3},
		{"dim = \n", 1},
	} {
		var c cfg
		_, err := Decode(tc.text, "c.toml", &c, errTest)
		var fe *FieldError
		require.ErrorAs(t, err, &fe, tc.text)
		assert.Equal(t, tc.line, fe.Line, tc.text)
	}
}
