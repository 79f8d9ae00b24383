package fisens

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// GroupFunc assigns a trainable variable to a perturbation group (returns its name), or excludes
// it (returns ""). Groups are ordered by the creation order of their first variable.
type GroupFunc func(v *model.Variable) string

// ByScope groups the trainable variables by scope: one group per layer (the default).
func ByScope(v *model.Variable) string { return v.Scope() }

// ByVariable makes every trainable variable its own group.
func ByVariable(v *model.Variable) string { return v.Path() }

// ParamOptions select the parameter perturbations of ParamFI.
type ParamOptions struct {
	Options
	Form  Form      // Additive (default) or Scaling (invariance makes them agree where θ ≠ 0)
	Group GroupFunc // how variables form groups; nil → ByScope (one group per layer)
	// Only restricts the computation to these group names (nil: all groups). An unknown name is
	// an error that lists the known ones.
	Only []string
	// WithInput also perturbs the whole input together with all selected parameters (Joint).
	WithInput bool
}

// ParamResult is one example's FI for parameter perturbations.
type ParamResult struct {
	Groups   []Layer  // the perturbed groups (layers), in creation order
	PerGroup []Result // FI of perturbing each group alone
	All      Result   // FI of perturbing all the groups together
	Joint    *Result  // FI of perturbing the input and all the groups together (WithInput)
	Input    *Result  // FI of the input alone (WithInput)

	// What the results were computed from, for WithOptions: the groups' K × K Grams (then the
	// input's), the logits and the label.
	grams []float64
	z     []float64
	y     int
}

// Logits returns the example's logits (a copy), as the graph that computed the result saw them.
func (r *ParamResult) Logits() []float64 { return append([]float64(nil), r.z...) }

// WithOptions returns the same example's results under other Options (the authors' convention,
// another rank cut, another objective) from the K × K Grams this result was computed from: no
// further backward pass. The perturbations (groups, form, input) stay those of the original call.
func (r *ParamResult) WithOptions(o Options) (*ParamResult, error) {
	if r == nil || r.grams == nil {
		return nil, fmt.Errorf("fisens: WithOptions needs a result of ParamFI or ParamFIBatch")
	}
	if o.Objective.Label == TrueLabel && r.y < 0 {
		return nil, fmt.Errorf("fisens: objective %q needs the true label (the original call had none)", o.Objective)
	}
	K := len(r.z)
	withInput := len(r.grams) > len(r.Groups)*K*K
	return paramResultFromGrams(r.Groups, r.grams, r.z, r.y, ParamOptions{Options: o, WithInput: withInput})
}

// paramExec is a compiled per-example parameter-Gram graph for one grouping.
type paramExec struct {
	exec     *model.Exec
	groups   []Layer
	untapped bool // batched graph only: a selected variable is not covered by an ops.Tap
	// groupVars (batched graph only): for each group, the indices of its variables' gradient outputs.
	groupVars [][]int
	// gramsInGraph (batched graph only): the graph returns the Grams [N, groups(+1), K, K] (float64)
	// instead of the per-example gradients.
	gramsInGraph bool
	// varGram (batched graph only): per variable output, whether it is already the Gram [N, K, K]
	// (float64, from ghostGram) instead of the per-example gradients [N, K, ...].
	varGram []bool
	// full (batched graph only): the largest batch size run so far; smaller chunks are padded to it
	// (repeating their last example), since every new size compiles the graph again (XLA: seconds).
	full int
}

// Layers lists the trainable variable groups of the classifier (by default one per scope) with
// their kinds and sizes. The model's variables must exist (loaded or initialised): call Logits
// once on an uninitialised model.
func (a *Analyzer) Layers(group GroupFunc) ([]Layer, error) {
	if group == nil {
		group = ByScope
	}
	var layers []Layer
	index := map[string]int{}
	for v := range a.clf.Store().IterVariables() {
		if !v.Trainable {
			continue
		}
		name := group(v)
		if name == "" {
			continue
		}
		i, ok := index[name]
		if !ok {
			i = len(layers)
			index[name] = i
			layers = append(layers, Layer{Index: i, Name: name, Kind: LayerKind(name)})
		}
		layers[i].Vars = append(layers[i].Vars, v.Path())
		layers[i].Params += v.Shape().Size()
	}
	if len(layers) == 0 {
		return nil, fmt.Errorf("fisens: the classifier has no trainable variables yet (build it once, e.g. with Logits, or load a checkpoint)")
	}
	return layers, nil
}

