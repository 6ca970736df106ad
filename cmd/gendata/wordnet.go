package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// pos is a WordNet part of speech: 'n', 'v' or 'a' (adjective, satellites included).
type pos byte

// pointer is one relation of a synset. src and tgt are the 1-based word numbers of a lexical
// relation (antonymy), both 0 for a semantic relation.
type pointer struct {
	sym      string
	off      int
	pos      pos
	src, tgt int
}

type synset struct {
	words []string // lemmas as WordNet spells them, '_' between the words of a compound
	ptrs  []pointer
}

// wordNet is the part of the WordNet 3.0 database the generator uses: synsets, the sense-ordered
// index of each lemma and the exception lists of irregular inflections.
type wordNet struct {
	synsets map[pos]map[int]*synset
	index   map[pos]map[string][]int
	exc     map[pos]map[string]string
}

var posFiles = map[pos]string{'n': "noun", 'v': "verb", 'a': "adj"}

// loadWordNet reads data.{noun,verb,adj}, index.* and *.exc from dir (the Debian wordnet-base
// layout, /usr/share/wordnet).
func loadWordNet(dir string) (*wordNet, error) {
	wn := &wordNet{synsets: map[pos]map[int]*synset{}, index: map[pos]map[string][]int{}, exc: map[pos]map[string]string{}}
	for _, p := range []pos{'n', 'v', 'a'} {
		name := posFiles[p]
		ss, err := readData(filepath.Join(dir, "data."+name))
		if err != nil {
			return nil, err
		}
		wn.synsets[p] = ss
		idx, err := readIndex(filepath.Join(dir, "index."+name))
		if err != nil {
			return nil, err
		}
		wn.index[p] = idx
		exc, err := readExc(filepath.Join(dir, name+".exc"))
		if err != nil {
			return nil, err
		}
		wn.exc[p] = exc
	}
	return wn, nil
}

func eachLine(path string, fn func(line string, n int) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("gendata: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "  ") || line == "" { // licence header
			continue
		}
		if err := fn(line, n); err != nil {
			return fmt.Errorf("gendata: %s:%d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("gendata: %s: %w", path, err)
	}
	return nil
}

func readData(path string) (map[int]*synset, error) {
	out := map[int]*synset{}
	err := eachLine(path, func(line string, _ int) error {
		if i := strings.Index(line, " | "); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return fmt.Errorf("short synset line")
		}
		off, err := strconv.Atoi(f[0])
		if err != nil {
			return fmt.Errorf("offset %q", f[0])
		}
		wc, err := strconv.ParseInt(f[3], 16, 32)
		if err != nil {
			return fmt.Errorf("word count %q", f[3])
		}
		k := 4
		s := &synset{}
		for range wc {
			if k+1 >= len(f) {
				return fmt.Errorf("truncated word list")
			}
			w := f[k]                                  // case kept: capitalised lemmas are proper names
			if j := strings.IndexByte(w, '('); j > 0 { // adjective position marker
				w = w[:j]
			}
			s.words = append(s.words, w)
			k += 2
		}
		if k >= len(f) {
			return fmt.Errorf("missing pointer count")
		}
		pc, err := strconv.Atoi(f[k])
		if err != nil {
			return fmt.Errorf("pointer count %q", f[k])
		}
		k++
		for range pc {
			if k+3 >= len(f) {
				return fmt.Errorf("truncated pointer list")
			}
			po, err := strconv.Atoi(f[k+1])
			if err != nil {
				return fmt.Errorf("pointer offset %q", f[k+1])
			}
			st, err := strconv.ParseUint(f[k+3], 16, 16)
			if err != nil {
				return fmt.Errorf("pointer source/target %q", f[k+3])
			}
			pp := pos(f[k+2][0])
			if pp == 's' {
				pp = 'a'
			}
			s.ptrs = append(s.ptrs, pointer{sym: f[k], off: po, pos: pp, src: int(st >> 8), tgt: int(st & 0xff)})
			k += 4
		}
		out[off] = s
		return nil
	})
	return out, err
}

func readIndex(path string) (map[string][]int, error) {
	out := map[string][]int{}
	err := eachLine(path, func(line string, _ int) error {
		f := strings.Fields(line)
		if len(f) < 4 {
			return fmt.Errorf("short index line")
		}
		n, err := strconv.Atoi(f[2])
		if err != nil || n < 1 || n > len(f)-4 {
			return fmt.Errorf("synset count %q", f[2])
		}
		offs := make([]int, n)
		for i, s := range f[len(f)-n:] {
			if offs[i], err = strconv.Atoi(s); err != nil {
				return fmt.Errorf("synset offset %q", s)
			}
		}
		out[f[0]] = offs
		return nil
	})
	return out, err
}

func readExc(path string) (map[string]string, error) {
	out := map[string]string{}
	err := eachLine(path, func(line string, _ int) error {
		f := strings.Fields(line)
		if len(f) < 2 {
			return fmt.Errorf("short exception line")
		}
		if _, dup := out[f[0]]; !dup {
			out[f[0]] = f[1]
		}
		return nil
	})
	return out, err
}

// lemma returns the base form of word as part of speech p, or "" if WordNet does not know it.
// Nouns follow WordNet's exception list and its regular plural rules.
func (wn *wordNet) lemma(word string, p pos) string {
	idx := wn.index[p]
	if _, ok := idx[word]; ok {
		return word
	}
	if base, ok := wn.exc[p][word]; ok {
		if _, ok := idx[base]; ok {
			return base
		}
	}
	if p != 'n' {
		return ""
	}
	for _, r := range [][2]string{{"ies", "y"}, {"ches", "ch"}, {"shes", "sh"}, {"ses", "s"}, {"xes", "x"}, {"zes", "z"}, {"men", "man"}, {"s", ""}} {
		if base, ok := strings.CutSuffix(word, r[0]); ok && base != "" {
			base += r[1]
			if _, ok := idx[base]; ok {
				return base
			}
		}
	}
	return ""
}

// first returns the most frequent sense of lemma as p, or nil.
func (wn *wordNet) first(lemma string, p pos) *synset {
	offs := wn.index[p][lemma]
	if len(offs) == 0 {
		return nil
	}
	return wn.synsets[p][offs[0]]
}

func (wn *wordNet) get(off int, p pos) *synset { return wn.synsets[p][off] }

// related returns the synsets the first sense of lemma points to with one of syms.
func (wn *wordNet) related(lemma string, p pos, syms ...string) []*synset {
	s := wn.first(lemma, p)
	if s == nil {
		return nil
	}
	var out []*synset
	for _, ptr := range s.ptrs {
		for _, sym := range syms {
			if ptr.sym == sym && ptr.pos == p {
				if t := wn.get(ptr.off, p); t != nil {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// antonyms returns the direct antonyms of lemma as p, over all its senses in sense order.
func (wn *wordNet) antonyms(lemma string, p pos) []string {
	var out []string
	for _, off := range wn.index[p][lemma] {
		s := wn.get(off, p)
		if s == nil {
			continue
		}
		for _, ptr := range s.ptrs {
			if ptr.sym != "!" || ptr.src == 0 || ptr.src > len(s.words) || strings.ToLower(s.words[ptr.src-1]) != lemma {
				continue
			}
			if t := wn.get(ptr.off, ptr.pos); t != nil && ptr.tgt >= 1 && ptr.tgt <= len(t.words) {
				out = append(out, t.words[ptr.tgt-1])
			}
		}
	}
	return out
}
