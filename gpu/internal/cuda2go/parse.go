package main

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/parser"
	"go/printer"
	"go/token"
	"regexp"
	"strings"
	"unicode"
)

// macroPrefix starts the names of the header's constants shared with Go.
const macroPrefix = "WTACRS_"

// kernelPrefix starts the names of the kernels.
const kernelPrefix = "wtacrs_"

// define is one "#define WTACRS_<NAME> <expr>" of the header.
type define struct {
	cName  string         // WTACRS_RANK_TILE
	goName string         // rankTile
	expr   string         // the expression in Go, with Go names: (rankThreads * rankPerThread)
	value  constant.Value // its value
	doc    []string       // the comment lines just above, without "//"
	note   string         // the comment on the line, without "//"
}

var defineRE = regexp.MustCompile(`^\s*#\s*define\s+(\w+)\s+(.*?)\s*$`)

// parseDefines returns the WTACRS_ constants of a header, in order.
func parseDefines(file, src string) ([]define, error) {
	var out []define
	known := map[string]define{}
	var doc []string
	for n, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if c, ok := strings.CutPrefix(trimmed, "//"); ok {
			doc = append(doc, strings.TrimSpace(c))
			continue
		}
		m := defineRE.FindStringSubmatch(line)
		if m == nil || !strings.HasPrefix(m[1], macroPrefix) {
			doc = nil
			continue
		}
		at := fmt.Sprintf("%s:%d", file, n+1)
		body, note, _ := strings.Cut(m[2], "//")
		d := define{cName: m[1], doc: doc, note: strings.TrimSpace(note)}
		doc = nil
		var err error
		if d.goName, err = goConstName(d.cName); err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		if _, dup := known[d.cName]; dup {
			return nil, fmt.Errorf("%s: %s defined twice", at, d.cName)
		}
		if d.expr, d.value, err = translate(body, known); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", at, d.cName, err)
		}
		known[d.cName] = d
		out = append(out, d)
	}
	return out, nil
}

// goConstName turns WTACRS_RANK_TILE into rankTile.
func goConstName(cName string) (string, error) {
	rest := strings.TrimPrefix(cName, macroPrefix)
	var b strings.Builder
	for i, word := range strings.Split(rest, "_") {
		if word == "" || strings.IndexFunc(word, func(r rune) bool { return !unicode.IsUpper(r) && !unicode.IsDigit(r) }) >= 0 {
			return "", fmt.Errorf("name %s: want %s followed by upper-case words joined by _", cName, macroPrefix)
		}
		word = strings.ToLower(word)
		if i > 0 {
			word = strings.ToUpper(word[:1]) + word[1:]
		}
		b.WriteString(word)
	}
	name := b.String()
	if !unicode.IsLetter(rune(name[0])) || token.IsKeyword(name) {
		return "", fmt.Errorf("name %s gives the Go name %q", cName, name)
	}
	return name, nil
}

