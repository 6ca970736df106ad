package theory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wtacrs/wtacrs/internal/atomicfile"
)

// Config sets the size of a [Verify] run. The zero value is not valid; start from
// [DefaultConfig].
type Config struct {
	// Cases is the number of generated cases per claim (rapid examples with seeds Seed..Seed+Cases−1).
	Cases int `json:"cases"`
	// Sketches is the number of Monte Carlo sketches per plan and case.
	Sketches int `json:"sketches"`
	// Seed fixes the cases and the sketches.
	Seed uint64 `json:"seed"`
	// Alpha bounds, for each statistical claim, the probability of refuting it falsely over the
	// whole run (split evenly over the cases).
	Alpha float64 `json:"alpha"`
}

// DefaultConfig returns the configuration of `wtacrs verify`: 300 cases, 500 sketches, seed 1
// and α = 1e-7 per statistical claim.
func DefaultConfig() Config { return Config{Cases: 300, Sketches: 500, Seed: 1, Alpha: 1e-7} }

// LongConfig returns [DefaultConfig] with 10× the cases and 10× the sketches (100× the trials).
func LongConfig() Config { return Config{Cases: 3000, Sketches: 5000, Seed: 1, Alpha: 1e-7} }

// Finding is one row of the findings table.
type Finding struct {
	// Claim names the claim or the negative control.
	Claim string `json:"claim"`
	// Verdict is "holds" or "refuted" for a claim, "rejected" or "NOT rejected" for a control
	// (rejected: the checker found the control biased on at least one case).
	Verdict string `json:"verdict"`
	// Cases is the number of cases tried.
	Cases int `json:"cases"`
	// Applied is the number of cases the claim says something about ([Verdict.Applies]).
	Applied int `json:"applied"`
	// Statistic says what Worst is ("z", "ratio", …).
	Statistic string `json:"statistic"`
	// Worst is the statistic's worst value over the cases, as text ("+Inf" for a
	// deterministic deviation).
	Worst string `json:"worst"`
	// Counterexamples counts the cases that refute a claim, or on which a control was rejected.
	Counterexamples int `json:"counterexamples"`
	// Example describes the first of the counterexamples; "" when there is none.
	Example string `json:"example,omitempty"`
}

// CRuleStudy answers how often the |C| that minimises Theorem 2's bound also minimises the true
// variance of WTA-CRS, and how much variance is lost when it does not.
type CRuleStudy struct {
	// Cases counts the cases with k ≥ 2 (with k = 1 only |C| = 0 exists).
	Cases int `json:"cases"`
	// Agree counts those where the rule's |C| has the least variance (up to rounding).
	Agree int `json:"agree"`
	// AgreeFraction is Agree/Cases.
	AgreeFraction float64 `json:"agree_fraction"`
	// ExactBest counts the disagreements where some |C| makes WTA-CRS exact (zero variance,
	// for example when C can hold every nonzero pair) but the rule's |C| does not.
	ExactBest int `json:"exact_best"`
	// MedianLoss is the median of Var(rule)/Var(best) − 1 over the other disagreements.
	MedianLoss float64 `json:"median_relative_loss"`
	// MeanLossCRS is the mean of (Var(rule) − Var(best))/Var[CRS] over the disagreements: the
	// share of the CRS variance that the rule leaves on the table.
	MeanLossCRS float64 `json:"mean_loss_of_crs_variance"`
	// WorstLossCRS is the largest of those shares.
	WorstLossCRS float64 `json:"worst_loss_of_crs_variance"`
	// WorstCase describes the case of WorstLossCRS.
	WorstCase string `json:"worst_case,omitempty"`
	// ByFamily gives, per family, the cases and the agreements.
	ByFamily map[string][2]int `json:"by_kind_cases_agree"`
}

// Report is the result of [Verify].
type Report struct {
	// Config is the configuration the report was computed with.
	Config Config `json:"config"`
	// Findings are the rows of the findings table: the claims, then the negative controls.
	Findings []Finding `json:"findings"`
	// CRuleStudy is the study of Theorem 2's |C| rule over the cases.
	CRuleStudy CRuleStudy `json:"c_rule"`
}

