package stats

import (
	"fmt"
	"math"
	"sort"
)

// counts holds the cumulative true and false positives after each distinct score threshold.
type counts struct {
	tp, fp []float64 // cumulative, one entry per distinct score, in decreasing score order
	p, n   float64   // total positives and negatives
}

// cumulate validates a scored binary problem and accumulates it over distinct thresholds.
func cumulate(fn string, scores []float64, positive []bool) (counts, error) {
	var c counts
	if len(scores) == 0 {
		return c, fmt.Errorf("stats.%s: scores is empty, want at least one positive and one negative example", fn)
	}
	if len(positive) != len(scores) {
		return c, fmt.Errorf("stats.%s: len(positive) = %d, want len(scores) = %d", fn, len(positive), len(scores))
	}
	for i, s := range scores {
		if math.IsNaN(s) {
			return c, fmt.Errorf("stats.%s: scores[%d] is NaN, want a number (±Inf is allowed)", fn, i)
		}
		if positive[i] {
			c.p++
		} else {
			c.n++
		}
	}
	if c.p == 0 {
		return c, fmt.Errorf("stats.%s: positive has no true entry, want at least one positive example", fn)
	}
	if c.n == 0 {
		return c, fmt.Errorf("stats.%s: positive has no false entry, want at least one negative example", fn)
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	var tp, fp float64
	for k, i := range idx {
		if positive[i] {
			tp++
		} else {
			fp++
		}
		// Close a threshold group only after the last of a run of tied scores.
		if k+1 < len(idx) && scores[idx[k+1]] == scores[i] {
			continue
		}
		c.tp = append(c.tp, tp)
		c.fp = append(c.fp, fp)
	}
	return c, nil
}

// ROC returns the receiver operating characteristic of scores (higher = more likely positive)
// against the labels positive, and the area under it (trapezoid rule = Mann–Whitney probability,
// ties counting ½). fpr and tpr start at (0, 0), end at (1, 1) and have one point per distinct
// score in between.
func ROC(scores []float64, positive []bool) (fpr, tpr []float64, auc float64, err error) {
	c, err := cumulate("ROC", scores, positive)
	if err != nil {
		return nil, nil, 0, err
	}
	fpr = make([]float64, 0, len(c.tp)+1)
	tpr = make([]float64, 0, len(c.tp)+1)
	fpr = append(fpr, 0)
	tpr = append(tpr, 0)
	for k := range c.tp {
		fpr = append(fpr, c.fp[k]/c.n)
		tpr = append(tpr, c.tp[k]/c.p)
	}
	for k := 1; k < len(fpr); k++ {
		auc += (fpr[k] - fpr[k-1]) * (tpr[k] + tpr[k-1]) / 2
	}
	return fpr, tpr, auc, nil
}

// PR returns the precision–recall curve of scores against the labels positive and its average
// precision AP = Σ_k (R_k − R_{k−1})·P_k (scikit-learn's definition, no interpolation). recall and
// precision start at (0, 1) and have one point per distinct score after it.
func PR(scores []float64, positive []bool) (recall, precision []float64, ap float64, err error) {
	c, err := cumulate("PR", scores, positive)
	if err != nil {
		return nil, nil, 0, err
	}
	recall = make([]float64, 0, len(c.tp)+1)
	precision = make([]float64, 0, len(c.tp)+1)
	recall = append(recall, 0)
	precision = append(precision, 1)
	for k := range c.tp {
		r := c.tp[k] / c.p
		p := c.tp[k] / (c.tp[k] + c.fp[k])
		ap += (r - recall[len(recall)-1]) * p
		recall = append(recall, r)
		precision = append(precision, p)
	}
	return recall, precision, ap, nil
}

// PositiveRate returns the fraction of true entries in positive: the precision of a random
// classifier, i.e. the baseline of a PR curve. It is an error if positive is empty.
func PositiveRate(positive []bool) (float64, error) {
	if len(positive) == 0 {
		return 0, fmt.Errorf("stats.PositiveRate: positive is empty, want at least one label")
	}
	n := 0
	for _, p := range positive {
		if p {
			n++
		}
	}
	return float64(n) / float64(len(positive)), nil
}
