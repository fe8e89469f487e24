//go:build tools

// Package tools only exists so that `go mod tidy` keeps the commands that
// build.sh builds (and all of their dependencies) in go.mod / go.sum.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