// tally accumulates one claim over the cases.
type tally struct {
	Finding
	worst   float64
	control bool
}

func (t *tally) add(c Case, o Verdict) { t.addCase(c.String(), o) }

// addCase is add for a case described by name.
func (t *tally) addCase(name string, o Verdict) {
	t.Cases++
	if !o.Applies {
		return
	}
	t.Applied++
	if o.Worst > t.worst || t.Applied == 1 {
		t.worst = o.Worst
	}
	if !o.Holds {
		t.Counterexamples++
		if t.Example == "" {
			t.Example = name + ": " + o.Detail
		}
	}
}

func (t *tally) finish() Finding {
	f := t.Finding
	f.Worst = formatFloat(t.worst)
	switch {
	case t.control && f.Counterexamples > 0:
		f.Verdict = "rejected"
	case t.control:
		f.Verdict = "NOT rejected"
	case f.Counterexamples > 0:
		f.Verdict = "refuted"
	default:
		f.Verdict = "holds"
	}
	return f
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return fmt.Sprintf("%.4g", v)
}

// Validate returns ErrSketches for a config out of range: Cases ≥ 1, 0 < α < 1 and Sketches at
// least Groups(α/Cases/8), the median-of-means groups the Monte Carlo checks need.
func (cfg Config) Validate() error {
	if cfg.Cases < 1 || !(cfg.Alpha > 0 && cfg.Alpha < 1) {
		return fmt.Errorf("%w: %d cases, α = %v", ErrSketches, cfg.Cases, cfg.Alpha)
	}
	alpha := cfg.Alpha / float64(cfg.Cases)
	if g := Groups(alpha / 8); cfg.Sketches < g {
		return fmt.Errorf("%w: %d sketches, at least %d needed", ErrSketches, cfg.Sketches, g)
	}
	return nil
}

