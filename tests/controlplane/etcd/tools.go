//go:build tools

// Package tools only exists so that `go mod tidy` keeps the etcd command that
// build.sh builds (go.etcd.io/etcd/server/v3 is itself package main) and all
// of its dependencies in go.mod / go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
)