// translate parses a C integer constant expression over integer literals and earlier WTACRS_
// names and returns it with Go names, with its value.
func translate(expr string, known map[string]define) (string, constant.Value, error) {
	e, err := parser.ParseExpr(expr)
	if err != nil {
		return "", nil, fmt.Errorf("expression %q: %v", expr, err)
	}
	var eval func(ast.Expr) (constant.Value, error)
	eval = func(x ast.Expr) (constant.Value, error) {
		switch x := x.(type) {
		case *ast.BasicLit:
			if x.Kind != token.INT || strings.ContainsAny(x.Value, "_oObBxX") || (len(x.Value) > 1 && x.Value[0] == '0') {
				return nil, fmt.Errorf("%s: only decimal integer literals", x.Value)
			}
			return constant.MakeFromLiteral(x.Value, token.INT, 0), nil
		case *ast.Ident:
			d, ok := known[x.Name]
			if !ok {
				return nil, fmt.Errorf("%s is not an earlier %s constant", x.Name, macroPrefix)
			}
			x.Name = d.goName
			return d.value, nil
		case *ast.ParenExpr:
			return eval(x.X)
		case *ast.UnaryExpr:
			if x.Op != token.SUB && x.Op != token.ADD {
				return nil, fmt.Errorf("operator %s not allowed", x.Op)
			}
			v, err := eval(x.X)
			if err != nil {
				return nil, err
			}
			return constant.UnaryOp(x.Op, v, 0), nil
		case *ast.BinaryExpr:
			a, err := eval(x.X)
			if err != nil {
				return nil, err
			}
			b, err := eval(x.Y)
			if err != nil {
				return nil, err
			}
			switch x.Op {
			case token.ADD, token.SUB, token.MUL:
				return constant.BinaryOp(a, x.Op, b), nil
			case token.QUO:
				if constant.Sign(b) == 0 {
					return nil, fmt.Errorf("division by zero")
				}
				return constant.BinaryOp(a, token.QUO_ASSIGN, b), nil // integer division
			}
			return nil, fmt.Errorf("operator %s not allowed", x.Op)
		}
		return nil, fmt.Errorf("%T not allowed in %q", x, expr)
	}
	v, err := eval(e)
	if err != nil {
		return "", nil, err
	}
	if _, ok := constant.Int64Val(v); !ok {
		return "", nil, fmt.Errorf("value %v out of range", v)
	}
	var b strings.Builder
	if err := printer.Fprint(&b, token.NewFileSet(), e); err != nil {
		return "", nil, err
	}
	return b.String(), v, nil
}

// paramKind is how a kernel parameter travels: a device pointer or an 8-byte scalar.
type paramKind int

const (
	kindPtr paramKind = iota
	kindInt64
	kindUint64
	kindFloat64
)

// kernelParam is one parameter of a kernel.
type kernelParam struct {
	name  string    // the C name, also the Go name
	ctype string    // the C type as written, without __restrict__: "const double *"
	kind  paramKind // pointer or scalar
	goTyp string    // the Go type of the wrapper's argument: dptr[float64], int64, ...
}

// kernel is one __global__ function of a .cu file.
type kernel struct {
	name   string // wtacrs_norms
	file   string // norms (gpu/kernels/norms.cu)
	goName string // Norms
	block  string // the block size in Go: normsThreads
	params []kernelParam
}

var (
	kernelRE = regexp.MustCompile(`extern\s+"C"\s+__global__\s+void\s+__launch_bounds__\s*\(([^)]*)\)\s*(\w+)\s*\(([^)]*)\)`)
	globalRE = regexp.MustCompile(`\b__global__\b`)
	// The C element types of pointer parameters and their Go types.
	pointerTypes = map[string]string{
		"float": "float32", "double": "float64", "int": "int32", "unsigned int": "uint32",
		"long long": "int64", "unsigned long long": "uint64",
	}
	// The 8-byte C scalar types and their kinds.
	scalarTypes = map[string]paramKind{"long long": kindInt64, "unsigned long long": kindUint64, "double": kindFloat64}
	// Names the wrappers use themselves.
	reservedNames = map[string]bool{"ks": true, "grid": true, "args": true, "math": true, "uint64": true}
)

// stripComments removes // and /* */ comments (the kernels have no string literal holding them
// besides "C").
func stripComments(src string) string {
	var b strings.Builder
	for len(src) > 0 {
		switch {
		case strings.HasPrefix(src, "//"):
			if i := strings.IndexByte(src, '\n'); i >= 0 {
				src = src[i:]
			} else {
				src = ""
			}
		case strings.HasPrefix(src, "/*"):
			if i := strings.Index(src[2:], "*/"); i >= 0 {
				b.WriteByte(' ')
				src = src[i+4:]
			} else {
				src = ""
			}
		default:
			b.WriteByte(src[0])
			src = src[1:]
		}
	}
	return b.String()
}