// Verify runs every claim and control on cfg.Cases cases generated by [Cases] (rapid examples
// with seeds cfg.Seed, cfg.Seed+1, …), the stratified ones on cfg.Cases cases of
// [StratifiedCases] (the same seeds), and returns the findings. Each statistical claim gets
// α = cfg.Alpha over the run. The same config gives the same report. It returns ErrSketches for
// a config out of range (Cases ≥ 1, Sketches ≥ Groups(α/Cases/8), 0 < α < 1).
func Verify(cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	alpha := cfg.Alpha / float64(cfg.Cases)
	mk := func(claim, stat string) *tally { return &tally{Finding: Finding{Claim: claim, Statistic: stat}} }
	exact := mk("Theorem 1: CRS and WTA-CRS unbiased (exact enumeration)", "relative deviation")
	mean := mk("Theorem 1: CRS and WTA-CRS unbiased (Monte Carlo mean)", "deviation/threshold")
	eq3 := mk("Eq. 3: norm products minimise the CRS variance (closed form)", "Var(p)/Var(alternative)")
	eq3mc := mk("Eq. 3: norm products minimise the CRS variance (Monte Carlo)", "gap/interval width")
	cf := mk("Closed-form variances match Monte Carlo (CRS, WTA-CRS, Bernoulli, uniform)", "deviation/half-width")
	cond := mk("Theorem 2: P_C > |C|/k implies Var[WTA-CRS] < Var[CRS]", "Var[WTA-CRS]/Var[CRS]")
	bound := mk("Theorem 2: Var[WTA-CRS] ≤ k(1−P_C)/(k−|C|)·Var[CRS]", "Var[WTA-CRS]/bound")
	rule := mk("ChooseC minimises the bound's factor", "factor(rule)/least factor")
	best := mk("Theorem 2: the rule's |C| minimises Var[WTA-CRS]", "(Var(rule)−Var(best))/Var[CRS]")
	linExact := mk("Approximate linear layer: ∇W unbiased for a fixed cache (exact, through the layer)", "relative deviation")
	linMC := mk("Approximate linear layer: ∇W unbiased, ∇H and ∇b exact (Monte Carlo)", "deviation/threshold")
	stratExact := mk("Stratified WTA-CRS, own and shared |C|: unbiased (exact enumeration)", "relative deviation")
	stratMean := mk("Stratified WTA-CRS, own and shared |C|: unbiased (Monte Carlo mean)", "deviation/threshold")
	stratCF := mk("Stratified WTA-CRS, own and shared |C|: closed-form variance matches Monte Carlo", "deviation/half-width")
	stratCtrlModels := "one shared |C|, sampled pairs scaled by 1 − P_C only, all-zero cache (published code)"
	stratCtrlExact := mk("Control "+ControlStratifiedName+" ("+stratCtrlModels+"): exact check", "relative deviation")
	stratCtrlMean := mk("Control "+ControlStratifiedName+" ("+stratCtrlModels+"): Monte Carlo check", "deviation/threshold")
	stratCtrlExact.control, stratCtrlMean.control = true, true
	ctrlNames := []string{"topk", "norepl", "zeroing", "zerocache"}
	ctrlExact := map[string]*tally{}
	ctrlMean := map[string]*tally{}
	ctrls, _ := Controls([]float64{1}, 1)
	for _, c := range ctrls {
		ctrlExact[c.Name] = mk("Control "+c.Name+" ("+c.Models+"): exact check", "relative deviation")
		ctrlMean[c.Name] = mk("Control "+c.Name+" ("+c.Models+"): Monte Carlo check", "deviation/threshold")
		ctrlExact[c.Name].control, ctrlMean[c.Name].control = true, true
	}
	rep := &Report{Config: cfg, CRuleStudy: CRuleStudy{ByFamily: map[string][2]int{}}}
	var losses []float64
	var lossCRS float64
	gen, stratGen := Cases(), StratifiedCases()
	for i := range cfg.Cases {
		c := gen.Example(int(cfg.Seed) + i)
		mc := MC{Sketches: cfg.Sketches, Seed: cfg.Seed<<32 + uint64(i)<<8, Alpha: alpha}
		// The stratified claims take a case of their own generator and seeds 128 above the
		// case's (the other claims use fewer than 128).
		sc := stratGen.Example(int(cfg.Seed) + i)
		smc := mc
		smc.Seed += 128
		steps := []struct {
			t   *tally
			run func() (Verdict, error)
		}{
			{exact, func() (Verdict, error) { return UnbiasedExact(c) }},
			{mean, func() (Verdict, error) { return UnbiasedMC(c, mc) }},
			{eq3, func() (Verdict, error) { return Eq3ClosedForm(c) }},
			{eq3mc, func() (Verdict, error) { return Eq3MC(c, mc) }},
			{cf, func() (Verdict, error) { return ClosedFormMC(c, mc) }},
			{linExact, func() (Verdict, error) { return LinearExact(c) }},
			{linMC, func() (Verdict, error) { return LinearMC(c, mc) }},
		}
		for _, s := range steps {
			o, err := s.run()
			if err != nil {
				return nil, fmt.Errorf("%s on %v: %w", s.t.Claim, c, err)
			}
			s.t.add(c, o)
		}
		stratSteps := []struct {
			t   *tally
			run func() (Verdict, error)
		}{
			{stratExact, func() (Verdict, error) { return StratifiedUnbiasedExact(sc) }},
			{stratMean, func() (Verdict, error) { return StratifiedUnbiasedMC(sc, smc) }},
			{stratCF, func() (Verdict, error) { return StratifiedClosedFormMC(sc, smc) }},
		}
		for _, s := range stratSteps {
			o, err := s.run()
			if err != nil {
				return nil, fmt.Errorf("%s on %v: %w", s.t.Claim, sc, err)
			}
			s.t.addCase(sc.String(), o)
		}
		sr, err := CheckStratifiedControl(sc, smc)
		if err != nil {
			return nil, fmt.Errorf("stratified control on %v: %w", sc, err)
		}
		stratCtrlExact.addCase(sc.String(), Verdict{Applies: true, Holds: !sr.Exact.Biased, Worst: sr.Exact.Worst,
			Detail: fmt.Sprintf("bias %.3g of the terms at (%d,%d)", sr.Exact.Worst, sr.Exact.Row, sr.Exact.Col)})
		stratCtrlMean.addCase(sc.String(), Verdict{Applies: true, Holds: !sr.Mean.Rejected, Worst: sr.Mean.WorstRatio,
			Detail: fmt.Sprintf("mean of %d sketches off by %.3g thresholds (z = %.3g)", sr.Mean.Sketches, sr.Mean.WorstRatio, sr.Mean.WorstZ)})
		t2, err := CheckTheorem2(c, nil)
		if err != nil {
			return nil, fmt.Errorf("checking Theorem 2 on %v: %w", c, err)
		}
		cond.add(c, t2.Condition)
		bound.add(c, t2.Bound)
		rule.add(c, t2.Rule)
		o := Verdict{Applies: t2.MaxC >= 1, Holds: t2.Agree}
		if !t2.Agree {
			o.Worst = ratio(t2.VarBoundC-t2.VarBestC, t2.VarCRS)
		}
		if !o.Holds {
			o.Detail = fmt.Sprintf("rule |C|=%d has variance %.6g, |C|=%d has %.6g", t2.BoundC, t2.VarBoundC, t2.BestC, t2.VarBestC)
		}
		best.add(c, o)
		if o.Applies {
			rep.CRuleStudy.Cases++
			kb := rep.CRuleStudy.ByFamily[c.Family]
			kb[0]++
			if t2.Agree {
				rep.CRuleStudy.Agree++
				kb[1]++
			} else {
				tol := RelTol * roundingScale(c.Weights())
				if t2.VarBestC <= tol {
					rep.CRuleStudy.ExactBest++
				} else {
					losses = append(losses, t2.VarBoundC/t2.VarBestC-1)
				}
				l := ratio(t2.VarBoundC-t2.VarBestC, t2.VarCRS)
				lossCRS += l
				if l > rep.CRuleStudy.WorstLossCRS {
					rep.CRuleStudy.WorstLossCRS, rep.CRuleStudy.WorstCase = l, c.String()+": "+o.Detail
				}
			}
			rep.CRuleStudy.ByFamily[c.Family] = kb
		}
		cr, err := CheckControls(c, mc)
		if err != nil {
			return nil, fmt.Errorf("controls on %v: %w", c, err)
		}
		for _, r := range cr {
			oe := Verdict{Applies: r.Checkable, Holds: !r.Exact.Biased, Worst: r.Exact.Worst,
				Detail: fmt.Sprintf("bias %.3g of the terms at (%d,%d)", r.Exact.Worst, r.Exact.Row, r.Exact.Col)}
			om := Verdict{Applies: r.Checkable, Holds: !r.Mean.Rejected, Worst: r.Mean.WorstRatio,
				Detail: fmt.Sprintf("mean of %d sketches off by %.3g thresholds (z = %.3g)", r.Mean.Sketches, r.Mean.WorstRatio, r.Mean.WorstZ)}
			ctrlExact[r.Name].add(c, oe)
			ctrlMean[r.Name].add(c, om)
		}
	}
	if rep.CRuleStudy.Cases > 0 {
		rep.CRuleStudy.AgreeFraction = float64(rep.CRuleStudy.Agree) / float64(rep.CRuleStudy.Cases)
	}
	if d := rep.CRuleStudy.Cases - rep.CRuleStudy.Agree; d > 0 {
		rep.CRuleStudy.MeanLossCRS = lossCRS / float64(d)
	}
	if len(losses) > 0 {
		rep.CRuleStudy.MedianLoss = median(losses)
	}
	for _, t := range []*tally{exact, mean, eq3, eq3mc, cf, cond, bound, rule, best, linExact, linMC, stratExact, stratMean, stratCF} {
		rep.Findings = append(rep.Findings, t.finish())
	}
	for _, n := range ctrlNames {
		rep.Findings = append(rep.Findings, ctrlExact[n].finish(), ctrlMean[n].finish())
	}
	rep.Findings = append(rep.Findings, stratCtrlExact.finish(), stratCtrlMean.finish())
	return rep, nil
}