func selectGroups(all []Layer, only []string) ([]Layer, error) {
	if only == nil {
		return all, nil
	}
	byName := map[string]Layer{}
	for _, l := range all {
		byName[l.Name] = l
	}
	var out []Layer
	for _, name := range only {
		l, ok := byName[name]
		if !ok {
			known := make([]string, 0, len(all))
			for _, l := range all {
				known = append(known, l.Name)
			}
			sort.Strings(known)
			return nil, fmt.Errorf("fisens: unknown layer %q (known: %s)", name, strings.Join(known, ", "))
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	for i := range out {
		out[i].Index = i
	}
	return out, nil
}

// ParamFI computes FI for perturbing the classifier's parameters at one example x (shape
// [1, ...]): each group alone, all groups together, and optionally together with the input.
// It costs K backward passes; all the groups' K × K Gram matrices come from them.
func (a *Analyzer) ParamFI(b Batch, opt ParamOptions) (*ParamResult, error) {
	K := a.clf.NumClasses()
	if err := b.Validate(K); err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	if b.N() != 1 {
		return nil, fmt.Errorf("fisens: ParamFI takes one example at a time (ParamFIBatch takes a batch), got %d", b.N())
	}
	if opt.Objective.Label == TrueLabel && b.Labels == nil {
		return nil, fmt.Errorf("fisens: objective %q needs the true label (Batch.Labels is nil)", opt.Objective)
	}
	pe, err := a.paramExecFor(b, opt, false)
	if err != nil {
		return nil, err
	}
	out, err := call(pe.exec, tensors.FromFlatDataAndDimensions(b.X, b.Shape...))
	if err != nil {
		return nil, err
	}
	z32 := flat32(out[0])
	z := make([]float64, K)
	for k := range z {
		z[k] = float64(z32[k])
	}
	grams := flat64(out[1]) // [G(+1 input), K, K]
	res, err := paramResultFromGrams(pe.groups, grams, z, b.label(0), opt)
	if err != nil {
		return nil, fmt.Errorf("fisens: %w", err)
	}
	return res, nil
}

func (a *Analyzer) paramExecFor(b Batch, opt ParamOptions, batched bool) (*paramExec, error) {
	group := opt.Group
	if group == nil {
		group = ByScope
	}
	if a.clf.Store().NumVariables() == 0 {
		// Create the variables with one forward pass so the groups can be listed.
		if _, err := a.Logits(b); err != nil {
			return nil, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkOpen(); err != nil {
		return nil, err
	}
	all, err := a.Layers(group)
	if err != nil {
		return nil, err
	}
	groups, err := selectGroups(all, opt.Only)
	if err != nil {
		return nil, err
	}
	// One graph per (grouping function identity is not comparable: key on the groups) + form + input.
	key := paramKey(opt, groups, batched)
	if pe, ok := a.paramExec[key]; ok {
		return pe, nil
	}
	if batched {
		pe := &paramExec{groups: groups, gramsInGraph: gramsInGraph(a.backend)}
		e, err := model.NewExec(a.backend, a.clf.Store(), a.batchedParamGraph(pe, opt.Form, opt.WithInput))
		if err != nil {
			return nil, err
		}
		pe.exec = e
		a.paramExec[key] = pe
		return pe, nil
	}
	K := a.clf.NumClasses()
	form, withInput := opt.Form, opt.WithInput
	e, err := model.NewExec(a.backend, a.clf.Store(), func(scope *model.Scope, x *graph.Node) (*graph.Node, *graph.Node) {
		logits := a.clf.Logits(scope, x)
		g := x.Graph()
		store := scope.Store()
		var wrt []*graph.Node
		var values []*graph.Node
		varIndex := map[string]int{}
		for _, l := range groups {
			for _, path := range l.Vars {
				v := store.GetVariable(path)
				if v == nil || !v.InUseByGraph(g) {
					panic(fmt.Sprintf("variable %q is not used by the model's graph", path))
				}
				varIndex[path] = len(wrt)
				node := v.NodeValue(g)
				wrt = append(wrt, node)
				values = append(values, node)
			}
		}
		if withInput {
			wrt = append(wrt, x)
		}
		// grads[k][i] = ∂z_k/∂wrt_i.
		grads := make([][]*graph.Node, K)
		for k := 0; k < K; k++ {
			s := graph.ReduceAllSum(graph.Mul(logits, classMask(g, logits.DType(), K, k)))
			grads[k] = graph.Gradient(s, wrt...)
		}
		// rows returns [K, p_i] float64 for variable i in the chosen form.
		rows := func(i int, scale bool) *graph.Node {
			r := make([]*graph.Node, K)
			for k := 0; k < K; k++ {
				gk := grads[k][i]
				if scale {
					gk = graph.Mul(gk, values[i])
				}
				r[k] = graph.Reshape(graph.ConvertDType(gk, dtypes.Float64), -1)
			}
			return graph.Stack(r, 0)
		}
		gram := func(m *graph.Node) *graph.Node { return graph.Einsum("kp,jp->kj", m, m) }
		var grams []*graph.Node
		for _, l := range groups {
			var M *graph.Node
			for _, path := range l.Vars {
				Mi := gram(rows(varIndex[path], form == Scaling))
				if M == nil {
					M = Mi
				} else {
					M = graph.Add(M, Mi)
				}
			}
			grams = append(grams, M)
		}
		if withInput {
			// The input is perturbed additively here (the joint perturbation of Shu & Zhu).
			grams = append(grams, gram(rows(len(wrt)-1, false)))
		}
		return logits, graph.Stack(grams, 0)
	})
	if err != nil {
		return nil, err
	}
	pe := &paramExec{exec: e, groups: groups}
	a.paramExec[key] = pe
	return pe, nil
}
