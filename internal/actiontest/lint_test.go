package actiontest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	yaml "go.yaml.in/yaml/v4"

	"github.com/vmtest/vmtest/internal/testutils"
)

// newLinter is actionlint as `go tool actionlint` runs it, with
// shellcheck on every run: block when it is installed (make deps installs
// it; without it the scripts' own shellcheck test skips too).
func newLinter(t *testing.T) *actionlint.Linter {
	t.Helper()
	opts := &actionlint.LinterOptions{WorkingDir: repoRoot(t), LogWriter: io.Discard}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = sc
	} else if testutils.Required() {
		t.Fatalf("shellcheck not installed (on Debian: apt-get install shellcheck) and %s=1", testutils.EnvRequire)
	} else {
		t.Log("shellcheck not installed: run: blocks are not shellchecked")
	}
	l, err := actionlint.NewLinter(io.Discard, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func reportLint(t *testing.T, errs []*actionlint.Error, src map[string][]byte) {
	t.Helper()
	for _, e := range errs {
		var b bytes.Buffer
		e.PrettyPrint(&b, src[e.Filepath])
		t.Error(b.String())
	}
}

// TestActionlintWorkflows lints the repository's workflow and the
// examples. For `uses: ./` actionlint also reads action.yml and checks the
// step's with: keys against its inputs.
func TestActionlintWorkflows(t *testing.T) {
	files := workflowFiles(t)
	errs, err := newLinter(t).LintFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	src := map[string][]byte{}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		src[f] = b
		rel, _ := filepath.Rel(repoRoot(t), f)
		src[rel] = b
	}
	reportLint(t, errs, src)
}

// actionAsWorkflow turns action.yml's composite steps into a reusable
// workflow whose workflow_call inputs are the action's inputs, so that
// actionlint, which lints workflows and not action metadata, checks the
// steps: every inputs.X and steps.ID it names, the popular actions' with:
// keys, the if: expressions, and shellcheck on the run: blocks.
func actionAsWorkflow(t *testing.T, action *yaml.Node) []byte {
	t.Helper()
	inputs := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range keys(get(action, "inputs")) {
		inputs.Content = append(inputs.Content,
			scalar(name), mapping("type", "string", "required", "false"))
	}
	steps := get(get(action, "runs"), "steps")
	if steps == nil {
		t.Fatal("action.yml: no runs.steps")
	}
	job := mapping("runs-on", "ubuntu-latest")
	job.Content = append(job.Content, scalar("steps"), steps)
	wf := mapping("name", "action.yml as a workflow")
	on := &yaml.Node{Kind: yaml.MappingNode}
	call := &yaml.Node{Kind: yaml.MappingNode}
	call.Content = append(call.Content, scalar("inputs"), inputs)
	on.Content = append(on.Content, scalar("workflow_call"), call)
	jobs := &yaml.Node{Kind: yaml.MappingNode}
	jobs.Content = append(jobs.Content, scalar("action"), job)
	wf.Content = append(wf.Content, scalar("on"), on, scalar("jobs"), jobs)
	b, err := yaml.Marshal(wf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

func mapping(kv ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, s := range kv {
		n.Content = append(n.Content, scalar(s))
	}
	return n
}

// TestActionlintActionSteps lints action.yml's steps as a workflow.
func TestActionlintActionSteps(t *testing.T) {
	action := readYAML(t, filepath.Join(repoRoot(t), "action.yml"))
	wf := actionAsWorkflow(t, action)
	const name = "action.yml (its steps as a workflow)"
	errs, err := newLinter(t).Lint(name, wf, nil)
	if err != nil {
		t.Fatal(err)
	}
	reportLint(t, errs, map[string][]byte{name: wf})
}

// TestActionlintCatchesMistakes makes sure the linting above can fail:
// each broken copy of action.yml must give actionlint's error.
func TestActionlintCatchesMistakes(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"undeclared input", "${{ inputs.reuse-base }}", "${{ inputs.reuse-bass }}", `property "reuse-bass" is not defined`},
		{"unknown step", "${{ steps.install.outputs.bin }}", "${{ steps.instal.outputs.bin }}", `property "instal" is not defined`},
		{"bad with: key", "if-no-files-found: warn", "if-no-file-found: warn", `input "if-no-file-found" is not defined`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(b, []byte(tc.old)) {
				t.Fatalf("action.yml no longer contains %q; update the test", tc.old)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(bytes.Replace(b, []byte(tc.old), []byte(tc.new), 1), &doc); err != nil {
				t.Fatal(err)
			}
			errs, err := newLinter(t).Lint("broken.yml", actionAsWorkflow(t, doc.Content[0]), nil)
			if err != nil {
				t.Fatal(err)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Message)
			}
			if !strings.Contains(strings.Join(msgs, "\n"), tc.want) {
				t.Errorf("actionlint said %q, want an error containing %q", msgs, tc.want)
			}
		})
	}
}