// WriteTable prints the findings table and the |C| answer as plain text.
func (r *Report) WriteTable(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-100s %-12s %6s %7s %10s %6s\n", "claim", "verdict", "cases", "applied", "worst", "cex")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-100s %-12s %6d %7d %10s %6d\n", f.Claim, f.Verdict, f.Cases, f.Applied, f.Worst, f.Counterexamples)
	}
	fmt.Fprintln(&b)
	b.WriteString(r.cRuleText())
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Report) cRuleText() string {
	c := r.CRuleStudy
	return fmt.Sprintf("The |C| that minimises Theorem 2's bound also minimises the true variance in %d of %d cases with k ≥ 2 (%.1f%%).\n"+
		"Of the %d disagreements, %d are cases where another |C| makes WTA-CRS exact; in the others the rule's variance\n"+
		"is %.3g%% above the best (median). The variance lost is on average %.3g%% of Var[CRS] (worst %.3g%%).\n",
		c.Agree, c.Cases, 100*c.AgreeFraction, c.Cases-c.Agree, c.ExactBest, 100*c.MedianLoss, 100*c.MeanLossCRS, 100*c.WorstLossCRS)
}

// Markdown returns the report as a Markdown document.
func (r *Report) Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Findings: the paper's claims checked by package theory\n\n")
	fmt.Fprintf(&b, "Generated by `wtacrs verify`: %d cases, %d sketches per plan and case, seed %d, "+
		"false refutation probability at most %.3g per statistical claim.\n\n",
		r.Config.Cases, r.Config.Sketches, r.Config.Seed, r.Config.Alpha)
	b.WriteString("| claim | verdict | cases | applied | statistic | worst | counterexamples |\n")
	b.WriteString("|---|---|---:|---:|---|---:|---:|\n")
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %s | %s | %d |\n", mdEscape(f.Claim), f.Verdict, f.Cases, f.Applied,
			mdEscape(f.Statistic), f.Worst, f.Counterexamples)
	}
	b.WriteString("\nFor a negative control, \"counterexamples\" counts the cases on which the checker rejected it.\n\n")
	b.WriteString("## First counterexample of each row\n\n")
	for _, f := range r.Findings {
		if f.Example != "" {
			fmt.Fprintf(&b, "- **%s**: %s\n", mdEscape(f.Claim), mdEscape(f.Example))
		}
	}
	b.WriteString("\n## Does the |C| rule minimise the true variance?\n\n")
	b.WriteString(r.cRuleText())
	b.WriteString("\n| family | cases (k ≥ 2) | rule's \\|C\\| is best |\n|---|---:|---:|\n")
	families := make([]string, 0, len(r.CRuleStudy.ByFamily))
	for k := range r.CRuleStudy.ByFamily {
		families = append(families, k)
	}
	slices.Sort(families)
	for _, k := range families {
		v := r.CRuleStudy.ByFamily[k]
		fmt.Fprintf(&b, "| %s | %d | %d |\n", k, v[0], v[1])
	}
	if r.CRuleStudy.WorstCase != "" {
		fmt.Fprintf(&b, "\nWorst case: %s\n", mdEscape(r.CRuleStudy.WorstCase))
	}
	return b.Bytes()
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteFiles writes dir/findings.json and dir/findings.md, each atomically (a temporary file in
// dir renamed over the target), creating dir when needed.
func (r *Report) WriteFiles(dir string) error {
	js, err := r.JSON()
	if err != nil {
		return fmt.Errorf("theory: encoding findings: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("theory: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, "findings.json"), js); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, "findings.md"), r.Markdown())
}

func writeAtomic(path string, data []byte) error {
	if err := atomicfile.WriteFile(path, data); err != nil {
		return fmt.Errorf("theory: %w", err)
	}
	return nil
}
