package wordnet

import "strings"

// SplitGloss splits a gloss into its definition and its example sentences. WordNet writes the
// definitions first, then each example in double quotes, all separated by "; ", an example
// sometimes followed by its author ("…"--Shakespeare): the definition is the text before the
// first "; \"" (or the whole gloss when it opens with no example), and an example is the text
// between a '"' that opens a part and the next '"' that ends one (followed by ';', "--" or the end
// of the gloss), authors removed. Text after an unclosed quote is dropped. Surrounding spaces and
// a definition's trailing ';' are trimmed; empty parts are left out.
func SplitGloss(gloss string) (definition string, examples []string) {
	rest := strings.TrimSpace(gloss)
	if !strings.HasPrefix(rest, `"`) {
		if i := strings.Index(rest, `; "`); i >= 0 {
			definition, rest = rest[:i], rest[i+2:]
		} else {
			definition, rest = rest, ""
		}
	}
	definition = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(definition), ";"))
	for strings.HasPrefix(rest, `"`) {
		end := closingQuote(rest)
		if end < 0 {
			break
		}
		if ex := strings.TrimSpace(rest[1:end]); ex != "" {
			examples = append(examples, ex)
		}
		rest = rest[end+1:]
		if i := strings.IndexByte(rest, ';'); i >= 0 {
			rest = rest[i+1:] // past an author, if any, and the separator
		} else {
			rest = ""
		}
		rest = strings.TrimSpace(rest)
	}
	return definition, examples
}

// closingQuote returns the index of the '"' that closes the example opening s, or -1.
func closingQuote(s string) int {
	for j := 1; j < len(s); j++ {
		if s[j] != '"' {
			continue
		}
		after := strings.TrimLeft(s[j+1:], " ")
		if after == "" || after[0] == ';' || strings.HasPrefix(after, "--") {
			return j
		}
	}
	return -1
}
