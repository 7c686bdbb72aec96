package actiontest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v4"
)

// exprRef finds context references inside ${{ }} expressions: inputs.X,
// steps.ID.
var (
	exprRe   = regexp.MustCompile(`\$\{\{(.*?)\}\}`)
	inputRe  = regexp.MustCompile(`\binputs\.([A-Za-z_][A-Za-z0-9_-]*)`)
	stepRe   = regexp.MustCompile(`\bsteps\.([A-Za-z_][A-Za-z0-9_-]*)`)
	scriptRe = regexp.MustCompile(`\$GITHUB_ACTION_PATH/(\S+?\.sh)`)
)

// refs returns the names re captures inside the expressions of every
// scalar under n; bare if: conditions are expressions without ${{ }}.
func refs(n *yaml.Node, re *regexp.Regexp) map[string]bool {
	found := map[string]bool{}
	var walk func(n *yaml.Node, isIf bool)
	walk = func(n *yaml.Node, isIf bool) {
		if n.Kind == yaml.ScalarNode {
			exprs := []string{n.Value}
			if !isIf {
				exprs = nil
				for _, m := range exprRe.FindAllStringSubmatch(n.Value, -1) {
					exprs = append(exprs, m[1])
				}
			}
			for _, e := range exprs {
				for _, m := range re.FindAllStringSubmatch(e, -1) {
					found[m[1]] = true
				}
			}
			return
		}
		for i, c := range n.Content {
			walk(c, n.Kind == yaml.MappingNode && i%2 == 1 && n.Content[i-1].Value == "if")
		}
	}
	walk(n, false)
	return found
}

// The inputs and outputs the workflows and the documentation rely on.
var (
	wantInputs  = []string{"command", "kernel", "base", "args", "version", "cache-key", "upload-name", "fail"}
	wantOutputs = []string{"result-dir", "exit-code", "verdict"}
	commands    = []string{"run", "compare", "merge", "build"}
)

func TestActionMetadata(t *testing.T) {
	root := repoRoot(t)
	action := readYAML(t, filepath.Join(root, "action.yml"))
	for _, k := range []string{"name", "description"} {
		if n := get(action, k); n == nil || n.Value == "" {
			t.Errorf("action.yml: no %s", k)
		}
	}
	runs := get(action, "runs")
	if u := get(runs, "using"); u == nil || u.Value != "composite" {
		t.Fatalf("action.yml: runs.using is not composite")
	}
	inputs, outputs := get(action, "inputs"), get(action, "outputs")
	for _, name := range wantInputs {
		in := get(inputs, name)
		if in == nil {
			t.Errorf("action.yml: no input %q", name)
			continue
		}
		if d := get(in, "description"); d == nil || d.Value == "" {
			t.Errorf("action.yml: input %q has no description", name)
		}
	}
	for _, name := range wantOutputs {
		out := get(outputs, name)
		if out == nil || get(out, "value") == nil || get(out, "description") == nil {
			t.Errorf("action.yml: output %q missing, or without value or description", name)
		}
	}

	declared := keys(inputs)
	used := refs(runs, inputRe)
	for _, o := range keys(outputs) {
		for name := range refs(get(outputs, o), inputRe) {
			used[name] = true
		}
	}
	for name := range used {
		if !slices.Contains(declared, name) {
			t.Errorf("action.yml: ${{ inputs.%s }} is used but not declared under inputs", name)
		}
	}
	for _, name := range declared {
		if !used[name] {
			t.Errorf("action.yml: input %q is declared but no step uses it", name)
		}
	}

	ids := map[string]bool{}
	steps := get(runs, "steps")
	for _, s := range steps.Content {
		if id := get(s, "id"); id != nil {
			ids[id.Value] = true
		}
		if run := get(s, "run"); run != nil {
			if get(s, "shell") == nil {
				t.Errorf("action.yml:%d: a composite run: step needs shell:", s.Line)
			}
			for _, m := range scriptRe.FindAllStringSubmatch(run.Value, -1) {
				st, err := os.Stat(filepath.Join(root, m[1]))
				if err != nil {
					t.Errorf("action.yml:%d: runs %s: %v", s.Line, m[1], err)
				} else if st.Mode()&0o111 == 0 {
					t.Errorf("action.yml:%d: %s is not executable", s.Line, m[1])
				}
			}
		}
	}
	for _, n := range []*yaml.Node{runs, outputs} {
		for id := range refs(n, stepRe) {
			if !ids[id] {
				t.Errorf("action.yml: steps.%s is referenced but no step has id %q", id, id)
			}
		}
	}
}