// parseKernels returns the kernels of one .cu file; file is its name without ".cu".
func parseKernels(file, src string, consts map[string]define) ([]kernel, error) {
	src = stripComments(src)
	matches := kernelRE.FindAllStringSubmatch(src, -1)
	if n := len(globalRE.FindAllString(src, -1)); n != len(matches) {
		return nil, fmt.Errorf("%s.cu: %d __global__ functions, %d of the form extern \"C\" __global__ void __launch_bounds__(N) %sNAME(...)", file, n, len(matches), kernelPrefix)
	}
	var out []kernel
	for _, m := range matches {
		k := kernel{name: m[2], file: file}
		rest, ok := strings.CutPrefix(k.name, kernelPrefix)
		if !ok || rest == "" || strings.ContainsAny(rest, "_") {
			return nil, fmt.Errorf("%s.cu: kernel %s: want the name %s<lowercase letters>", file, k.name, kernelPrefix)
		}
		k.goName = strings.ToUpper(rest[:1]) + rest[1:]
		bounds := strings.TrimSpace(m[1])
		if strings.Contains(bounds, ",") {
			return nil, fmt.Errorf("%s.cu: kernel %s: __launch_bounds__ with a minimum block count is not supported", file, k.name)
		}
		var err error
		if k.block, _, err = translate(bounds, consts); err != nil {
			return nil, fmt.Errorf("%s.cu: kernel %s: __launch_bounds__: %w", file, k.name, err)
		}
		seen := map[string]bool{}
		for _, p := range strings.Split(m[3], ",") {
			kp, err := parseParam(p)
			if err != nil {
				return nil, fmt.Errorf("%s.cu: kernel %s: %w", file, k.name, err)
			}
			if seen[kp.name] {
				return nil, fmt.Errorf("%s.cu: kernel %s: parameter %s twice", file, k.name, kp.name)
			}
			seen[kp.name] = true
			k.params = append(k.params, kp)
		}
		out = append(out, k)
	}
	return out, nil
}

// parseParam parses one C parameter declaration.
func parseParam(decl string) (kernelParam, error) {
	d := strings.Join(strings.Fields(strings.ReplaceAll(decl, "__restrict__", " ")), " ")
	stars := strings.Count(d, "*")
	words := strings.Fields(strings.ReplaceAll(d, "*", " "))
	if len(words) < 2 {
		return kernelParam{}, fmt.Errorf("parameter %q: want a type and a name", strings.TrimSpace(decl))
	}
	p := kernelParam{name: words[len(words)-1]}
	var typ []string
	isConst := false
	for _, w := range words[:len(words)-1] {
		if w == "const" {
			isConst = true
			continue
		}
		typ = append(typ, w)
	}
	base := strings.Join(typ, " ")
	if !token.IsIdentifier(p.name) || reservedNames[p.name] || isPredeclared(p.name) {
		return kernelParam{}, fmt.Errorf("parameter %q: its name %s cannot be a Go parameter of the wrapper", d, p.name)
	}
	switch stars {
	case 1:
		elem, ok := pointerTypes[base]
		if !ok {
			return kernelParam{}, fmt.Errorf("parameter %q: pointer to %q (want float, double, int, unsigned int, long long or unsigned long long)", d, base)
		}
		p.kind, p.goTyp = kindPtr, "dptr["+elem+"]"
		p.ctype = base + " *"
		if isConst {
			p.ctype = "const " + p.ctype
		}
	case 0:
		kind, ok := scalarTypes[base]
		if !ok {
			return kernelParam{}, fmt.Errorf("parameter %q: scalar of type %q: gorgonia.org/cu copies 8 bytes per argument, so scalars must be long long, unsigned long long or double", d, base)
		}
		p.kind, p.ctype = kind, base
		p.goTyp = map[paramKind]string{kindInt64: "int64", kindUint64: "uint64", kindFloat64: "float64"}[kind]
	default:
		return kernelParam{}, fmt.Errorf("parameter %q: pointer to pointer", d)
	}
	return p, nil
}

// isPredeclared reports Go's predeclared identifiers, which a parameter must not shadow.
func isPredeclared(name string) bool {
	switch name {
	case "bool", "byte", "complex64", "complex128", "error", "float32", "float64", "int", "int8",
		"int16", "int32", "int64", "rune", "string", "uint", "uint8", "uint16", "uint32", "uint64",
		"uintptr", "any", "comparable", "true", "false", "iota", "nil", "append", "cap", "clear",
		"close", "complex", "copy", "delete", "imag", "len", "make", "max", "min", "new", "panic",
		"print", "println", "real", "recover":
		return true
	}
	return false
}
