package importgraph

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/wtacrs/wtacrs/"

// layers lists the module's packages from the bottom up: a package may import only packages of
// a lower layer. Package paths are relative to the module; a trailing "/" matches a subtree.
var layers = [][]string{
	{"internal/atomicfile", "internal/memlimit", "internal/parallel", "internal/gemm", "internal/inputfile", "philox"},
	{"internal/tomlconf", "internal/outdir", "internal/kjv", "internal/wordnet", "internal/safetensors", "matrix"},
	{"internal/npyfile", "estimator"},
	{"linear", "analysis", "data"},
	{"model", "theory", "gpu"},
	{"checkpoint"},
	{"train", "plots"},
	{"experiments"},
	{"sweep"},
	{"notebooks-go/internal/"},
	{"cmd/", "notebooks-go/", "gpu/internal/cuda2go", "internal/importgraph", "testdata/"},
}

// layerOf returns the layer of a module package, or -1 when no layer names it.
func layerOf(pkg string) int {
	for i, l := range layers {
		for _, p := range l {
			if pkg == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(pkg, p)) {
				return i
			}
		}
	}
	return -1
}

func TestImportsPointDown(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"...").Output()
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	seen := 0
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		seen++
		name := strings.TrimPrefix(p.ImportPath, module)
		me := layerOf(name)
		if me < 0 {
			t.Errorf("package %s is in no layer of importgraph_test.go: add it where it belongs", name)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if l := layerOf(dep); l >= me {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down (see the layers in internal/importgraph)", name, me, dep, l)
			}
		}
	}
	require.Greater(t, seen, 20, "go list found the module's packages")
}
