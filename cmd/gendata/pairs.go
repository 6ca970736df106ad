package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"unicode"

	"github.com/wtacrs/wtacrs/internal/kjv"
	"github.com/wtacrs/wtacrs/internal/wordnet"
)

// kind is how a hypothesis was made from its premise.
type kind string

const (
	kindPlain    kind = "clause"   // a clause of the premise, unchanged (entailment)
	kindSynonym  kind = "synonym"  // a clause with a word replaced by a WordNet synonym (entailment)
	kindHypernym kind = "hypernym" // … by a hypernym, more general (entailment)
	kindAntonym  kind = "antonym"  // … by a direct antonym (not_entailment)
	kindHyponym  kind = "hyponym"  // … by a hyponym, more specific (not_entailment)
	kindSister   kind = "sister"   // … by a co-hyponym (not_entailment)
	kindNegation kind = "negation" // a clause with "not" inserted or removed (not_entailment)
	kindSwap     kind = "swap"     // a clause with two names or nouns swapped (not_entailment)
	kindOther    kind = "other"    // a clause of a nearby verse of the same chapter (not_entailment)
)

type weighted struct {
	k kind
	w float64
}

// The mixture of constructions for each label.
var (
	entailKinds = []weighted{{kindPlain, 0.3}, {kindSynonym, 0.35}, {kindHypernym, 0.35}}
	notKinds    = []weighted{{kindAntonym, 0.15}, {kindHyponym, 0.15}, {kindSister, 0.15},
		{kindNegation, 0.2}, {kindSwap, 0.15}, {kindOther, 0.2}}
)

var (
	determiners = set("the", "a", "an", "his", "her", "their", "my", "thy", "thine", "our", "your",
		"its", "this", "that", "these", "those", "every", "all", "no", "mine", "each", "whose")
	modals  = set("shall", "will", "to", "may", "might", "must", "let", "should", "would", "can", "could", "did", "do")
	copulas = set("is", "was", "are", "were", "be", "been", "am", "art")
	auxes   = set("is", "was", "are", "were", "shall", "will", "can", "may", "might", "must", "should", "would", "could", "did", "do", "does", "hath", "have", "has", "had", "art", "wilt", "shalt")
	leading = set("and", "for", "but", "then", "so", "now", "also", "therefore", "wherefore", "yea", "behold", "lo", "verily")
	// Subordinate clauses and questions are not asserted by their verse: they never become
	// hypotheses.
	subordinators = set("that", "because", "lest", "when", "if", "neither", "nor", "or", "though", "although", "unless", "whether", "whoso", "whosoever", "until", "till", "except", "how", "what", "who", "why", "whither", "whence", "where", "wherein", "which", "whom", "as", "while")
	stopword      = set("the", "and", "that", "this", "which", "unto", "shall", "will", "with", "from", "upon", "they", "them", "thee", "thou", "thy", "thine", "hath", "have", "were", "was", "are", "not", "for", "his", "her", "him", "she", "all", "ye", "you", "there", "their", "into", "out", "also", "then", "when", "saith", "said", "say", "one", "own", "man", "men")
	noSpaceBefore = set(",", ";", ":", ".", "?", "!", ")")
)

