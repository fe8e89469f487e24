//go:build tools

// Package tools only exists so that `go mod tidy` keeps the helm command that
// build.sh builds, and all of its dependencies, in go.mod / go.sum.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
