// Package wordnet reads the WordNet 3.0 database in the layout of the Debian package
// wordnet-base (/usr/share/wordnet): the synsets of the data.* files with their glosses, the
// sense-ordered index.* files and the *.exc lists of irregular inflections, and answers the few
// lexical queries the data generators need (the base form of a word, its most frequent sense,
// related synsets, direct antonyms).
//
// Lemmas keep WordNet's spelling: '_' between the words of a compound, capitalised proper
// names, adjective position markers such as "(a)" removed.
package wordnet

import (
	"bufio"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wtacrs/wtacrs/internal/inputfile"
)

// ErrFormat reports a malformed database line.
var ErrFormat = errors.New("wordnet: malformed database")

// POS is a WordNet part of speech: 'n', 'v', 'a' (adjective, satellites included) or 'r'
// (adverb).
type POS byte

// Files maps each part of speech to the name part of its files: data.noun, index.noun,
// noun.exc.
var Files = map[POS]string{'n': "noun", 'v': "verb", 'a': "adj", 'r': "adv"}

// Pointer is one relation of a synset. Src and Tgt are the 1-based word numbers of a lexical
// relation (antonymy), both 0 for a semantic relation.
type Pointer struct {
	Sym      string
	Off      int
	POS      POS
	Src, Tgt int
}

// Synset is one line of a data file.
type Synset struct {
	// Offset is the synset's byte offset in its data file, its key; LexFile is the number of
	// its lexicographer file (noun.animal, verb.motion…).
	Offset, LexFile int
	// Words are the lemmas, in WordNet's order and spelling.
	Words []string
	// Ptrs are the relations to other synsets.
	Ptrs []Pointer
	// Gloss is the text after " | ": definitions, then example sentences in double quotes,
	// separated by "; " (see SplitGloss).
	Gloss string
}

// DB is the part of the database that Load reads: the synsets, the sense-ordered index of each
// lemma and the exception lists, for nouns, verbs and adjectives.
type DB struct {
	synsets map[POS]map[int]*Synset
	index   map[POS]map[string][]int
	exc     map[POS]map[string]string
}

// Load reads data.{noun,verb,adj}, index.* and *.exc from dir. Errors name the file and line
// and wrap ErrFormat, or the error of opening the file.
func Load(dir string) (*DB, error) {
	db := &DB{synsets: map[POS]map[int]*Synset{}, index: map[POS]map[string][]int{}, exc: map[POS]map[string]string{}}
	for _, p := range []POS{'n', 'v', 'a'} {
		name := Files[p]
		ss, err := ReadData(filepath.Join(dir, "data."+name))
		if err != nil {
			return nil, err
		}
		db.synsets[p] = make(map[int]*Synset, len(ss))
		for _, s := range ss {
			db.synsets[p][s.Offset] = s
		}
		idx, err := readIndex(filepath.Join(dir, "index."+name))
		if err != nil {
			return nil, err
		}
		db.index[p] = idx
		exc, err := readExc(filepath.Join(dir, name+".exc"))
		if err != nil {
			return nil, err
		}
		db.exc[p] = exc
	}
	return db, nil
}

// maxLine is the longest database line read; WordNet's longest is under 32 KiB.
const maxLine = 1 << 22

// eachLine calls fn on every line of path but the licence header (lines opening with two
// spaces) and blank lines.
func eachLine(path string, fn func(line string) error) error {
	f, _, err := inputfile.Open(path)
	if err != nil {
		return fmt.Errorf("wordnet: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "  ") || line == "" {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrFormat, path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s:%d: %w", ErrFormat, path, n+1, err)
	}
	return nil
}

// ReadData reads the synsets of a data file (data.noun…) in file order, which groups them by
// lexicographer file. Errors name the file and line and wrap ErrFormat.
func ReadData(path string) ([]*Synset, error) {
	var out []*Synset
	err := eachLine(path, func(line string) error {
		s, err := parseSynset(line)
		if err == nil {
			out = append(out, s)
		}
		return err
	})
	return out, err
}