func set(ws ...string) map[string]bool {
	m := make(map[string]bool, len(ws))
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// tokens splits text at spaces and peels punctuation off the words.
func tokens(text string) []string {
	var out []string
	for _, chunk := range strings.Fields(text) {
		var tail []string
		for chunk != "" && strings.ContainsRune("(`'\"", rune(chunk[0])) {
			out = append(out, chunk[:1])
			chunk = chunk[1:]
		}
		for chunk != "" && strings.ContainsRune(",;:.?!)'\"", rune(chunk[len(chunk)-1])) {
			tail = append(tail, chunk[len(chunk)-1:])
			chunk = chunk[:len(chunk)-1]
		}
		if chunk != "" {
			out = append(out, chunk)
		}
		slices.Reverse(tail)
		out = append(out, tail...)
	}
	return out
}

func join(toks []string) string {
	var b strings.Builder
	for i, t := range toks {
		if i > 0 && !noSpaceBefore[t] && toks[i-1] != "(" {
			b.WriteByte(' ')
		}
		b.WriteString(t)
	}
	return b.String()
}

// isWord reports whether t is a word: letters, with apostrophes inside ("father's").
func isWord(t string) bool {
	for i, r := range t {
		if !unicode.IsLetter(r) && (r != '\'' || i == 0 || i == len(t)-1) {
			return false
		}
	}
	return t != ""
}

func isLowerWord(t string) bool { return isWord(t) && t == strings.ToLower(t) }

func countWords(toks []string) int {
	n := 0
	for _, t := range toks {
		if isWord(t) {
			n++
		}
	}
	return n
}

// clauses splits a verse at ; : . ? !, drops leading connectives and keeps the clauses of 4 to
// 30 words, each capitalised and ending with a full stop. Questions and clauses that open with a
// subordinating word are left out, since the verse does not assert them.
func clauses(text string) [][]string {
	var out [][]string
	var cur []string
	flush := func(end string) {
		c := cur
		cur = nil
		for len(c) > 0 && (leading[strings.ToLower(c[0])] || c[0] == ",") {
			c = c[1:]
		}
		if end == "?" || len(c) == 0 || subordinators[strings.ToLower(c[0])] {
			return
		}
		for len(c) > 0 && noSpaceBefore[c[len(c)-1]] {
			c = c[:len(c)-1]
		}
		if n := countWords(c); n < 4 || n > 30 || slices.ContainsFunc(c, func(t string) bool { return len(t) == 1 && strings.ContainsAny(t, "()'\"`") }) {
			return
		}
		c = slices.Clone(c)
		r := []rune(c[0])
		r[0] = unicode.ToUpper(r[0])
		c[0] = string(r)
		out = append(out, append(c, "."))
	}
	for _, t := range tokens(text) {
		if t == ";" || t == ":" || t == "." || t == "?" || t == "!" {
			flush(t)
			continue
		}
		cur = append(cur, t)
	}
	flush(".")
	return out
}

// candidate is a word of a clause that WordNet can replace.
type candidate struct {
	i      int
	p      wordnet.POS
	lemma  string
	plural bool
}

func (g *generator) candidates(c []string) []candidate {
	var out []candidate
	for i := 1; i < len(c); i++ {
		w := c[i]
		if !isLowerWord(w) || len(w) < 3 || stopword[w] || g.freq[w] < g.minCount {
			continue
		}
		prev := strings.ToLower(c[i-1])
		next := ""
		if i+1 < len(c) {
			next = c[i+1]
		}
		switch {
		case determiners[prev]:
			if isLowerWord(next) && g.wn.Lemma(next, 'n') != "" && g.wn.Lemma(w, 'a') == w {
				out = append(out, candidate{i, 'a', w, false})
			} else if l := g.wn.Lemma(w, 'n'); l != "" {
				out = append(out, candidate{i, 'n', l, l != w})
			}
		case modals[prev] || (prev == "not" && i >= 2 && modals[strings.ToLower(c[i-2])]):
			if g.wn.Known(w, 'v') {
				out = append(out, candidate{i, 'v', w, false})
			}
		case copulas[prev]:
			if g.wn.Known(w, 'a') {
				out = append(out, candidate{i, 'a', w, false})
			}
		}
	}
	return out
}

// usable turns a WordNet lemma into replacement text, or "" if it is unfit: the word itself,
// proper names (capitalised), compounds of more than three words, digits or punctuation.
func usable(lemma, orig string) string {
	if lemma == orig || strings.Count(lemma, "_") > 2 {
		return ""
	}
	for _, r := range lemma {
		if !(r >= 'a' && r <= 'z' || r == '_' || r == '-') {
			return ""
		}
	}
	return strings.ReplaceAll(lemma, "_", " ")
}

// pluralize makes the plural of a noun or compound by the regular rules, inflecting the head: the
// last word, or the word before "of" ("king of beasts" → "kings of beasts").
func pluralize(s string) string {
	ws := strings.Split(s, " ")
	head := len(ws) - 1
	for i, w := range ws {
		if w == "of" && i > 0 {
			head = i - 1
			break
		}
	}
	w := ws[head]
	switch {
	case strings.HasSuffix(w, "s") || strings.HasSuffix(w, "x") || strings.HasSuffix(w, "z") ||
		strings.HasSuffix(w, "ch") || strings.HasSuffix(w, "sh"):
		w += "es"
	case len(w) > 1 && strings.HasSuffix(w, "y") && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		w = w[:len(w)-1] + "ies"
	default:
		w += "s"
	}
	ws[head] = w
	return strings.Join(ws, " ")
}

// replacements lists the candidate's substitutes under relation k, in WordNet order.
func (g *generator) replacements(c candidate, k kind) []string {
	wn := g.wn
	own := wn.First(c.lemma, c.p)
	if own == nil {
		return nil
	}
	var lemmas []string
	firstWords := func(ss []*wordnet.Synset) {
		for _, s := range ss {
			if s != own && len(s.Words) > 0 {
				lemmas = append(lemmas, s.Words[0])
			}
		}
	}
	switch k {
	case kindSynonym:
		lemmas = own.Words
	case kindHypernym:
		if c.p == 'a' {
			return nil
		}
		firstWords(wn.Related(c.lemma, c.p, "@", "@i"))
	case kindHyponym:
		if c.p == 'a' {
			return nil
		}
		firstWords(wn.Related(c.lemma, c.p, "~", "~i"))
	case kindSister:
		if c.p == 'a' {
			return nil
		}
		for _, h := range wn.Related(c.lemma, c.p, "@") {
			for _, ptr := range h.Ptrs {
				if ptr.Sym == "~" && ptr.POS == c.p {
					if s := wn.Get(ptr.Off, c.p); s != nil && s != own && len(s.Words) > 0 {
						lemmas = append(lemmas, s.Words[0])
					}
				}
			}
		}
	case kindAntonym:
		lemmas = wn.Antonyms(c.lemma, c.p)
	}
	var out []string
	for _, l := range lemmas {
		if k != kindSynonym && slices.ContainsFunc(own.Words, func(w string) bool { return strings.EqualFold(w, l) }) {
			continue
		}
		if r := usable(l, c.lemma); r != "" && !slices.Contains(out, r) {
			if c.plural {
				r = pluralize(r)
			}
			out = append(out, r)
		}
	}
	return out
}

// substitute replaces one word of the clause under relation k.
func (g *generator) substitute(c []string, k kind, rng *rand.Rand) ([]string, string, bool) {
	type option struct {
		c    candidate
		reps []string
	}
	var opts []option
	for _, cand := range g.candidates(c) {
		if reps := g.replacements(cand, k); len(reps) > 0 {
			opts = append(opts, option{cand, reps})
		}
	}
	if len(opts) == 0 {
		return nil, "", false
	}
	o := opts[rng.IntN(len(opts))]
	// The first replacement in WordNet order: a word always gets the same substitute under a
	// relation, which makes the substitutions learnable from the training split.
	rep := o.reps[0]
	out := slices.Clone(c)
	orig := out[o.c.i]
	if rep == orig {
		return nil, "", false
	}
	out[o.c.i] = rep
	if j := o.c.i - 1; j >= 0 && (out[j] == "a" || out[j] == "an") {
		if strings.ContainsRune("aeiou", rune(rep[0])) {
			out[j] = "an"
		} else {
			out[j] = "a"
		}
	}
	return out, orig + "->" + rep, true
}

func negate(c []string) ([]string, string, bool) {
	if i := slices.Index(c, "not"); i >= 0 {
		out := slices.Delete(slices.Clone(c), i, i+1)
		if countWords(out) < 3 {
			return nil, "", false
		}
		return out, "-not", true
	}
	for i := 1; i < len(c)-2; i++ {
		if auxes[strings.ToLower(c[i])] && isWord(c[i+1]) {
			out := slices.Insert(slices.Clone(c), i+1, "not")
			return out, "+not", true
		}
	}
	return nil, "", false
}

func (g *generator) swap(c []string) ([]string, string, bool) {
	try := func(ok func(i int) bool) ([]string, string, bool) {
		var pos []int
		for i := 1; i < len(c); i++ {
			if ok(i) {
				pos = append(pos, i)
			}
		}
		for a := 0; a < len(pos); a++ {
			for b := a + 1; b < len(pos); b++ {
				if c[pos[a]] != c[pos[b]] {
					out := slices.Clone(c)
					out[pos[a]], out[pos[b]] = out[pos[b]], out[pos[a]]
					return out, c[pos[a]] + "<->" + c[pos[b]], true
				}
			}
		}
		return nil, "", false
	}
	if out, note, ok := try(func(i int) bool {
		t := c[i]
		// a name inside the clause: capitalised, after a word (not opening a quoted sentence)
		return isWord(t) && unicode.IsUpper([]rune(t)[0]) && t != "I" && t != "O" && isWord(c[i-1])
	}); ok {
		return out, note, true
	}
	return try(func(i int) bool {
		return c[i-1] == "the" && isLowerWord(c[i]) && !stopword[c[i]] && g.wn.Lemma(c[i], 'n') != ""
	})
}

func contentWords(toks []string) map[string]bool {
	m := map[string]bool{}
	for _, t := range toks {
		t = strings.ToLower(t)
		if isWord(t) && len(t) > 2 && !stopword[t] && !leading[t] {
			m[t] = true
		}
	}
	return m
}

// other picks a clause of a verse within five verses of verse k in the same chapter, preferring
// the clauses that share the most content words with the premise.
func (g *generator) other(pool []kjv.Verse, k int, rng *rand.Rand) ([]string, string, bool) {
	premise := contentWords(tokens(pool[k].Text))
	var best [][]string
	var refs []string
	bestScore := -1
	for j := max(0, k-5); j <= min(len(pool)-1, k+5); j++ {
		if j == k || pool[j].Book != pool[k].Book || pool[j].Chapter != pool[k].Chapter {
			continue
		}
		for _, c := range clauses(pool[j].Text) {
			if strings.Contains(strings.ToLower(pool[k].Text), strings.ToLower(join(c[:len(c)-1]))) {
				continue
			}
			s := 0
			for w := range contentWords(c) {
				if premise[w] {
					s++
				}
			}
			if s > bestScore {
				best, refs, bestScore = nil, nil, s
			}
			if s == bestScore {
				best = append(best, c)
				refs = append(refs, pool[j].Ref())
			}
		}
	}
	if len(best) == 0 {
		return nil, "", false
	}
	i := rng.IntN(len(best))
	c := best[i]
	note := "from " + refs[i]
	if rng.IntN(2) == 0 {
		if out, n, ok := g.substitute(c, kindSynonym, rng); ok {
			return out, note + "; " + n, true
		}
	}
	return c, note, true
}

// pair is one generated example.
type pair struct {
	premise, hypothesis string
	entail              bool
	kind                kind
	ref, note           string
}

// makePair builds a pair of the wanted label from verse k of pool, trying the constructions of
// that label in a random order drawn by their weights. It returns false if none applies.
func (g *generator) makePair(pool []kjv.Verse, k int, entail bool, rng *rand.Rand) (pair, bool) {
	v := pool[k]
	cs := clauses(v.Text)
	if len(cs) == 0 {
		return pair{}, false
	}
	kinds := notKinds
	if entail {
		kinds = entailKinds
	}
	for _, kk := range weightedOrder(kinds, rng) {
		c := cs[rng.IntN(len(cs))]
		var out []string
		var note string
		ok := false
		switch kk {
		case kindPlain:
			if len(cs) >= 2 {
				out, ok = c, true
			}
		case kindSynonym, kindHypernym, kindAntonym, kindHyponym, kindSister:
			out, note, ok = g.substitute(c, kk, rng)
		case kindNegation:
			out, note, ok = negate(c)
		case kindSwap:
			out, note, ok = g.swap(c)
		case kindOther:
			out, note, ok = g.other(pool, k, rng)
		}
		if !ok {
			continue
		}
		h := join(out)
		if kk != kindPlain && slices.ContainsFunc(cs, func(c []string) bool { return join(c) == h }) {
			continue
		}
		return pair{premise: v.Text, hypothesis: h, entail: entail, kind: kk, ref: v.Ref(), note: note}, true
	}
	return pair{}, false
}

// weightedOrder draws the kinds without replacement, each draw proportional to the weights left.
func weightedOrder(ks []weighted, rng *rand.Rand) []kind {
	left := slices.Clone(ks)
	var out []kind
	for len(left) > 0 {
		total := 0.0
		for _, k := range left {
			total += k.w
		}
		u := rng.Float64() * total
		i := 0
		for ; i < len(left)-1; i++ {
			u -= left[i].w
			if u < 0 {
				break
			}
		}
		out = append(out, left[i].k)
		left = slices.Delete(left, i, i+1)
	}
	return out
}
