// Package stats holds the small, pure-Go statistics the experiments report: ROC and
// precision–recall curves with their areas, quantiles, rank and linear correlation, mean and
// standard deviation. It has no plotting and imports nothing else of this module.
//
// # ROC and AUC
//
// Scores are "higher means more likely positive". Sorting by decreasing score and lowering a
// threshold t through every distinct score value gives the curve points
//
//	FPR(t) = #{negatives with score ≥ t} / N,   TPR(t) = #{positives with score ≥ t} / P,
//
// starting at (0, 0) and ending at (1, 1). Tied scores enter together, so a tie between a
// positive and a negative is one diagonal segment, never a staircase whose shape depends on the
// input order. The area under that curve by the trapezoid rule equals the Mann–Whitney
// probability
//
//	AUC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)
//
// over all positive/negative pairs.
//
// # Precision–recall and average precision
//
// At the same thresholds, recall = TP/P and precision = TP/(TP+FP). The curve returned starts at
// (recall 0, precision 1). The summary number is the average precision of scikit-learn
// (average_precision_score), a step-wise sum without interpolation:
//
//	AP = Σ_k (R_k − R_{k−1}) · P_k
//
// over the distinct thresholds k in decreasing order (R_0 = 0). This is the number the figures
// package prints as "AP" in PR legends; it is not the trapezoidal area under the PR curve, which
// is optimistic for PR curves.
//
// # Quantiles
//
// Quantile uses linear interpolation between order statistics ("type 7" of Hyndman & Fan, the
// default of numpy.quantile and R's quantile): with x sorted and h = (n−1)·q,
//
//	Q(q) = x[⌊h⌋] + (h − ⌊h⌋)·(x[⌊h⌋+1] − x[⌊h⌋]).
//
// # Errors
//
// Every function returns an error, never panics, for empty input, mismatched lengths, a NaN
// anywhere in the data, an out-of-range quantile level, a ROC/PR problem with no positive or no
// negative example, and a correlation of a constant sample (undefined). ±Inf scores are allowed in
// ROC and PR (they only order); they are rejected where arithmetic needs finite numbers.
package stats