func parseSynset(line string) (*Synset, error) {
	s := &Synset{}
	if i := strings.Index(line, " | "); i >= 0 {
		s.Gloss = strings.TrimSpace(line[i+3:])
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) < 4 {
		return nil, errors.New("short synset line")
	}
	off, err := strconv.Atoi(f[0])
	if err != nil {
		return nil, fmt.Errorf("offset %q", f[0])
	}
	s.Offset = off
	if s.LexFile, err = strconv.Atoi(f[1]); err != nil {
		return nil, fmt.Errorf("lexicographer file %q", f[1])
	}
	wc, err := strconv.ParseInt(f[3], 16, 32)
	if err != nil {
		return nil, fmt.Errorf("word count %q", f[3])
	}
	k := 4
	for range wc {
		if k+1 >= len(f) {
			return nil, errors.New("truncated word list")
		}
		w := f[k]                                  // case kept: capitalised lemmas are proper names
		if j := strings.IndexByte(w, '('); j > 0 { // adjective position marker
			w = w[:j]
		}
		s.Words = append(s.Words, w)
		k += 2
	}
	if k >= len(f) {
		return nil, errors.New("missing pointer count")
	}
	pc, err := strconv.Atoi(f[k])
	if err != nil {
		return nil, fmt.Errorf("pointer count %q", f[k])
	}
	k++
	for range pc {
		if k+3 >= len(f) {
			return nil, errors.New("truncated pointer list")
		}
		po, err := strconv.Atoi(f[k+1])
		if err != nil {
			return nil, fmt.Errorf("pointer offset %q", f[k+1])
		}
		st, err := strconv.ParseUint(f[k+3], 16, 16)
		if err != nil {
			return nil, fmt.Errorf("pointer source/target %q", f[k+3])
		}
		pp := POS(f[k+2][0])
		if pp == 's' {
			pp = 'a'
		}
		s.Ptrs = append(s.Ptrs, Pointer{Sym: f[k], Off: po, POS: pp, Src: int(st >> 8), Tgt: int(st & 0xff)})
		k += 4
	}
	return s, nil
}

func readIndex(path string) (map[string][]int, error) {
	out := map[string][]int{}
	err := eachLine(path, func(line string) error {
		f := strings.Fields(line)
		if len(f) < 4 {
			return errors.New("short index line")
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
	err := eachLine(path, func(line string) error {
		f := strings.Fields(line)
		if len(f) < 2 {
			return errors.New("short exception line")
		}
		if _, dup := out[f[0]]; !dup {
			out[f[0]] = f[1]
		}
		return nil
	})
	return out, err
}

// Known reports whether word is a lemma of the index of p.
func (db *DB) Known(word string, p POS) bool {
	_, ok := db.index[p][word]
	return ok
}

// Lemma returns the base form of word as part of speech p, or "" if WordNet does not know it.
// Nouns follow WordNet's exception list and its regular plural rules.
func (db *DB) Lemma(word string, p POS) string {
	idx := db.index[p]
	if _, ok := idx[word]; ok {
		return word
	}
	if base, ok := db.exc[p][word]; ok {
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

// First returns the most frequent sense of lemma as p, or nil.
func (db *DB) First(lemma string, p POS) *Synset {
	offs := db.index[p][lemma]
	if len(offs) == 0 {
		return nil
	}
	return db.synsets[p][offs[0]]
}

// Get returns the synset of p at offset off, or nil.
func (db *DB) Get(off int, p POS) *Synset { return db.synsets[p][off] }

// Related returns the synsets the first sense of lemma points to with one of syms, in pointer
// order.
func (db *DB) Related(lemma string, p POS, syms ...string) []*Synset {
	s := db.First(lemma, p)
	if s == nil {
		return nil
	}
	var out []*Synset
	for _, ptr := range s.Ptrs {
		for _, sym := range syms {
			if ptr.Sym == sym && ptr.POS == p {
				if t := db.Get(ptr.Off, p); t != nil {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// Antonyms returns the direct antonyms of lemma as p, over all its senses in sense order.
func (db *DB) Antonyms(lemma string, p POS) []string {
	var out []string
	for _, off := range db.index[p][lemma] {
		s := db.Get(off, p)
		if s == nil {
			continue
		}
		for _, ptr := range s.Ptrs {
			if ptr.Sym != "!" || ptr.Src == 0 || ptr.Src > len(s.Words) || strings.ToLower(s.Words[ptr.Src-1]) != lemma {
				continue
			}
			if t := db.Get(ptr.Off, ptr.POS); t != nil && ptr.Tgt >= 1 && ptr.Tgt <= len(t.Words) {
				out = append(out, t.Words[ptr.Tgt-1])
			}
		}
	}
	return out
}