// vmtestSteps returns the steps of every job in a workflow that use this
// action, locally (./) or from GitHub (vmtest/vmtest@REF), by job name.
func vmtestSteps(wf *yaml.Node) map[string][]*yaml.Node {
	found := map[string][]*yaml.Node{}
	jobs := get(wf, "jobs")
	for _, job := range keys(jobs) {
		for _, s := range get(get(jobs, job), "steps").Content {
			u := get(s, "uses")
			if u != nil && (u.Value == "./" || strings.HasPrefix(u.Value, "vmtest/vmtest@")) {
				found[job] = append(found[job], s)
			}
		}
	}
	return found
}

// TestWorkflowsUseDeclaredInputs checks the with: keys and the command of
// every step using the action, which actionlint cannot do for a remote
// action (the example's vmtest/vmtest@main).
func TestWorkflowsUseDeclaredInputs(t *testing.T) {
	declared := keys(get(readYAML(t, filepath.Join(repoRoot(t), "action.yml")), "inputs"))
	for _, f := range workflowFiles(t) {
		steps := vmtestSteps(readYAML(t, f))
		if len(steps) == 0 {
			t.Errorf("%s: no step uses the action", f)
		}
		for job, ss := range steps {
			for _, s := range ss {
				with := get(s, "with")
				for _, k := range keys(with) {
					if !slices.Contains(declared, k) {
						t.Errorf("%s:%d: job %s: with: %s is not an input of action.yml", f, s.Line, job, k)
					}
				}
				if c := get(with, "command"); c != nil && !slices.Contains(commands, c.Value) {
					t.Errorf("%s:%d: job %s: command %q: want one of %v", f, s.Line, job, c.Value, commands)
				}
			}
		}
	}
}

// TestWorkflowsShardAndMerge checks the layout every workflow shows: a
// job of four shards, each running --shard K/4 and uploading its own
// artifact, and a merge job that needs it, runs when shards failed, and
// merges the downloaded directories.
func TestWorkflowsShardAndMerge(t *testing.T) {
	for _, f := range workflowFiles(t) {
		wf := readYAML(t, f)
		jobs := get(wf, "jobs")
		steps := vmtestSteps(wf)
		shardJob, mergeJob := "", ""
		for job, ss := range steps {
			for _, s := range ss {
				with := get(s, "with")
				args := get(with, "args")
				switch {
				case args != nil && strings.Contains(args.Value, "--shard ${{ matrix.shard }}/4"):
					shardJob = job
					if up := get(with, "upload-name"); up == nil || !strings.Contains(up.Value, "${{ matrix.shard }}") {
						t.Errorf("%s: job %s: upload-name must name the shard (artifact names are unique in a run)", f, job)
					}
				case get(with, "command") != nil && get(with, "command").Value == "merge":
					mergeJob = job
				}
			}
		}
		if shardJob == "" || mergeJob == "" {
			t.Errorf("%s: want a job running --shard ${{ matrix.shard }}/4 and a merge job; found %q and %q", f, shardJob, mergeJob)
			continue
		}
		if n := len(get(get(get(get(jobs, shardJob), "strategy"), "matrix"), "shard").Content); n != 4 {
			t.Errorf("%s: job %s: %d shards in the matrix, want 4", f, shardJob, n)
		}
		merge := get(jobs, mergeJob)
		if needs := get(merge, "needs"); needs == nil || !(needs.Value == shardJob || slices.ContainsFunc(needs.Content, func(n *yaml.Node) bool { return n.Value == shardJob })) {
			t.Errorf("%s: job %s does not need %s", f, mergeJob, shardJob)
		}
		if cond := get(merge, "if"); cond == nil || !strings.Contains(cond.Value, "!cancelled()") {
			t.Errorf("%s: job %s must run when a shard failed (if: !cancelled())", f, mergeJob)
		}
	}
}
