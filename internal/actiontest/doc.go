// Package actiontest tests the repository's GitHub Action (action.yml, the
// scripts it runs under .github/action/) and its workflows: actionlint on
// every workflow and on the action's own steps, checks that the metadata
// declares what its steps and the workflows use, and each step's script run
// against a fake runner (temporary GITHUB_OUTPUT and GITHUB_STEP_SUMMARY
// files, stand-ins for vmtest, apt-get and go). The package has no code of
// its own: Go does not look into .github, so the tests live here.
package actiontest
